//! The `sample` and `loglik` work on the core crate: the runtime dimension D ∈ 1..=8 is
//! dispatched to `flowscore::score::GaussianMixture<D, 16>`, the spec's k ≤ 16 components
//! followed by zero-weight ones, which the core skips (it evaluates the components up to the
//! last positive weight), so k costs k and each D is one instantiation of every sampler, not
//! one per (D, K). This is the one place the command line calls the core's samplers and
//! likelihoods.
//!
//! Parallel over samples: every sampler runs on the core's lanes in parallel blocks of `BLOCK`
//! samples (`run_lanes`) — the `f32` batch lanes (`WideScalar::Wide`, two `f32x8` side by side)
//! for `--precision f32` (the default), `f64x4` for `f64` — and the ODE likelihood on the
//! core's batch API (`pf_rows`). Euler–Maruyama and the likelihood's solve (with the mixture's
//! closed-form divergence) run on the lanes of the run-time dispatched path ([`crate::simd`]:
//! 32 `f32` or 8 `f64` per AVX2 chunk; the core's batch lanes on the baseline).
//! Sample (or row) i always uses the stream (seed, i), so the output does not depend on the
//! lane width, the block or the number of threads.

use core::ops::Range;

use anyhow::anyhow;
use flowscore::batch::{ChunkKernel, WideScalar, for_each_chunk, part_mut, scatter};
use flowscore::lane::{Lane, Scalar};
use flowscore::likelihood::sampling::{OdeSolver, transport};
use flowscore::likelihood::{ClosedFormDivergence, ExactPrior, ProbabilityFlow, exact_log_density};
use flowscore::ode::Dopri5Options;
use flowscore::rng::{LaneSource, Streams};
use flowscore::sample::{
    AdaptiveOptions, AdaptiveSde, AnnealedLangevin, DpmSolverPp2m, DpmSolverPp3m, EdmHeun,
    EulerMaruyama, LaneSampler, Langevin, Mala, PredictorCorrector, SrkMethod, StochasticRk, UniPc,
};
use flowscore::score::{GaussianMixture, MixtureScore};
use flowscore::sde::Sde;

use crate::data::Table;
use crate::io::Spec;
use crate::io::spec::{MAX_COMPONENTS, MAX_DIM};
use crate::jobs::pf_rows::pf_rows;
use crate::jobs::{
    ANNEAL_LEVELS, ANNEAL_SIGMA_MIN, CORRECTOR_STEPS, LoglikOutput, LoglikSettings, Method,
    Precision, SampleOutput, SampleSettings, SamplerKind, non_finite_sample,
};
use crate::par::{self, CHUNK};
use crate::sde_kind::AnySde;
use crate::simd::{self, Dispatch, LaneWork};

/// The components every mixture is stored with: the spec's k ≤ [`MAX_COMPONENTS`] and zero
/// weights after them, which the core skips (one type per D, not per (D, K)).
const CAPACITY: usize = MAX_COMPONENTS;
const _: () = assert!(CAPACITY == 16, "the `mixture!` calls spell the capacity as a literal");

/// The spec's weights padded to K with zeros.
fn pad_weights<const K: usize>(spec: &Spec) -> [f32; K] {
    core::array::from_fn(|i| spec.weights.get(i).map_or(0.0, |w| *w as f32))
}

/// The spec's means padded to K with zeros.
fn pad_means<const D: usize, const K: usize>(spec: &Spec) -> [[f32; D]; K] {
    core::array::from_fn(|i| {
        core::array::from_fn(|j| {
            spec.means.get(i).and_then(|m| m.get(j)).map_or(0.0, |v| *v as f32)
        })
    })
}

/// The spec's covariances padded to K with identities.
fn pad_covariances<const D: usize, const K: usize>(spec: &Spec) -> [[[f32; D]; D]; K] {
    core::array::from_fn(|i| {
        core::array::from_fn(|r| {
            core::array::from_fn(|c| match spec.covariances.get(i) {
                Some(m) => m.get(r).and_then(|row| row.get(c)).map_or(0.0, |v| *v as f32),
                None => f32::from(u8::from(r == c)),
            })
        })
    })
}

/// The spec as a `GaussianMixture<D, K>` (literal D and K, so the core's bounds on D are met
/// concretely), padded with zero-weight components.
macro_rules! mixture {
    ($d:literal, $k:literal, $spec:expr) => {
        GaussianMixture::<$d, $k>::new(
            pad_weights::<$k>($spec),
            pad_means::<$d, $k>($spec),
            pad_covariances::<$d, $k>($spec),
        )
        .map_err(|e| anyhow!("invalid mixture: {e}"))
    };
}

