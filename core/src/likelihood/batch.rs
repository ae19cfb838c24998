//! Batched log-likelihoods over slices of points: full chunks in the widest lane type
//! (`f32x8` for `f32`, `f64x4` for `f64`), the tail one point at a time in the scalar type.
//! Point `i` of the slice is point `first_index + i` wherever it lands, so its result (and its
//! Hutchinson probes) are the same bits for any batch split.

use wide::{f32x8, f64x4};

use super::{
    DivergenceMethod, ExactScoreModel, LaneLogLik, Prior, ProbabilityFlow, log_likelihood,
};
use crate::error::Error;
use crate::lane::{Lane, Scalar};
use crate::ode::{Dopri5Options, VectorField};
use crate::score::ScoreModel;
use crate::sde::Sde;

/// A scalar float with its widest SIMD lane type: `f32` → `f32x8`, `f64` → `f64x4`.
pub trait WideScalar: Scalar + Lane<Scalar = Self> {
    /// The widest lane type of this scalar.
    type Wide: Lane<Scalar = Self>;
}
impl WideScalar for f32 {
    type Wide = f32x8;
}
impl WideScalar for f64 {
    type Wide = f64x4;
}

/// One point's log-likelihood and the function evaluations it took.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LogLik {
    /// log p(x) in nats.
    pub log_p: f64,
    /// Function evaluations of the augmented field for this point.
    pub nfe: u32,
}

/// Points `xs` gathered into lanes (`xs.len() ≤ L::LANES`; missing lanes read 0).
#[inline]
pub(crate) fn gather<L: Lane, const D: usize>(xs: &[[L::Scalar; D]]) -> [L; D] {
    core::array::from_fn(|i| L::from_fn(|j| xs.get(j).map_or_else(Default::default, |p| p[i])))
}

/// Run `f` on full chunks of `T::Wide` lanes and then on the tail one `T` at a time; `f` gets
/// the chunk's points, their first index and their output slots.
pub(crate) fn for_chunks<T: WideScalar, const D: usize, O>(
    xs: &[[T; D]],
    out: &mut [O],
    first_index: u64,
    mut wide: impl FnMut(&[[T; D]], u64, &mut [O]) -> Result<(), Error>,
    mut scalar: impl FnMut(&[[T; D]], u64, &mut [O]) -> Result<(), Error>,
) -> Result<(), Error> {
    if xs.len() != out.len() {
        return Err(Error::InvalidParameter {
            name: "out",
            reason: "must have one slot per point",
        });
    }
    let w = <T::Wide as Lane>::LANES;
    let full = xs.len() / w * w;
    let (head, tail) = xs.split_at(full);
    let (ohead, otail) = out.split_at_mut(full);
    let mut index = first_index;
    for (xc, oc) in head.chunks_exact(w).zip(ohead.chunks_exact_mut(w)) {
        wide(xc, index, oc)?;
        index = index.wrapping_add(w as u64);
    }
    for (xc, oc) in tail.chunks(1).zip(otail.chunks_mut(1)) {
        scalar(xc, index, oc)?;
        index = index.wrapping_add(1);
    }
    Ok(())
}

fn store<L: Lane, const D: usize>(r: &LaneLogLik<L, D>, out: &mut [Result<LogLik, Error>]) {
    for (j, o) in out.iter_mut().enumerate() {
        *o = r.lane(j);
    }
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
    for_chunks(
        xs,
        out,
        first_index,
        |xc, i, oc| {
            let x = gather::<T::Wide, D>(xc);
            store(&log_likelihood(field, div, prior, &x, t0, t1, i, opts)?, oc);
            Ok(())
        },
        |xc, i, oc| {
            let x = gather::<T, D>(xc);
            store(&log_likelihood(field, div, prior, &x, t0, t1, i, opts)?, oc);
            Ok(())
        },
    )
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
    let field = ProbabilityFlow::new(model, sde);
    let t1 = sde.t_max() as f64;
    log_likelihood_batch(&field, div, prior, xs, cfg.eps, t1, first_index, &cfg.opts, out)
}

/// The exact log p_t(x) of a closed-form model for every point of `xs` (wide lanes, scalar
/// tail), to compare with [`pf_log_likelihood_batch`] at t = ε.
pub fn exact_log_density_batch<T: WideScalar, const D: usize, M: ExactScoreModel<D>>(
    model: &M,
    xs: &[[T; D]],
    t: f64,
    out: &mut [f64],
) -> Result<(), Error> {
    fn run<L: Lane, const D: usize, M: ExactScoreModel<D>>(
        model: &M,
        xc: &[[L::Scalar; D]],
        t: f64,
        oc: &mut [f64],
    ) {
        let lp: L = model.log_density(&gather::<L, D>(xc), <L as Lane>::from_f64(t));
        for (j, o) in oc.iter_mut().enumerate() {
            *o = lp.extract(j).to_f64();
        }
    }
    for_chunks(
        xs,
        out,
        0,
        |xc, _, oc| {
            run::<T::Wide, D, M>(model, xc, t, oc);
            Ok(())
        },
        |xc, _, oc| {
            run::<T, D, M>(model, xc, t, oc);
            Ok(())
        },
    )
}
