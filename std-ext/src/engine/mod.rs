//! TEMPORARY ADAPTER: an f64 reference engine (mixture score, samplers, Dormand–Prince,
//! planar layers) written before the core's landed. `sample`, `loglik` and the demo's samplers
//! and likelihoods now run on the core ([`crate::core_run`]); the demo still uses this engine
//! for its exact reference samples, the planar-flow figure and the probability-flow
//! trajectories (the solver's intermediate states, which the core's ODE sampler does not
//! return). `tests/core_agreement.rs` checks this engine against the core.

// Small fixed-size linear algebra reads best with explicit indices.
#![allow(clippy::needless_range_loop)]

pub mod dopri5;
pub mod mixture;
pub mod planar;
pub mod samplers;
pub mod sde_kind;
