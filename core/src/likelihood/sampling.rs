//! Probability-flow ODE sampling: draw x_T from the SDE's prior N(0, s²I) and integrate
//! dx/dt = f − ½g²s from T down to ε (Song et al. 2021, §4.3; MATH.md §6), adaptively
//! (Dormand–Prince) or with a fixed-step method.
//!
//! Sample `i` draws x_T from `Streams::new(seed, i)`, so it is the same whatever the batch
//! size or lane width; the ODE itself is deterministic given x_T.

use core::ops::Range;

use super::ProbabilityFlow;
use crate::batch::{ChunkKernel, WideScalar, for_each_chunk, part_mut, scatter};
use crate::error::Error;
use crate::lane::{Lane, Scalar};
use crate::ode::{Dopri5Options, FixedMethod, Solution, VectorField, dopri5, fixed_step};
use crate::rng::{LaneSource, Streams};
use crate::sample::LaneSampler;
use crate::score::ScoreModel;
use crate::sde::{Sde, prior_draw};

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
    let x_t = prior_draw(sde, &mut Streams::<L>::new(seed, first_index));
    transport(&ProbabilityFlow::new(model, sde), solver, x_t, sde.t_max() as f64, eps)
}

/// The probability-flow ODE sampler as a [`LaneSampler`]: x_T from the SDE's prior (D normals
/// of the lane's stream), transported from T to ε by `solver` (see [`pf_sample`]). A lane whose
/// solve fails is set to NaN; [`pf_sample_batch`] reports each sample's NFE or error instead.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PfOdeSampler<S> {
    sde: S,
    solver: OdeSolver,
    eps: f64,
}

impl<S: Sde> PfOdeSampler<S> {
    /// The sampler of `sde` with `solver`, down to `eps` ∈ (0, T).
    ///
    /// Errors: invalid Dormand–Prince options, zero fixed steps, or `eps` outside (0, T).
    pub fn new(sde: S, solver: OdeSolver, eps: f64) -> Result<Self, Error> {
        match solver {
            OdeSolver::Adaptive(o) => o.validate()?,
            OdeSolver::Fixed { steps, .. } => {
                crate::sample::at_least_one("steps", steps)?;
            }
        }
        if !(eps > 0.0 && eps < f64::from(sde.t_max())) {
            return Err(Error::InvalidParameter { name: "eps", reason: "must lie in (0, T)" });
        }
        Ok(Self { sde, solver, eps })
    }
}

impl<const D: usize, S: Sde, M: ScoreModel<D>> LaneSampler<D, M> for PfOdeSampler<S> {
    /// Ignores the initial `x`; draws D normals for the prior.
    fn run<L: Lane, G: LaneSource<L>>(&self, model: &M, x: &mut [L; D], rng: &mut G) {
        let x_t = prior_draw(&self.sde, rng);
        let field = ProbabilityFlow::new(model, &self.sde);
        let nan = <L as Lane>::from_f64(f64::NAN);
        match transport(&field, &self.solver, x_t, f64::from(self.sde.t_max()), self.eps) {
            Ok(sol) => {
                let failed = sol.status.failed();
                *x = sol.y.map(|v| <L as Lane>::select(failed, nan, v));
            }
            Err(_) => *x = [nan; D],
        }
    }
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
    let lens = [("out", out.len()), ("status", status.len())];
    let mut k = PfKernel { model, sde, solver, eps, seed, out, status };
    for_each_chunk::<T::Wide, T, _>(first_index, &lens, &mut k)
}

/// [`pf_sample_batch`] on one chunk.
struct PfKernel<'a, M, S, T, const D: usize> {
    model: &'a M,
    sde: &'a S,
    solver: &'a OdeSolver,
    eps: f64,
    seed: u64,
    out: &'a mut [[T; D]],
    status: &'a mut [Result<u32, Error>],
}

impl<M: ScoreModel<D>, S: Sde, T: Scalar, const D: usize> ChunkKernel<T>
    for PfKernel<'_, M, S, T, D>
{
    #[inline]
    fn chunk<L: Lane<Scalar = T>>(&mut self, index: u64, items: Range<usize>) -> Result<(), Error> {
        let sol =
            pf_sample::<L, D, M, S>(self.model, self.sde, self.solver, self.eps, self.seed, index)?;
        scatter(&sol.y, part_mut(self.out, &items)?);
        for (j, o) in part_mut(self.status, &items)?.iter_mut().enumerate() {
            *o = sol.lane_result(j).map(|()| sol.nfe_lane(j));
        }
        Ok(())
    }
}
