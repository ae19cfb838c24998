//! Batched log-likelihoods over slices of points: full chunks in the widest lane type
//! (`f32x8` for `f32`, `f64x4` for `f64`), the tail one point at a time in the scalar type.
//! Point `i` of the slice is point `first_index + i` wherever it lands, so its result (and its
//! Hutchinson probes) are the same bits for any batch split.

use core::ops::Range;

use super::{DivergenceMethod, ExactScoreModel, Prior, ProbabilityFlow, log_likelihood};
pub use crate::batch::WideScalar;
use crate::batch::{ChunkKernel, for_each_chunk, gather, part, part_mut};
use crate::error::Error;
use crate::lane::{Lane, Scalar};
use crate::ode::{Dopri5Options, VectorField};
use crate::score::ScoreModel;
use crate::sde::Sde;

/// One point's log-likelihood and the function evaluations it took.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LogLik {
    /// log p(x) in nats.
    pub log_p: f64,
    /// Function evaluations of the augmented field for this point.
    pub nfe: u32,
}

/// [`log_likelihood`] for every point of `xs`, into `out` (one `Result` per point: a point whose
/// solve fails gets its own error and does not affect the others).
///
/// Errors for the whole call only if `out.len() != xs.len()` or the options are invalid.
#[allow(clippy::too_many_arguments)]
pub fn log_likelihood_batch<T, const D: usize, V, Dv, P>(
    field: &V,
    div: &Dv,
    prior: &P,
    xs: &[[T; D]],
    t0: f64,
    t1: f64,
    first_index: u64,
    opts: &Dopri5Options,
    out: &mut [Result<LogLik, Error>],
) -> Result<(), Error>
where
    T: WideScalar,
    V: VectorField<D>,
    Dv: DivergenceMethod<D, V>,
    P: Prior<D>,
{
    log_likelihood_batch_on::<T::Wide, T, D, V, Dv, P>(
        field,
        div,
        prior,
        xs,
        t0,
        t1,
        first_index,
        opts,
        out,
    )
}

/// [`log_likelihood_batch`] with full chunks on the lane type `W` (the same bits for any `W`).
/// Always inlined, with the solve on lanes with [`Lane::INLINE_KERNELS`] (flowscore-std's
/// run-time dispatch).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub fn log_likelihood_batch_on<W, T, const D: usize, V, Dv, P>(
    field: &V,
    div: &Dv,
    prior: &P,
    xs: &[[T; D]],
    t0: f64,
    t1: f64,
    first_index: u64,
    opts: &Dopri5Options,
    out: &mut [Result<LogLik, Error>],
) -> Result<(), Error>
where
    W: Lane<Scalar = T>,
    T: Scalar + Lane<Scalar = T>,
    V: VectorField<D>,
    Dv: DivergenceMethod<D, V>,
    P: Prior<D>,
{
    let lens = [("xs", xs.len()), ("out", out.len())];
    let mut k = LogLikKernel { field, div, prior, xs, t0, t1, opts, out };
    for_each_chunk::<W, T, _>(first_index, &lens, &mut k)
}

/// [`log_likelihood_batch`] on one chunk.
struct LogLikKernel<'a, V, Dv, P, T, const D: usize> {
    field: &'a V,
    div: &'a Dv,
    prior: &'a P,
    xs: &'a [[T; D]],
    t0: f64,
    t1: f64,
    opts: &'a Dopri5Options,
    out: &'a mut [Result<LogLik, Error>],
}

impl<V, Dv, P, T, const D: usize> ChunkKernel<T> for LogLikKernel<'_, V, Dv, P, T, D>
where
    T: Scalar,
    V: VectorField<D>,
    Dv: DivergenceMethod<D, V>,
    P: Prior<D>,
{
    #[inline(always)]
    fn chunk<L: Lane<Scalar = T>>(&mut self, index: u64, items: Range<usize>) -> Result<(), Error> {
        let x: [L; D] = gather(part(self.xs, &items)?);
        let r = log_likelihood(
            self.field, self.div, self.prior, &x, self.t0, self.t1, index, self.opts,
        )?;
        for (j, o) in part_mut(self.out, &items)?.iter_mut().enumerate() {
            *o = r.lane(j);
        }
        Ok(())
    }
}