macro_rules! dispatch_mixture {
    ($spec:expr, $f:ident ( $($arg:expr),* $(,)? )) => {
        match $spec.dim {
            1 => $f::<1, CAPACITY>(mixture!(1, 16, $spec)?, $($arg),*),
            2 => $f::<2, CAPACITY>(mixture!(2, 16, $spec)?, $($arg),*),
            3 => $f::<3, CAPACITY>(mixture!(3, 16, $spec)?, $($arg),*),
            4 => $f::<4, CAPACITY>(mixture!(4, 16, $spec)?, $($arg),*),
            5 => $f::<5, CAPACITY>(mixture!(5, 16, $spec)?, $($arg),*),
            6 => $f::<6, CAPACITY>(mixture!(6, 16, $spec)?, $($arg),*),
            7 => $f::<7, CAPACITY>(mixture!(7, 16, $spec)?, $($arg),*),
            8 => $f::<8, CAPACITY>(mixture!(8, 16, $spec)?, $($arg),*),
            d => Err(anyhow!("dimension D = {d} is not supported (D must be 1..={MAX_DIM})")),
        }
    };
}

/// A consumer of sample rows (row-major, D values each), called chunk by chunk in index order.
pub type Sink<'a> = &'a mut dyn FnMut(&[f64]) -> anyhow::Result<()>;

/// Runs `sample` on a validated spec with the core's samplers, handing the samples to `sink`
/// in chunks of at most [`CHUNK`] rows; returns the mean per-sample statistic (NFE for the
/// adaptive samplers, ode and adaptive; acceptance rate for MALA; else 0).
pub fn sample_into(spec: &Spec, job: &SampleSettings, sink: Sink<'_>) -> anyhow::Result<f64> {
    let bx = start_box(spec);
    dispatch_mixture!(spec, sample_dk(job, &bx, sink))
}

/// Runs `sample` on a validated spec and collects the samples.
pub fn sample(spec: &Spec, job: &SampleSettings) -> anyhow::Result<SampleOutput> {
    let mut data = Vec::new();
    let mean = sample_into(spec, job, &mut |rows| {
        data.try_reserve(rows.len()).map_err(|_| anyhow!("not enough memory for the samples"))?;
        data.extend_from_slice(rows);
        Ok(())
    })?;
    Ok(SampleOutput {
        table: Table { rows: job.n, cols: spec.dim, data },
        note: note_of(job, mean),
        mean_stat: mean,
    })
}

/// The note printed after a run: mean NFE (adaptive samplers), the fixed number of score
/// evaluations per sample (the other reverse-SDE and probability-flow samplers) or the
/// acceptance rate (MALA).
pub fn note_of(job: &SampleSettings, mean: f64) -> Option<String> {
    match job.sampler {
        SamplerKind::Mala => Some(format!("MALA acceptance rate {mean:.3}")),
        SamplerKind::Ode | SamplerKind::Adaptive => Some(format!("mean NFE {mean:.1}")),
        SamplerKind::Sra1
        | SamplerKind::SdeHeun
        | SamplerKind::EdmHeun
        | SamplerKind::DpmPp2m
        | SamplerKind::DpmPp3m
        | SamplerKind::UniPc => {
            job.sampler.evaluations(job.steps).map(|n| format!("{n} score evaluations per sample"))
        }
        _ => None,
    }
}

/// Runs `loglik` on validated data with the core's likelihoods.
pub fn loglik(spec: &Spec, data: &Table, job: &LoglikSettings) -> anyhow::Result<LoglikOutput> {
    if data.cols != spec.dim {
        return Err(anyhow!(
            "data has {} columns but the spec has dimension D = {}",
            data.cols,
            spec.dim
        ));
    }
    dispatch_mixture!(spec, loglik_dk(data, job))
}

/// The box Langevin chains start from, uniform: the means' bounding box widened by three
/// standard deviations of the widest component (for the ncsn mixture: [−8, 8]²).
pub fn start_box(spec: &Spec) -> (Vec<f64>, Vec<f64>) {
    let mut lmax: f64 = 0.0;
    for c in &spec.covariances {
        let m = nalgebra::DMatrix::from_fn(spec.dim, spec.dim, |r, s| c[r][s]);
        lmax = lmax.max(m.symmetric_eigenvalues().max());
    }
    let pad = 3.0 * lmax.sqrt();
    let lo =
        (0..spec.dim).map(|i| spec.means.iter().map(|m| m[i]).fold(f64::INFINITY, f64::min) - pad);
    let hi = (0..spec.dim)
        .map(|i| spec.means.iter().map(|m| m[i]).fold(f64::NEG_INFINITY, f64::max) + pad);
    (lo.collect(), hi.collect())
}

