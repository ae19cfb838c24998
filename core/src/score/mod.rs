//! Score models s(x, t) ≈ ∇ₓ log p_t(x): closed-form Gaussians and mixtures (MATH.md §2).
//!
//! - [`Gaussian`]: N(μ, Σ), full covariance, time-independent.
//! - [`GaussianMixture`]: Σₖ πₖ N(μₖ, Σₖ), eigen-decomposed once; exact under any SDE
//!   ([`MixtureScore`]) or noise level σ ([`NoisyMixture`]). These are the oracles that every
//!   sampler and likelihood test compares against.

use crate::params::{GradSink, Params};
use crate::real::Real;

pub mod covariance;
pub mod gaussian;
pub mod mixture;
pub mod net;

pub use covariance::Covariance;
pub use gaussian::Gaussian;
pub use mixture::{GaussianMixture, MixtureEval, MixtureScore, NoisyMixture};
pub use net::{
    Conditioning, LinearScore, NoiseLevel, OutputScale, ScoreNet, ScoreNetTape, SdeTime,
};

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
    /// [`ScoreModel::score`] and [`ExactScoreModel::divergence`] together, the same bits as
    /// each alone: models that compute both in one pass override it (the Gaussian mixtures).
    #[inline]
    fn score_and_divergence<R: Real>(&self, x: &[R; D], t: R) -> ([R; D], R) {
        (self.score(x, t), self.divergence(x, t))
    }
}

/// A score model with trainable parameters and a reverse-mode backward pass (MATH.md §7).
///
/// `score_tape` evaluates s(x, t) (bit-identical to [`ScoreModel::score`]) and keeps what the
/// backward needs; `score_backward` takes the cotangent s̄ and accumulates J_θᵀ s̄ into `grad`
/// (layout of [`Params`]). Both are written over [`Real`], so on dual lanes (input tangent v)
/// the tangent part of the gradient is a forward-over-reverse product: that is how sliced and
/// implicit score matching get ∇_θ vᵀ(∂s/∂x)v from the same code.
pub trait TrainableScore<const D: usize>: ScoreModel<D> + Params {
    /// What the forward keeps for the backward.
    type Tape<R: Real>: Copy;
    /// s(x, t) and the tape.
    fn score_tape<R: Real>(&self, x: &[R; D], t: R) -> ([R; D], Self::Tape<R>);
    /// Accumulate θ̄ += J_θᵀ s̄ into `grad` (offsets in the [`Params`] layout).
    fn score_backward<R: Real, G: GradSink<R> + ?Sized>(
        &self,
        tape: &Self::Tape<R>,
        sbar: &[R; D],
        grad: &mut G,
    );
}
