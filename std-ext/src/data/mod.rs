//! Data in: the tables a command reads (NPY and CSV, checked value by value), the standard 2-D
//! toy sets, held-out splits and the standardisation of user data.
//!
//! Writing tables is [`crate::io`]'s; this stage only reads and prepares data.

pub mod readers;
pub mod table;
pub mod toy;
pub mod user;

pub use readers::{MAX_DATA_MAGNITUDE, read};
pub use table::{Format, Table};
pub use toy::{Floor, ToySet, entropy_floor};
pub use user::{DataError, MAX_USER_DIM, Split, Standardize, read_points, split};
