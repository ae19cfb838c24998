//! The density at the far end of a likelihood solve: log p_T(x(T)) (MATH.md §6).
//!
//! Which prior to use is the caller's choice, and it matters:
//! - [`ExactPrior`]: the model's own perturbed density at T ([`ExactScoreModel::log_density`]),
//!   exact for closed-form models; with it the ODE log-likelihood equals the exact log p_ε up to
//!   the solver error.
//! - [`SdePrior`]: the SDE's prior N(0, s² I) ([`Sde::prior_log_prob`]), what a learned score
//!   model must use. It differs from the true p_T by the prior mismatch (for VP with data of
//!   scale 5, about α_T²·|x₀|²/2 ≈ 1e-3 nats; for VE, σ_max is much larger than the data).
//! - [`DistributionPrior`]: any base [`Distribution`] (a continuous normalizing flow's base).

use crate::dist::Distribution;
use crate::lane::Lane;
use crate::score::ExactScoreModel;
use crate::sde::Sde;

/// log p_T(x) of the endpoint of a likelihood solve, lane-wise (`t` is the end time T).
pub trait Prior<const D: usize> {
    /// log p at `(x, t)`.
    fn log_prob<L: Lane>(&self, x: &[L; D], t: L) -> L;
}

/// The exact perturbed density of a closed-form model at the end time.
#[derive(Clone, Copy, Debug)]
pub struct ExactPrior<'a, M>(pub &'a M);

impl<const D: usize, M: ExactScoreModel<D>> Prior<D> for ExactPrior<'_, M> {
    #[inline(always)]
    fn log_prob<L: Lane>(&self, x: &[L; D], t: L) -> L {
        self.0.log_density(x, t)
    }
}

/// The SDE's prior N(0, s² I) (independent of t).
#[derive(Clone, Copy, Debug)]
pub struct SdePrior<'a, S>(pub &'a S);

impl<const D: usize, S: Sde> Prior<D> for SdePrior<'_, S> {
    #[inline]
    fn log_prob<L: Lane>(&self, x: &[L; D], _t: L) -> L {
        self.0.prior_log_prob(x)
    }
}

/// A base distribution (independent of t).
#[derive(Clone, Copy, Debug)]
pub struct DistributionPrior<'a, P>(pub &'a P);

impl<const D: usize, P: Distribution<D>> Prior<D> for DistributionPrior<'_, P> {
    #[inline]
    fn log_prob<L: Lane>(&self, x: &[L; D], _t: L) -> L {
        self.0.log_prob(x)
    }
}