fn sample_dk<const D: usize, const K: usize>(
    mix: GaussianMixture<D, K>,
    job: &SampleSettings,
    bx: &(Vec<f64>, Vec<f64>),
    sink: Sink<'_>,
) -> anyhow::Result<f64> {
    // The ODE sampler computes in f64 whatever the settings say (its tolerance 1e-5 is near
    // f32's resolution): it is instantiated for f64 lanes only.
    if job.sampler == SamplerKind::Ode {
        return sample_ode(mix, job, sink);
    }
    match job.precision {
        Precision::F32 => sample_in::<f32, D, K>(mix, job, bx, sink),
        Precision::F64 => sample_in::<f64, D, K>(mix, job, bx, sink),
    }
}

/// `sample --sampler ode`, on `f64x4` lanes.
fn sample_ode<const D: usize, const K: usize>(
    mix: GaussianMixture<D, K>,
    job: &SampleSettings,
    sink: Sink<'_>,
) -> anyhow::Result<f64> {
    let sde = job.sde;
    let model = mix.under(sde);
    let eps = sde.sampling_eps();
    let seed = job.seed;
    // The probability-flow ODE is deterministic, so whatever x_T it starts from is carried to
    // the output: it starts from the exact p_T of the closed-form target (x_T = α_T x₀ + σ_T ξ
    // with x₀ an exact draw), not the SDE's prior N(0, s² I). Under VE that prior ignores the
    // data's mean (with s = σ_max = 50 the ncsn mixture's mode weights moved by up to 0.034);
    // from the exact p_T the only error left is the solver's. The stochastic samplers
    // (Euler–Maruyama, PC) keep the prior: their noise contracts a start-distribution error,
    // and in standard coordinates p_T and the prior differ by O(α_T) (VP, sub-VP) or
    // O(1/σ_max) (VE).
    let solver = OdeSolver::Adaptive(Dopri5Options::default());
    let block = |first: u64, xs: &mut [[f64; D]]| -> anyhow::Result<f64> {
        let mut nfe = vec![Ok(0); xs.len()];
        let lens = [("xs", xs.len()), ("nfe", nfe.len())];
        let run = Ode { solver: &solver, eps, nfe: &mut nfe };
        let mut k = FromExactP { model: &model, seed, xs, run };
        for_each_chunk::<<f64 as WideScalar>::Wide, f64, _>(first, &lens, &mut k)?;
        sum_nfe(first, &nfe)
    };
    let total = run_lanes(&block, None, job.n, &|_, _| Ok(()), sink)?;
    Ok(total / job.n.max(1) as f64)
}

/// A block of samples run on lanes: `block(first, xs)` runs samples `first..first + xs.len()`
/// (`xs` holds the chains' starts on entry, the samples on exit), sample i on the stream
/// (seed, i), and returns the block's summed statistic (accepted proposals, NFE, or 0).
type Block<'a, T, const D: usize> = &'a (dyn Fn(u64, &mut [[T; D]]) -> anyhow::Result<f64> + Sync);

