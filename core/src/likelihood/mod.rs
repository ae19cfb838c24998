//! Exact log-likelihood by the instantaneous change of variables, for score models (the
//! probability-flow ODE) and for any vector field (continuous normalizing flows, FFJORD), and
//! probability-flow ODE sampling (MATH.md §6).
//!
//! For dx/dt = F(x, t), d log p_t(x(t))/dt = −∇·F(x(t), t), so
//!   log p_{t₀}(x) = log p_{t₁}(x(t₁)) + ∫_{t₀}^{t₁} ∇·F(x(t), t) dt.
//! [`log_likelihood`] integrates the augmented state [x, ℓ] (dℓ/dt = ∇·F, ℓ(t₀) = 0) from t₀ to
//! t₁ with adaptive Dormand–Prince 5(4) ([`crate::ode::dopri5()`]); the error norm covers ℓ as one
//! more component, as in score_sde and scipy. For a score model under an SDE the field is the
//! probability flow ([`ProbabilityFlow`]) F = f − ½g²s — **correction** to the notes, which
//! print f − g²s — integrated from ε to T ([`pf_log_likelihood`]).
//!
//! - Divergence: exact by duals, closed form, or Hutchinson ([`divergence`]).
//! - Prior at t₁: exact p_T for closed-form models, the SDE's prior, or a base distribution
//!   ([`prior`]); the caller chooses and the choice is part of the result's meaning.
//! - NFE: one evaluation of the augmented field (F and its divergence together) counts as one,
//!   as scipy counts calls of its ODE function; per point.
//! - Lanes: every point is its own solve with its own steps ([`crate::ode`]), so a point's
//!   log-likelihood is bit-identical whether it is computed alone as `f32`/`f64` or in a batch
//!   of `f32x8`/`f64x4` ([`batch`]).
//! - Accuracy (f64, exact divergence and prior, random anisotropic mixtures in 2–8 dimensions
//!   under VE, VP and sub-VP; `tests/likelihood.rs`): see the figures stated there.

pub mod batch;
pub mod divergence;
pub mod prior;
pub mod sampling;

pub use batch::{
    LogLik, WideScalar, log_likelihood_batch, log_likelihood_batch_on, pf_log_likelihood_batch,
    pf_log_likelihood_batch_on,
};
pub use divergence::{
    ClosedFormDivergence, DivergenceMethod, ExactDivergence, ExactDivergenceField, Hutchinson,
    Probe,
};
pub use prior::{DistributionPrior, ExactPrior, Prior, SdePrior};
pub use sampling::{OdeSolver, PfOdeSampler, pf_sample, pf_sample_batch};

use crate::error::Error;
use crate::lane::Lane;
use crate::ode::{Augmented, Dopri5Options, LaneStatus, VectorField, dopri5, dopri5_inlined};
use crate::real::Real;
use crate::score::{ExactScoreModel, ScoreModel};
use crate::sde::{LIKELIHOOD_EPS, Sde};

/// The probability-flow field of a score model under an SDE:
/// F(x, t) = f(x, t) − ½ g(t)² s(x, t) (MATH.md §6, with the ½ the notes omit).
#[derive(Clone, Copy, Debug)]
pub struct ProbabilityFlow<'a, M, S> {
    /// The score model s(x, t).
    pub model: &'a M,
    /// The forward SDE (f, g).
    pub sde: &'a S,
}

impl<'a, M, S> ProbabilityFlow<'a, M, S> {
    /// The probability flow of `model` under `sde`.
    pub fn new(model: &'a M, sde: &'a S) -> Self {
        Self { model, sde }
    }
}

impl<const D: usize, M: ScoreModel<D>, S: Sde> VectorField<D> for ProbabilityFlow<'_, M, S> {
    #[inline]
    fn eval<R: Real>(&self, t: R, x: &[R; D]) -> [R; D] {
        let c = self.sde.drift_coef(t);
        let g = self.sde.diffusion(t);
        let half_g2 = R::from_f64(0.5) * g * g;
        let s = self.model.score(x, t);
        crate::lane::array_fn(|i| c * x[i] - half_g2 * s[i])
    }
}

impl<const D: usize, M: ExactScoreModel<D>, S: Sde> ExactDivergenceField<D>
    for ProbabilityFlow<'_, M, S>
{
    /// ∇·F = c(t)·D − ½g(t)² ∇·s (the drift is c(t)·x).
    #[inline]
    fn divergence<R: Real>(&self, t: R, x: &[R; D]) -> R {
        let c = self.sde.drift_coef(t);
        let g = self.sde.diffusion(t);
        c * R::from_f64(D as f64) - R::from_f64(0.5) * g * g * self.model.divergence(x, t)
    }
    #[inline(always)]
    fn eval_and_divergence<R: Real>(&self, t: R, x: &[R; D]) -> ([R; D], R) {
        // The same expressions as `eval` and `divergence`, on the model's one-pass evaluation.
        let c = self.sde.drift_coef(t);
        let g = self.sde.diffusion(t);
        let half_g2 = R::from_f64(0.5) * g * g;
        let (s, div) = self.model.score_and_divergence(x, t);
        let f = crate::lane::array_fn(|i| c * x[i] - half_g2 * s[i]);
        (f, c * R::from_f64(D as f64) - half_g2 * div)
    }
}

/// Log-likelihoods of a lane of points, with per-lane NFE and outcome.
#[derive(Clone, Copy, Debug)]
pub struct LaneLogLik<L: Lane, const D: usize> {
    /// log p_{t₀}(x) per lane (meaningful where the lane's status is ok).
    pub log_p: L,
    /// The endpoint x(t₁) of the flow.
    pub z: [L; D],
    /// The integrated divergence ∫ ∇·F dt.
    pub delta: L,
    /// Function evaluations per lane.
    pub nfe: L,
    /// How each lane's solve ended.
    pub status: LaneStatus<L>,
}

