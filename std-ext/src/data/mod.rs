//! Data in: the tables a command reads (NPY and CSV, checked value by value), the standard 2-D
//! toy sets, held-out splits and the standardisation of user data.
//!
//! Writing tables is [`crate::io`]'s; this stage only reads and prepares data.

pub mod readers;
pub mod table;

pub use readers::{MAX_DATA_MAGNITUDE, read};
pub use table::{Format, Table};
