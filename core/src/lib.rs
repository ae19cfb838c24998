//! # flowscore
//!
//! Normalizing flows and score-based (diffusion) models for `no_std` targets and workstations
//! alike: const-generic, allocation-free models, samplers and likelihood integrators, written once
//! over a lane type so that the same code runs on scalars, on SIMD vectors (each lane an
//! independent sample) and on forward-mode dual numbers.
//!
//! ## Errors, not panics
//! - Constructors validate their parameters: a NaN or infinite parameter gives
//!   [`Error::NonFinite`], a structurally invalid one [`Error::InvalidParameter`].
//! - Evaluation never panics. A NaN input yields NaN in its own lane only, never in the others.
//! - Iterative procedures (the planar inverse, adaptive ODE solves) have bounded iteration counts
//!   and return an error value ([`Error::NotConverged`], [`Error::StepSizeUnderflow`],
//!   [`Error::MaxStepsExceeded`]) instead of looping.
//!
//! ## Reproducibility
//! Every transcendental function is built in [`math`] from IEEE-exact primitives with no fused
//! multiply-add, and every sample owns a random stream derived from `(seed, index)` ([`rng`]), so
//! a sample's bits do not depend on the lane width, the batch size or the target.
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod batch;
pub mod dist;
pub mod dual;
pub mod error;
pub mod flow;
pub mod format;
pub mod lane;
pub mod likelihood;
pub mod loss;
pub mod math;
pub mod nn;
pub mod ode;
pub mod optim;
pub mod params;
pub mod real;
pub mod rng;
pub mod sample;
pub mod score;
pub mod sde;

pub use error::Error;
pub use lane::{Lane, Mask, Scalar};
pub use real::Real;
pub use wide;