/// `sample` in the precision `T`: every sampler on the core's `T::Wide` lanes, Euler–Maruyama
/// on the lanes of the dispatched path ([`simd`]), in parallel blocks ([`run_lanes`]).
fn sample_in<T: Dispatch, const D: usize, const K: usize>(
    mix: GaussianMixture<D, K>,
    job: &SampleSettings,
    bx: &(Vec<f64>, Vec<f64>),
    sink: Sink<'_>,
) -> anyhow::Result<f64> {
    let sde = job.sde;
    let model = mix.under(sde);
    let eps = sde.sampling_eps();
    let steps = job.steps;
    let step = job.step_size as f32;
    let seed = job.seed;
    // Langevin chains start uniform in the box, from the sample's own stream (the samplers
    // then continue on a second stream of the same index, seed + 1).
    let start = |i: u64| -> [T; D] {
        let mut rng = Streams::<f64>::new(job.seed.wrapping_add(1), i);
        core::array::from_fn(|j| {
            <T as Scalar>::from_f64(bx.0[j] + (bx.1[j] - bx.0[j]) * rng.uniform())
        })
    };
    // A chain that ends exactly where it started did not sample: the step size is below the
    // resolution of its state (or, for MALA, every proposal was rejected).
    let moved = |i: u64, x: &[T; D]| -> anyhow::Result<()> {
        if *x == start(i) {
            return Err(anyhow!(
                "sample {i} ended exactly at its starting point: the chain did not move (step \
                 size too small for the state's precision, or, for MALA, too large for any \
                 proposal to be accepted)"
            ));
        }
        Ok(())
    };
    let n = job.n;
    // The Langevin chains start in the box; the samplers below them draw their own start.
    let mut run = |block: Block<'_, T, D>, from_box: bool| -> anyhow::Result<f64> {
        let start: Option<&(dyn Fn(u64) -> [T; D] + Sync)> =
            if from_box { Some(&start) } else { None };
        run_lanes(block, start, n, &moved, &mut *sink)
    };
    // A lane sampler's batch: full lane groups on T::Wide, the tail on T.
    fn batch<T: WideScalar, const D: usize, M, P: LaneSampler<D, M>>(
        s: &P,
        m: &M,
        seed: u64,
        first: u64,
        xs: &mut [[T; D]],
    ) -> anyhow::Result<f64> {
        s.run_batch::<T::Wide, T>(m, seed, first, xs);
        Ok(0.0)
    }
    // The same on the lanes of the dispatched path.
    fn dispatched<T: Dispatch, const D: usize, M, P: LaneSampler<D, M>>(
        s: &P,
        m: &M,
        seed: u64,
        first: u64,
        xs: &mut [[T; D]],
    ) -> anyhow::Result<f64> {
        simd::run::<T, _>(SamplerBatch { s, m, seed, first, xs });
        Ok(0.0)
    }
    let stat = match job.sampler {
        SamplerKind::Langevin => {
            let s = Langevin::new(step, steps)?;
            run(&|first, xs| batch(&s, &model, seed, first, xs), true)?
        }
        SamplerKind::Mala => {
            let s = Mala::new(step, steps)?;
            let accepted = run(
                &|first, xs| {
                    let st = s.run_batch_with_stats::<T::Wide, T, D, _>(&model, seed, first, xs);
                    Ok(st.accepted as f64)
                },
                true,
            )?;
            accepted / steps.max(1) as f64
        }
        SamplerKind::AnnealedLangevin => {
            let noisy = mix.noisy();
            let s = AnnealedLangevin::new(
                sigma_max_of(&mix) as f32,
                ANNEAL_SIGMA_MIN as f32,
                ANNEAL_LEVELS,
                steps,
                step,
            )?;
            run(&|first, xs| batch(&s, &noisy, seed, first, xs), true)?
        }
        SamplerKind::EulerMaruyama => {
            let s = EulerMaruyama::new(sde, steps, eps as f32)?;
            run(&|first, xs| dispatched(&s, &model, seed, first, xs), false)?
        }
        SamplerKind::Pc => {
            let s =
                PredictorCorrector::new(sde, steps, eps as f32, job.snr as f32, CORRECTOR_STEPS)?;
            run(&|first, xs| batch(&s, &model, seed, first, xs), false)?
        }
        SamplerKind::Sra1 | SamplerKind::SdeHeun => {
            let method =
                if job.sampler == SamplerKind::Sra1 { SrkMethod::Sra1 } else { SrkMethod::Heun };
            let s = StochasticRk::new(sde, method, steps, eps as f32)?;
            run(&|first, xs| batch(&s, &model, seed, first, xs), false)?
        }
        // Run by `sample_ode` (in f64 only: see `sample_dk`).
        SamplerKind::Ode => return Err(anyhow!("the ode sampler computes in f64")),
        SamplerKind::Adaptive => {
            let opts = AdaptiveOptions::with_tol(job.atol, job.rtol);
            let s = AdaptiveSde::new(sde, eps as f32, opts)?;
            run(
                &|first, xs| {
                    let mut nfe = vec![Ok(0); xs.len()];
                    s.run_batch_with_status::<T::Wide, T, _, D>(&model, seed, first, xs, &mut nfe)?;
                    sum_nfe(first, &nfe)
                },
                false,
            )?
        }
        // Deterministic flows: from the exact p_T, as the ode sampler (see there).
        SamplerKind::EdmHeun => {
            let s = EdmHeun::new(sde, steps, eps as f32)?.starting_from_input();
            run(&|first, xs| from_exact_p_t(&s, &model, seed, first, xs), false)?
        }
        SamplerKind::DpmPp2m => {
            let s = DpmSolverPp2m::new(sde, steps, eps as f32)?.starting_from_input();
            run(&|first, xs| from_exact_p_t(&s, &model, seed, first, xs), false)?
        }
        SamplerKind::DpmPp3m => {
            let s = DpmSolverPp3m::new(sde, steps, eps as f32)?.starting_from_input();
            run(&|first, xs| from_exact_p_t(&s, &model, seed, first, xs), false)?
        }
        SamplerKind::UniPc => {
            let s = UniPc::new(sde, steps, eps as f32)?.starting_from_input();
            run(&|first, xs| from_exact_p_t(&s, &model, seed, first, xs), false)?
        }
    };
    Ok(stat / job.n.max(1) as f64)
}

/// The summed NFE of a block's samples `first..`, or the first failed sample's error.
fn sum_nfe(first: u64, nfe: &[Result<u32, flowscore::Error>]) -> anyhow::Result<f64> {
    let mut total = 0.0;
    for (k, r) in nfe.iter().enumerate() {
        total += f64::from(r.map_err(|e| anyhow!("sample {}: {e}", first + k as u64))?);
    }
    Ok(total)
}

