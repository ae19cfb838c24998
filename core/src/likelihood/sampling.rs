//! Probability-flow ODE sampling: draw x_T from the SDE's prior N(0, s²I) and integrate
//! dx/dt = f − ½g²s from T down to ε (Song et al. 2021, §4.3; MATH.md §6), adaptively
//! (Dormand–Prince) or with a fixed-step method.
//!
//! Sample `i` draws x_T from `Streams::new(seed, i)`, so it is the same whatever the batch
//! size or lane width; the ODE itself is deterministic given x_T.

use super::ProbabilityFlow;
use super::batch::WideScalar;
use crate::error::Error;
use crate::lane::Lane;
use crate::ode::{Dopri5Options, FixedMethod, Solution, VectorField, dopri5, fixed_step};
use crate::rng::{LaneSource, Streams};
use crate::score::ScoreModel;
use crate::sde::Sde;

/// The ODE solver of a sampling run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum OdeSolver {
    /// Adaptive Dormand–Prince 5(4).
    Adaptive(Dopri5Options),
    /// A fixed-step method with the given number of steps.
    Fixed {
        /// The method.
        method: FixedMethod,
        /// Number of equal steps.
        steps: u32,
    },
}

impl Default for OdeSolver {
    /// Dormand–Prince at rtol = atol = 1e-5 (score_sde's ODE sampler).
    fn default() -> Self {
        OdeSolver::Adaptive(Dopri5Options::default())
    }
}

/// Transport `x` along the field from `t0` to `t1` (either direction) with `solver`.
pub fn transport<L: Lane, const D: usize, V: VectorField<D>>(
    field: &V,
    solver: &OdeSolver,
    x: [L; D],
    t0: f64,
    t1: f64,
) -> Result<Solution<L, [L; D]>, Error> {
    let f = |t: L, y: &[L; D]| field.eval(t, y);
    let (a, b) = (<L as Lane>::from_f64(t0), <L as Lane>::from_f64(t1));
    match *solver {
        OdeSolver::Adaptive(ref o) => dopri5(f, a, b, x, o),
        OdeSolver::Fixed { method, steps } => fixed_step(method, f, a, b, x, steps),
    }
}

/// One lane of probability-flow samples: lane j is sample `first_index + j`, x_T drawn from
/// the SDE's prior with `Streams::new(seed, first_index + j)`, integrated from T to `eps`.
pub fn pf_sample<L: Lane, const D: usize, M: ScoreModel<D>, S: Sde>(
    model: &M,
    sde: &S,
    solver: &OdeSolver,
    eps: f64,
    seed: u64,
    first_index: u64,
) -> Result<Solution<L, [L; D]>, Error> {
    let mut rng = Streams::<L>::new(seed, first_index);
    let s = <L as Lane>::from_f32(sde.prior_std());
    let z: [L; D] = rng.normal_array();
    let x_t = z.map(|v| v * s);
    transport(&ProbabilityFlow::new(model, sde), solver, x_t, sde.t_max() as f64, eps)
}

/// Probability-flow samples `first_index ..` into `out`, with each sample's NFE or error in
/// `status` (see [`pf_sample`]). Errors for the whole call only for mismatched lengths or
/// invalid solver settings.
#[allow(clippy::too_many_arguments)]
pub fn pf_sample_batch<T: WideScalar, const D: usize, M: ScoreModel<D>, S: Sde>(
    model: &M,
    sde: &S,
    solver: &OdeSolver,
    eps: f64,
    seed: u64,
    first_index: u64,
    out: &mut [[T; D]],
    status: &mut [Result<u32, Error>],
) -> Result<(), Error> {
    fn run<L: Lane, const D: usize, M: ScoreModel<D>, S: Sde>(
        model: &M,
        sde: &S,
        solver: &OdeSolver,
        eps: f64,
        seed: u64,
        index: u64,
        out: &mut [Result<u32, Error>],
        xs: &mut [[L::Scalar; D]],
    ) -> Result<(), Error> {
        let sol = pf_sample::<L, D, M, S>(model, sde, solver, eps, seed, index)?;
        for (j, (o, x)) in out.iter_mut().zip(xs.iter_mut()).enumerate() {
            *o = sol.lane_result(j).map(|()| sol.nfe_lane(j));
            for (xi, yi) in x.iter_mut().zip(sol.y.iter()) {
                *xi = yi.extract(j);
            }
        }
        Ok(())
    }
    if out.len() != status.len() {
        return Err(Error::InvalidParameter { name: "status", reason: "must match out's length" });
    }
    // Full chunks in the wide lane type, the tail one sample at a time.
    let n = out.len();
    let w = <T::Wide as Lane>::LANES;
    let full = n / w * w;
    let (oh, ot) = out.split_at_mut(full);
    let (sh, st) = status.split_at_mut(full);
    let mut index = first_index;
    for (xc, sc) in oh.chunks_exact_mut(w).zip(sh.chunks_exact_mut(w)) {
        run::<T::Wide, D, M, S>(model, sde, solver, eps, seed, index, sc, xc)?;
        index = index.wrapping_add(w as u64);
    }
    for (xc, sc) in ot.chunks_mut(1).zip(st.chunks_mut(1)) {
        run::<T, D, M, S>(model, sde, solver, eps, seed, index, sc, xc)?;
        index = index.wrapping_add(1);
    }
    Ok(())
}
