//! Data out: NPY/CSV table writers, outputs checked before any work and staged in temporary
//! files that are moved into place only on success, and the SPEC.json mixture targets.

pub mod spec;
pub mod staged;
pub mod table;

pub use spec::Spec;
pub use staged::{Staged, StagedDir};
pub use table::{TableWriter, check_output, write};