/// Samples `first..first + xs.len()` of a deterministic probability-flow sampler started from
/// exact draws of p_T (see [`FromExactP`]).
fn from_exact_p_t<T: WideScalar, const D: usize, const K: usize, S, P>(
    sampler: &P,
    model: &MixtureScore<D, K, S>,
    seed: u64,
    first: u64,
    xs: &mut [[T; D]],
) -> anyhow::Result<f64>
where
    S: Sde,
    P: LaneSampler<D, MixtureScore<D, K, S>>,
{
    let lens = [("xs", xs.len())];
    let mut k = FromExactP { model, seed, xs, run: Flow(sampler) };
    for_each_chunk::<T::Wide, T, _>(first, &lens, &mut k)?;
    Ok(0.0)
}

/// A lane sampler's batch of samples `first..first + xs.len()` ([`LaneSampler::run_batch`]) as
/// work for [`simd::run`].
struct SamplerBatch<'a, P, M, T, const D: usize> {
    s: &'a P,
    m: &'a M,
    seed: u64,
    first: u64,
    xs: &'a mut [[T; D]],
}

impl<P: LaneSampler<D, M>, M, T: Dispatch, const D: usize> LaneWork<T>
    for SamplerBatch<'_, P, M, T, D>
{
    type Output = ();
    #[inline(always)]
    fn run<W: Lane<Scalar = T>>(self) {
        self.s.run_batch::<W, T>(self.m, self.seed, self.first, self.xs);
    }
}

/// A chunk of probability-flow samples started from exact draws of p_T: lane j draws
/// x_T = α_T x₀ + σ_T ξ from the stream (seed, index + j) and continues on it, so sample i is
/// the same bits on any lane width.
struct FromExactP<'a, M, R, T, const D: usize> {
    model: &'a M,
    seed: u64,
    xs: &'a mut [[T; D]],
    run: R,
}

/// [`FromExactP`] with a fixed-step probability-flow sampler.
struct Flow<'a, P>(&'a P);

/// [`FromExactP`] with the adaptive ODE solve to ε; each sample's NFE or error into `nfe`.
struct Ode<'a, 'b> {
    solver: &'a OdeSolver,
    eps: f64,
    nfe: &'b mut [Result<u32, flowscore::Error>],
}

/// What a [`FromExactP`] chunk does after drawing x_T: carries `x` (x_T on entry) to the
/// sample, on the lanes' streams.
trait FromP<const D: usize, M> {
    fn carry<L: Lane>(
        &mut self,
        model: &M,
        x: &mut [L; D],
        rng: &mut Streams<L>,
        items: &Range<usize>,
    ) -> Result<(), flowscore::Error>;
}

impl<const D: usize, M, P: LaneSampler<D, M>> FromP<D, M> for Flow<'_, P> {
    fn carry<L: Lane>(
        &mut self,
        model: &M,
        x: &mut [L; D],
        rng: &mut Streams<L>,
        _: &Range<usize>,
    ) -> Result<(), flowscore::Error> {
        self.0.run(model, x, rng);
        Ok(())
    }
}

impl<const D: usize, const K: usize, S: Sde> FromP<D, MixtureScore<D, K, S>> for Ode<'_, '_> {
    fn carry<L: Lane>(
        &mut self,
        model: &MixtureScore<D, K, S>,
        x: &mut [L; D],
        _: &mut Streams<L>,
        items: &Range<usize>,
    ) -> Result<(), flowscore::Error> {
        let field = ProbabilityFlow::new(model, model.sde());
        let t_max = f64::from(model.sde().t_max());
        let sol = transport(&field, self.solver, *x, t_max, self.eps)?;
        *x = sol.y;
        for (j, o) in part_mut(self.nfe, items)?.iter_mut().enumerate() {
            *o = sol.lane_result(j).map(|()| sol.nfe_lane(j));
        }
        Ok(())
    }
}

impl<const D: usize, const K: usize, S, R, T> ChunkKernel<T>
    for FromExactP<'_, MixtureScore<D, K, S>, R, T, D>
where
    S: Sde,
    R: FromP<D, MixtureScore<D, K, S>>,
    T: Scalar,
{
    fn chunk<L: Lane<Scalar = T>>(
        &mut self,
        index: u64,
        items: Range<usize>,
    ) -> Result<(), flowscore::Error> {
        let mut rng = Streams::<L>::new(self.seed, index);
        let t_max = <L as Lane>::from_f64(f64::from(self.model.sde().t_max()));
        let mut x: [L; D] = self.model.sample_at(t_max, &mut rng);
        self.run.carry(self.model, &mut x, &mut rng, &items)?;
        scatter(&x, part_mut(self.xs, &items)?);
        Ok(())
    }
}

/// Samples per parallel task of [`run_lanes`]: whole lane groups (of 8 and of 4), enough
/// work to amortise a task.
const BLOCK: usize = 256;

