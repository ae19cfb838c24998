//! Score models s(x, t) ≈ ∇ₓ log p_t(x): closed-form Gaussians and mixtures, learned MLPs.

use crate::real::Real;

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