/// [`super::pf_log_likelihood`] for every point of `xs` (see [`log_likelihood_batch`]).
#[allow(clippy::too_many_arguments)]
pub fn pf_log_likelihood_batch<T, const D: usize, M, S, Dv, P>(
    model: &M,
    sde: &S,
    div: &Dv,
    prior: &P,
    xs: &[[T; D]],
    first_index: u64,
    cfg: &super::PfConfig,
    out: &mut [Result<LogLik, Error>],
) -> Result<(), Error>
where
    T: WideScalar,
    M: ScoreModel<D>,
    S: Sde,
    for<'a> Dv: DivergenceMethod<D, ProbabilityFlow<'a, M, S>>,
    P: Prior<D>,
{
    pf_log_likelihood_batch_on::<T::Wide, T, D, M, S, Dv, P>(
        model,
        sde,
        div,
        prior,
        xs,
        first_index,
        cfg,
        out,
    )
}

/// [`pf_log_likelihood_batch`] with full chunks on the lane type `W` (the same bits for any
/// `W`; always inlined, as [`log_likelihood_batch_on`]).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub fn pf_log_likelihood_batch_on<W, T, const D: usize, M, S, Dv, P>(
    model: &M,
    sde: &S,
    div: &Dv,
    prior: &P,
    xs: &[[T; D]],
    first_index: u64,
    cfg: &super::PfConfig,
    out: &mut [Result<LogLik, Error>],
) -> Result<(), Error>
where
    W: Lane<Scalar = T>,
    T: Scalar + Lane<Scalar = T>,
    M: ScoreModel<D>,
    S: Sde,
    for<'a> Dv: DivergenceMethod<D, ProbabilityFlow<'a, M, S>>,
    P: Prior<D>,
{
    let field = ProbabilityFlow::new(model, sde);
    let t1 = sde.t_max() as f64;
    log_likelihood_batch_on::<W, T, D, _, _, _>(
        &field,
        div,
        prior,
        xs,
        cfg.eps,
        t1,
        first_index,
        &cfg.opts,
        out,
    )
}

/// The exact log p_t(x) of a closed-form model for every point of `xs` (wide lanes, scalar
/// tail), to compare with [`pf_log_likelihood_batch`] at t = ε.
pub fn exact_log_density_batch<T: WideScalar, const D: usize, M: ExactScoreModel<D>>(
    model: &M,
    xs: &[[T; D]],
    t: f64,
    out: &mut [f64],
) -> Result<(), Error> {
    let lens = [("xs", xs.len()), ("out", out.len())];
    for_each_chunk::<T::Wide, T, _>(0, &lens, &mut DensityKernel { model, xs, t, out })
}

/// [`exact_log_density_batch`] on one chunk.
struct DensityKernel<'a, M, T, const D: usize> {
    model: &'a M,
    xs: &'a [[T; D]],
    t: f64,
    out: &'a mut [f64],
}

impl<M: ExactScoreModel<D>, T: Scalar, const D: usize> ChunkKernel<T>
    for DensityKernel<'_, M, T, D>
{
    #[inline]
    fn chunk<L: Lane<Scalar = T>>(&mut self, _: u64, items: Range<usize>) -> Result<(), Error> {
        let x: [L; D] = gather(part(self.xs, &items)?);
        let lp: L = self.model.log_density(&x, <L as Lane>::from_f64(self.t));
        for (j, o) in part_mut(self.out, &items)?.iter_mut().enumerate() {
            *o = lp.extract(j).to_f64();
        }
        Ok(())
    }
}