/// Runs a block sampler over samples `0..n` in [`CHUNK`]s, each chunk's [`BLOCK`]s in
/// parallel (`block(first, xs)` runs samples `first..first + xs.len()` on the core's lanes,
/// sample i on the stream (seed, i), as the scalar run does: the bits do not depend on the
/// lane width, the block or the thread count). Chains start at `start(i)`, or at zero for
/// samplers that draw their own start; a chain that did not move, or a non-finite sample, is
/// an error (the first in index order). Hands each chunk to `sink` in `f64`; returns the
/// blocks' summed statistic.
fn run_lanes<T: Scalar, const D: usize>(
    block: Block<'_, T, D>,
    start: Option<&(dyn Fn(u64) -> [T; D] + Sync)>,
    n: usize,
    moved: &(dyn Fn(u64, &[T; D]) -> anyhow::Result<()> + Sync),
    sink: Sink<'_>,
) -> anyhow::Result<f64> {
    use rayon::prelude::*;
    let mut total = 0.0;
    let mut xs: Vec<[T; D]> = Vec::new();
    xs.try_reserve_exact(CHUNK.min(n)).map_err(|_| anyhow!("not enough memory"))?;
    let mut buf: Vec<f64> = Vec::new();
    buf.try_reserve_exact(CHUNK.min(n) * D).map_err(|_| anyhow!("not enough memory"))?;
    let mut lo = 0usize;
    while lo < n {
        let hi = (lo + CHUNK).min(n);
        xs.clear();
        xs.extend((lo..hi).map(|i| start.map_or([T::default(); D], |f| f(i as u64))));
        let stats: Vec<anyhow::Result<f64>> = xs
            .par_chunks_mut(BLOCK)
            .enumerate()
            .map(|(b, blk)| block((lo + b * BLOCK) as u64, blk))
            .collect();
        for s in stats {
            total += s?;
        }
        buf.clear();
        for (k, x) in xs.iter().enumerate() {
            if x.iter().any(|v| !v.to_f64().is_finite()) {
                return Err(non_finite_sample((lo + k) as u64));
            }
            if start.is_some() {
                moved((lo + k) as u64, x)?;
            }
            buf.extend(x.iter().map(|v| v.to_f64()));
        }
        sink(&buf)?;
        lo = hi;
    }
    Ok(total)
}

/// NCSN's technique 1: σ₁ = the largest distance between two means (at least 1).
fn sigma_max_of<const D: usize, const K: usize>(mix: &GaussianMixture<D, K>) -> f64 {
    let mut dmax: f64 = 1.0;
    let w = mix.weights();
    let m = mix.means();
    for a in 0..K {
        for b in 0..K {
            if w[a] > 0.0 && w[b] > 0.0 {
                let d: f64 =
                    (0..D).map(|i| (m[a][i] as f64 - m[b][i] as f64).powi(2)).sum::<f64>().sqrt();
                dmax = dmax.max(d);
            }
        }
    }
    dmax
}

