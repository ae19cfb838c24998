//! # flowscore-std
//!
//! flowscore on `std`: the `flowscore` command line (`demo`, `sample`, `loglik`), NPY/CSV
//! tables with atomic writes, SPEC.json Gaussian-mixture targets, and PNG figures.
//!
//! Runtime dimensions D = 1…8 are dispatched to const-generic model code ([`dispatch_dim!`]).
//!
//! ## Errors
//! Every fallible function returns an error value; nothing here panics on user input. The
//! command line turns any error into one line `error: …` on stderr and exit status 2, after
//! having written nothing.
// `unsafe` is allowed only in `backend::cuda` (kernel launches and the host-kernel calls).
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod backend;
pub mod cli;
pub mod core_run;
pub mod demo;
pub mod output;
pub mod plot;
pub mod run;
pub mod sde_kind;
pub mod spec;
pub mod standard;
pub mod table;
pub mod train;
