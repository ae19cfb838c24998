//! Score models s(x, t) ≈ ∇ₓ log p_t(x): closed-form Gaussians and mixtures (MATH.md §2).
//!
//! - [`Gaussian`]: N(μ, Σ), full covariance, time-independent.
//! - [`GaussianMixture`]: Σₖ πₖ N(μₖ, Σₖ), eigen-decomposed once; exact under any SDE
//!   ([`MixtureScore`]) or noise level σ ([`NoisyMixture`]). These are the oracles that every
//!   sampler and likelihood test compares against.

use crate::real::Real;

pub mod covariance;
pub mod gaussian;
pub mod mixture;

pub use covariance::Covariance;
pub use gaussian::Gaussian;
pub use mixture::{GaussianMixture, MixtureEval, MixtureScore, NoisyMixture};

/// A (possibly time-dependent) score model over ℝᴰ.
pub trait ScoreModel<const D: usize> {
    /// s(x, t) = ∇ₓ log p_t(x), lane-wise (t may differ per lane).
    fn score<R: Real>(&self, x: &[R; D], t: R) -> [R; D];
}

/// A score model that also knows its log-density and exact divergence (closed-form models).
pub trait ExactScoreModel<const D: usize>: ScoreModel<D> {
    /// log p_t(x), normalized.
    fn log_density<R: Real>(&self, x: &[R; D], t: R) -> R;
    /// ∇ₓ · s(x, t), exact.
    fn divergence<R: Real>(&self, x: &[R; D], t: R) -> R;
}