impl<L: Lane, const D: usize> LaneLogLik<L, D> {
    /// Lane `i`: its log-likelihood and NFE, or its error.
    #[inline(always)]
    pub fn lane(&self, i: usize) -> Result<LogLik, Error> {
        use crate::lane::Scalar;
        self.status.lane(i)?;
        Ok(LogLik {
            log_p: self.log_p.extract(i).to_f64(),
            nfe: self.nfe.extract(i).to_f64() as u32,
        })
    }
}

/// log p_{t₀}(x) for the flow dx/dt = F(t, x) whose density at `t1` is `prior`: integrates
/// [x, ℓ] from `t0` to `t1` with Dormand–Prince (`opts`), divergence by `div`.
///
/// Lane j is point `first_index + j` (this fixes its Hutchinson probes). Errors only for invalid
/// options; each lane's outcome is in the result's `status`.
///
/// Always inlined (its solve is not: [`dopri5()`] is a call, except on lanes with
/// [`Lane::INLINE_KERNELS`], where the solver and the stage closure are inlined; the field's
/// own evaluation is inlined there where `div` and the field are, as
/// [`ClosedFormDivergence`] over a mixture's [`ProbabilityFlow`]).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub fn log_likelihood<L, const D: usize, V, Dv, P>(
    field: &V,
    div: &Dv,
    prior: &P,
    x: &[L; D],
    t0: f64,
    t1: f64,
    first_index: u64,
    opts: &Dopri5Options,
) -> Result<LaneLogLik<L, D>, Error>
where
    L: Lane,
    V: VectorField<D>,
    Dv: DivergenceMethod<D, V>,
    P: Prior<D>,
{
    if !(t0.is_finite() && t1.is_finite()) {
        return Err(Error::NonFinite("t0/t1"));
    }
    let probes = div.probes::<L>(first_index);
    let y0 = Augmented { x: *x, l: <L as Lane>::from_f64(0.0) };
    let (t0l, t1l) = (<L as Lane>::from_f64(t0), <L as Lane>::from_f64(t1));
    let sol = if L::INLINE_KERNELS {
        // The solver and the field inlined at each stage (see `Lane::INLINE_KERNELS`).
        dopri5_inlined(
            #[inline(always)]
            |t: L, s: &Augmented<L, D>| augmented(field, div, &probes, t, s),
            t0l,
            t1l,
            y0,
            opts,
        )?
    } else {
        dopri5(
            |t: L, s: &Augmented<L, D>| augmented(field, div, &probes, t, s),
            t0l,
            t1l,
            y0,
            opts,
        )?
    };
    let log_p = prior.log_prob(&sol.y.x, t1l) + sol.y.l;
    Ok(LaneLogLik { log_p, z: sol.y.x, delta: sol.y.l, nfe: sol.nfe, status: sol.status })
}

/// The augmented field (F(t, x), ∇·F(t, x)) of a likelihood solve.
#[inline(always)]
fn augmented<L: Lane, const D: usize, V: VectorField<D>, Dv: DivergenceMethod<D, V>>(
    field: &V,
    div: &Dv,
    probes: &Dv::Probes<L>,
    t: L,
    s: &Augmented<L, D>,
) -> Augmented<L, D> {
    let (x, l) = div.eval(field, probes, t, &s.x);
    Augmented { x, l }
}

/// Settings of a probability-flow likelihood: the start time ε and the solver options.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PfConfig {
    /// Start time ε (score_sde's likelihood ε = 1e-5 by default).
    pub eps: f64,
    /// Dormand–Prince options (rtol = atol = 1e-5 by default).
    pub opts: Dopri5Options,
}

impl Default for PfConfig {
    fn default() -> Self {
        Self { eps: LIKELIHOOD_EPS as f64, opts: Dopri5Options::default() }
    }
}

impl PfConfig {
    /// ε and rtol = atol = `tol`.
    pub fn new(eps: f64, tol: f64) -> Self {
        Self { eps, opts: Dopri5Options::with_tol(tol, tol) }
    }
}

/// log p_ε(x) of a score model under an SDE by the probability-flow ODE from ε to T.
///
/// `prior` is [`ExactPrior`] for closed-form models (exact p_T) or [`SdePrior`] (the SDE's
/// N(0, s²I), for learned models). See [`log_likelihood`].
pub fn pf_log_likelihood<L, const D: usize, M, S, Dv, P>(
    model: &M,
    sde: &S,
    div: &Dv,
    prior: &P,
    x: &[L; D],
    first_index: u64,
    cfg: &PfConfig,
) -> Result<LaneLogLik<L, D>, Error>
where
    L: Lane,
    M: ScoreModel<D>,
    S: Sde,
    for<'a> Dv: DivergenceMethod<D, ProbabilityFlow<'a, M, S>>,
    P: Prior<D>,
{
    let field = ProbabilityFlow::new(model, sde);
    log_likelihood(&field, div, prior, x, cfg.eps, sde.t_max() as f64, first_index, &cfg.opts)
}

/// The exact log p_t(x) of a closed-form model, to compare with [`pf_log_likelihood`] at the
/// same t = ε.
#[inline]
pub fn exact_log_density<R: Real, const D: usize, M: ExactScoreModel<D>>(
    model: &M,
    x: &[R; D],
    t: f64,
) -> R {
    model.log_density(x, R::from_f64(t))
}
