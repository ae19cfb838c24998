//! # flowscore-std
//!
//! flowscore on `std`: the `flowscore` command line (`demo`, `sample`, `loglik`), NPY/CSV
//! tables with atomic writes, SPEC.json Gaussian-mixture targets, the standard 2-D data sets,
//! and PNG figures.
//!
//! ## Layout: one module per stage, arrows only downwards
//! ```text
//! cli        argument parsing (clap), one file per subcommand, exit codes, safe printing
//!  └─ demo   the main job: orchestration, metrics, the summary table, the figures
//!      └─ jobs      validated jobs built from the arguments (outputs checked before any work),
//!                   and their work on the core (Gaussian-mixture sampling and likelihoods)
//!          ├─ train the trainer: minibatches, Adam/EMA, checkpoints and resume
//!          ├─ backend  batch gradients: `cpu` (rayon, deterministic reduction)
//!          ├─ par   the parallel batch driver (rayon, results in index order)
//!          ├─ simd  run-time CPU dispatch of a batch's lanes (baseline or AVX2, same bits)
//!          ├─ data  the standard 2-D sets, NPY/CSV readers, held-out splits, standardisation
//!          ├─ io    NPY/CSV writers, staged outputs moved into place on success, SPEC.json
//!          └─ plot  PNG figures
//!              └─ flowscore (core)
//! ```
//! [`text`] (how numbers and errors are shown in messages) and [`sde_kind`] (the built-in SDEs
//! behind one runtime choice) are shared by every stage.
//!
//! ## Cargo features
//! - `cli` (default): the command line ([`cli`], clap) and progress bars (indicatif); implies
//!   `plot`. The `flowscore` binary requires it.
//! - `plot` (default): PNG figures ([`plot`], plotters) and the demo ([`demo`]).
//! - `simd-dispatch` (default): batches run on AVX2 lanes where the CPU has them ([`simd`]),
//!   with the same bits as on the baseline.
//!
//! With `default-features = false` the crate is a library of jobs, data, I/O and the parallel
//! driver, without clap, indicatif or plotters.
//!
//! Runtime dimensions D = 1…8 are dispatched to const-generic model code ([`dispatch_dim!`]).
//!
//! ## Errors
//! Every fallible function returns an error value; nothing here panics on user input. The
//! command line turns any error into one line `error: …` on stderr and exit status 2, after
//! having written nothing.
// `unsafe` is allowed only in `backend::cuda` (kernel launches and the host-kernel calls) and in
// `simd`: its call of the AVX2 function and the AVX2 lanes' intrinsics, which run only after the
// CPU was found to have AVX2.
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod backend;
#[cfg(feature = "cli")]
pub mod cli;
pub mod data;
#[cfg(feature = "plot")]
pub mod demo;
pub mod io;
pub mod jobs;
pub mod par;
#[cfg(feature = "plot")]
pub mod plot;
pub mod sde_kind;
pub mod simd;
pub mod text;
pub mod train;