fn loglik_dk<const D: usize, const K: usize>(
    mix: GaussianMixture<D, K>,
    data: &Table,
    job: &LoglikSettings,
) -> anyhow::Result<LoglikOutput> {
    let sde: AnySde = job.sde;
    let model = mix.under(sde);
    let mut out = LoglikOutput { log_p: Vec::new(), nfe: Vec::new() };
    if job.method != Method::Exact {
        // The mixture's closed-form divergence (one pass with its score): exact, as the duals;
        // its solve is inlined for the dispatched lanes.
        let exact = (&ClosedFormDivergence, super::pf_rows::Dispatched);
        pf_rows(&model, &sde, &ExactPrior(&model), exact, data, &job.into(), &mut out)?;
        return Ok(out);
    }
    out.log_p.try_reserve(data.rows).map_err(|_| anyhow!("not enough memory for the output"))?;
    out.nfe.try_reserve(data.rows).map_err(|_| anyhow!("not enough memory for the output"))?;
    par::map_chunks(
        data.rows as u64,
        |idx| {
            let i = idx as usize;
            let x: [f64; D] = core::array::from_fn(|j| data.row(i)[j]);
            let l = exact_log_density(&model, &x, job.eps);
            if !l.is_finite() {
                return Err(anyhow!(
                    "row {i}: the log-density is not representable in f64 ({l}; the point is \
                     too far from the target)"
                ));
            }
            Ok(l)
        },
        |rows| {
            for r in rows {
                out.log_p.push(r?);
                out.nfe.push(0);
            }
            Ok(())
        },
    )?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flowscore::sde::Vp;

    fn settings(sampler: SamplerKind, n: usize) -> SampleSettings {
        settings_in(sampler, n, Precision::F64)
    }

    fn settings_in(sampler: SamplerKind, n: usize, precision: Precision) -> SampleSettings {
        SampleSettings {
            sampler,
            sde: AnySde::Vp(Vp::default()),
            n,
            steps: 12,
            step_size: 0.05,
            snr: 0.16,
            rtol: 1e-2,
            atol: 1e-2,
            seed: 0xfeed,
            precision,
        }
    }

    /// Sample i of a collected run, as `T` bits.
    fn row_bits<T: Scalar>(out: &SampleOutput, i: usize) -> Vec<u64> {
        out.table.row(i).iter().map(|v| <T as Scalar>::from_f64(*v).to_f64().to_bits()).collect()
    }

    /// `x`'s bits through `f64`, as [`row_bits`] reads them.
    fn bits<T: Scalar, const D: usize>(x: &[T; D]) -> Vec<u64> {
        x.iter().map(|v| v.to_f64().to_bits()).collect()
    }

    /// Every sampler that draws its own start, in both precisions: the lane blocks give every
    /// index the bits of its own scalar run (stream (seed, i)), across lane groups, the scalar
    /// tail and two parallel blocks: the Euler–Maruyama chain, the probability-flow samplers
    /// from their exact draw of p_T, the ODE solve and the adaptive SDE solve.
    fn lanes_match_scalar_runs<T: WideScalar>(precision: Precision) {
        let spec = Spec::ncsn_mixture();
        let mix = mixture!(2, 16, &spec).unwrap();
        let n = BLOCK + 13;
        let picks = [0, 5, 7, 8, BLOCK - 1, BLOCK, BLOCK + 8, n - 1];
        for kind in [
            SamplerKind::EulerMaruyama,
            SamplerKind::EdmHeun,
            SamplerKind::DpmPp2m,
            SamplerKind::DpmPp3m,
            SamplerKind::UniPc,
            SamplerKind::Ode,
            SamplerKind::Adaptive,
        ] {
            let job = settings_in(kind, n, precision);
            let out = sample(&spec, &job).unwrap();
            if kind == SamplerKind::Ode && precision == Precision::F32 {
                // The ODE sampler computes in f64 whatever the settings say.
                let f64_job = settings_in(kind, n, Precision::F64);
                assert_eq!(out.table.data, sample(&spec, &f64_job).unwrap().table.data);
                continue;
            }
            let sde = job.sde;
            let model = mix.under(sde);
            let eps = sde.sampling_eps() as f32;
            let t_max = f64::from(sde.t_max());
            let mut nfe = 0.0;
            for i in 0..n {
                let mut rng = Streams::<T>::new(job.seed, i as u64);
                let mut x = [T::default(); 2];
                match kind {
                    SamplerKind::EulerMaruyama => {
                        EulerMaruyama::new(sde, job.steps, eps)
                            .unwrap()
                            .run(&model, &mut x, &mut rng);
                    }
                    SamplerKind::Adaptive => {
                        let opts = AdaptiveOptions::with_tol(job.atol, job.rtol);
                        let st = AdaptiveSde::new(sde, eps, opts)
                            .unwrap()
                            .run_with_stats(&model, &mut x, &mut rng);
                        nfe += f64::from(st.lane_result(0).unwrap());
                    }
                    SamplerKind::Ode => {
                        let x_t: [T; 2] = model.sample_at(<T as Lane>::from_f64(t_max), &mut rng);
                        let field = ProbabilityFlow::new(&model, &sde);
                        let solver = OdeSolver::Adaptive(Dopri5Options::default());
                        let sol = transport(&field, &solver, x_t, t_max, f64::from(eps)).unwrap();
                        nfe += f64::from(sol.nfe_lane(0));
                        x = sol.y;
                    }
                    _ => {
                        x = model.sample_at(<T as Lane>::from_f64(t_max), &mut rng);
                        let steps = job.steps;
                        match kind {
                            SamplerKind::EdmHeun => EdmHeun::new(sde, steps, eps)
                                .unwrap()
                                .starting_from_input()
                                .run(&model, &mut x, &mut rng),
                            SamplerKind::DpmPp2m => DpmSolverPp2m::new(sde, steps, eps)
                                .unwrap()
                                .starting_from_input()
                                .run(&model, &mut x, &mut rng),
                            SamplerKind::UniPc => UniPc::new(sde, steps, eps)
                                .unwrap()
                                .starting_from_input()
                                .run(&model, &mut x, &mut rng),
                            _ => DpmSolverPp3m::new(sde, steps, eps)
                                .unwrap()
                                .starting_from_input()
                                .run(&model, &mut x, &mut rng),
                        };
                    }
                }
                if picks.contains(&i) {
                    assert_eq!(row_bits::<T>(&out, i), bits(&x), "{kind:?} {precision:?} {i}");
                }
            }
            if matches!(kind, SamplerKind::Ode | SamplerKind::Adaptive) {
                assert_eq!(out.mean_stat, nfe / n as f64, "{kind:?} mean NFE");
            }
        }
    }

    #[test]
    fn lane_blocks_give_every_index_its_scalar_run_in_f32_and_f64() {
        lanes_match_scalar_runs::<f32>(Precision::F32);
        lanes_match_scalar_runs::<f64>(Precision::F64);
    }

    /// The batched lane path returns, for every index, the bits of the scalar chain of that
    /// index (stream (seed, i); Langevin chains from the box point of stream (seed + 1, i)),
    /// across lane groups, the scalar tail, parallel blocks and the chunk boundary.
    #[test]
    fn lane_batches_give_every_index_its_scalar_chain() {
        let spec = Spec::ncsn_mixture();
        let mix = mixture!(2, 16, &spec).unwrap();
        let n = CHUNK + BLOCK + 7;
        let picks = [0, 3, BLOCK - 1, BLOCK, BLOCK + 5, CHUNK - 1, CHUNK, n - 1];

        let job = settings(SamplerKind::EulerMaruyama, n);
        let got = sample(&spec, &job).unwrap().table;
        let sde = job.sde;
        let model = mix.under(sde);
        let em = EulerMaruyama::new(sde, job.steps, sde.sampling_eps() as f32).unwrap();
        for i in picks {
            let mut x = [0.0f64; 2];
            em.run(&model, &mut x, &mut Streams::<f64>::new(job.seed, i as u64));
            assert_eq!(
                got.row(i).iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                [x[0].to_bits(), x[1].to_bits()]
            );
        }

        let n = 3 * BLOCK + 3;
        let job = settings(SamplerKind::Mala, n);
        let out = sample(&spec, &job).unwrap();
        let bx = start_box(&spec);
        let mala = Mala::new(job.step_size as f32, job.steps).unwrap();
        let mut accepted = 0.0;
        for i in 0..n {
            let mut rng = Streams::<f64>::new(job.seed.wrapping_add(1), i as u64);
            let mut x: [f64; 2] =
                core::array::from_fn(|j| bx.0[j] + (bx.1[j] - bx.0[j]) * rng.uniform());
            accepted +=
                mala.run_counting(&model, &mut x, &mut Streams::<f64>::new(job.seed, i as u64));
            assert_eq!(out.table.row(i), &x[..], "sample {i}");
        }
        let rate = accepted / (job.steps as f64 * n as f64);
        assert!((out.mean_stat - rate).abs() < 1e-12, "{} vs {rate}", out.mean_stat);
    }
    /// The lane path of `loglik --method ode` (the mixture's closed-form divergence) gives every
    /// row the bits of its own scalar solve (index i), across lane groups, the scalar tail and
    /// parallel blocks; and a row far out is still solved to the closed form's value within
    /// the tolerance.
    #[test]
    fn ode_rows_give_every_row_its_scalar_solve() {
        use crate::jobs::pf_rows::BLOCK;
        use flowscore::likelihood::{PfConfig, pf_log_likelihood};
        let spec = Spec::ncsn_mixture();
        let mix = mixture!(2, 16, &spec).unwrap();
        let n = BLOCK + 6;
        let data: Vec<f64> = (0..n)
            .flat_map(|i| {
                let t = i as f64 * 0.37;
                [6.0 * t.cos(), 5.0 * t.sin()]
            })
            .collect();
        let table = Table { rows: n, cols: 2, data };
        let job = LoglikSettings {
            method: Method::Ode,
            sde: AnySde::Vp(Vp::default()),
            eps: 1e-5,
            ode: crate::jobs::OdeOptions { rtol: 1e-5, atol: 1e-5, max_steps: 10_000 },
            probes: 1,
            seed: 3,
        };
        let out = loglik(&spec, &table, &job).unwrap();
        let model = mix.under(job.sde);
        let cfg = PfConfig {
            eps: job.eps,
            opts: Dopri5Options { max_steps: 10_000, ..Dopri5Options::with_tol(1e-5, 1e-5) },
        };
        for i in [0, 1, 3, 4, 7, BLOCK - 1, BLOCK, BLOCK + 3, n - 1] {
            let x = [table.row(i)[0], table.row(i)[1]];
            let r = pf_log_likelihood(
                &model,
                &job.sde,
                &ClosedFormDivergence,
                &ExactPrior(&model),
                &x,
                i as u64,
                &cfg,
            )
            .and_then(|l| l.lane(0))
            .unwrap();
            assert_eq!((out.log_p[i].to_bits(), out.nfe[i]), (r.log_p.to_bits(), r.nfe), "row {i}");
            let exact = exact_log_density(&model, &x, job.eps);
            assert!((out.log_p[i] - exact).abs() < 1e-3, "row {i}: {} vs {exact}", out.log_p[i]);
        }
    }
}
