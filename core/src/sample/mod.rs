//! Samplers driven by a score model (MATH.md §4, §5, §6): Langevin (ULA), MALA, annealed
//! Langevin (NCSN); for the reverse SDE Euler–Maruyama, predictor–corrector, stochastic
//! Runge–Kutta (SRA1, stochastic Heun) and the adaptive EM/improved-Euler solver; and the
//! few-step probability-flow samplers EDM-Heun, DPM-Solver++(2M) and (3M) and UniPC.
//! [`SAMPLERS`] lists them.
//!
//! Every sampler implements [`LaneSampler`]: it runs one independent chain per lane from that
//! lane's own random stream. The batch methods of the trait give sample `i` of a batch the stream
//! `Streams::new(seed, first_index + i)` and process full chunks of the batch lanes
//! ([`WideScalar::Wide`]: 16 for `f32`, two `f32x8`; 4 for `f64x4`)
//! with the tail in scalars, so the batch size and the lane width never change a sample's bits.
//! Parameters are validated at construction; running never panics (a NaN stays in its own lane).

use core::ops::Range;

use crate::batch::{ChunkKernel, WideScalar, for_each_chunk, gather, part_mut, scatter};
use crate::error::Error;
use crate::lane::Lane;
use crate::rng::{LaneSource, Streams};

pub mod adaptive;
pub mod annealed;
pub mod euler_maruyama;
pub mod few_step;
pub mod langevin;
pub mod mala;
pub mod pc;
pub mod srk;
pub mod unipc;

pub use adaptive::{AdaptiveOptions, AdaptiveSde, AdaptiveStats};
pub use annealed::AnnealedLangevin;
pub use euler_maruyama::EulerMaruyama;
pub use few_step::{
    DpmSolverPp2m, DpmSolverPp3m, EdmHeun, NoiseSchedule, SecondDerivative, Spacing,
};
pub use langevin::Langevin;
pub use mala::{Mala, MalaStats};
pub use pc::{CorrectorStep, PredictorCorrector};
pub use srk::{SrkMethod, StochasticRk};
pub use unipc::{UNIPC_MAX_ORDER, UniPc, UniPcVariant};

/// A sampler's command-line name, its type, and its score evaluations per sample.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SamplerInfo {
    /// The name a command line offers (`--sampler NAME`).
    pub name: &'static str,
    /// What it is, in a few words.
    pub summary: &'static str,
    /// Score evaluations per sample in terms of its step count N (or "adaptive").
    pub evaluations: &'static str,
}

/// Every sampler of this module and the probability-flow ODE sampler of
/// [`crate::likelihood::sampling`], for command lines and documentation.
pub const SAMPLERS: [SamplerInfo; 13] = [
    SamplerInfo { name: "langevin", summary: "Langevin (ULA)", evaluations: "N" },
    SamplerInfo {
        name: "mala",
        summary: "Metropolis-adjusted Langevin",
        evaluations: "N (+ log p)",
    },
    SamplerInfo { name: "annealed", summary: "annealed Langevin (NCSN)", evaluations: "L·T" },
    SamplerInfo { name: "em", summary: "reverse-SDE Euler–Maruyama", evaluations: "N" },
    SamplerInfo {
        name: "pc",
        summary: "reverse diffusion + Langevin corrector",
        evaluations: "2N",
    },
    SamplerInfo {
        name: "sra1",
        summary: "reverse-SDE stochastic Runge–Kutta SRA1 (strong order 1.5)",
        evaluations: "2N",
    },
    SamplerInfo {
        name: "sde-heun",
        summary: "reverse-SDE stochastic Heun (strong order 1)",
        evaluations: "2N",
    },
    SamplerInfo {
        name: "adaptive-sde",
        summary: "adaptive EM / improved Euler (Jolicoeur-Martineau et al. 2021)",
        evaluations: "adaptive",
    },
    SamplerInfo {
        name: "ode",
        summary: "probability-flow ODE, adaptive Dormand–Prince 5(4)",
        evaluations: "adaptive",
    },
    SamplerInfo {
        name: "edm-heun",
        summary: "probability-flow Heun on the EDM schedule (Karras et al. 2022)",
        evaluations: "2N",
    },
    SamplerInfo {
        name: "dpmpp-2m",
        summary: "probability-flow DPM-Solver++(2M) (Lu et al. 2022)",
        evaluations: "N",
    },
    SamplerInfo {
        name: "dpmpp-3m",
        summary: "probability-flow DPM-Solver++(3M) (Lu et al. 2022), log-SNR steps",
        evaluations: "N",
    },
    SamplerInfo {
        name: "unipc",
        summary: "probability-flow UniPC, order 3 (Zhao et al. 2023), steps uniform in √t",
        evaluations: "N",
    },
];

/// A sampler that runs one chain per lane: every sampler of this module, and the
/// probability-flow ODE sampler ([`crate::likelihood::sampling::PfOdeSampler`]).
///
/// `M` is the model type the sampler needs (a score model, or one that also knows its
/// log-density). Samplers with statistics report them through their own methods
/// ([`Mala::run_counting`], [`AdaptiveSde::run_with_stats`],
/// [`crate::likelihood::sampling::pf_sample_batch`]).
pub trait LaneSampler<const D: usize, M: ?Sized> {
    /// Run each lane's chain to its end. On entry `x` holds the initial states (samplers that
    /// start from the SDE prior draw their own and ignore it); on exit, the samples.
    fn run<L: Lane, G: LaneSource<L>>(&self, model: &M, x: &mut [L; D], rng: &mut G);

    /// Run sample `first_index + i` on `xs[i]` for every `i`, with `W`-wide lanes on full chunks
    /// and `N` scalars on the tail ([`crate::batch::for_each_chunk`]).
    #[inline(always)]
    fn run_batch<W, N>(&self, model: &M, seed: u64, first_index: u64, xs: &mut [[N; D]])
    where
        W: Lane<Scalar = N>,
        N: Lane<Scalar = N> + crate::lane::Scalar,
    {
        let n = xs.len();
        let mut k = RunKernel { sampler: self, model, seed, xs };
        // One slice: the length check cannot fail, and running a chain has no error.
        let _ = for_each_chunk::<W, N, _>(first_index, &[("xs", n)], &mut k);
    }

    /// [`LaneSampler::run_batch`] in `f32` on the `f32` batch lanes ([`WideScalar::Wide`]).
    fn sample_batch(&self, model: &M, seed: u64, first_index: u64, xs: &mut [[f32; D]]) {
        self.run_batch::<<f32 as WideScalar>::Wide, f32>(model, seed, first_index, xs)
    }
    /// [`LaneSampler::run_batch`] in `f64` on the `f64` batch lanes ([`WideScalar::Wide`]).
    fn sample_batch_f64(&self, model: &M, seed: u64, first_index: u64, xs: &mut [[f64; D]]) {
        self.run_batch::<<f64 as WideScalar>::Wide, f64>(model, seed, first_index, xs)
    }
}

/// [`LaneSampler::run_batch`] on one chunk: the chunk's states gathered into lanes, the chains
/// run on the streams of their indices, the samples scattered back.
struct RunKernel<'a, P: ?Sized, M: ?Sized, N, const D: usize> {
    sampler: &'a P,
    model: &'a M,
    seed: u64,
    xs: &'a mut [[N; D]],
}

impl<P, M, N, const D: usize> ChunkKernel<N> for RunKernel<'_, P, M, N, D>
where
    P: LaneSampler<D, M> + ?Sized,
    M: ?Sized,
    N: crate::lane::Scalar,
{
    #[inline(always)]
    fn chunk<L: Lane<Scalar = N>>(&mut self, index: u64, items: Range<usize>) -> Result<(), Error> {
        let xs = part_mut(self.xs, &items)?;
        let mut x: [L; D] = gather(xs);
        self.sampler.run(self.model, &mut x, &mut Streams::<L>::new(self.seed, index));
        scatter(&x, xs);
        Ok(())
    }
}

/// One Langevin move x ← x + a·s + √(2a)·z (MATH.md §4), lane-wise step `a`.
#[inline(always)]
pub(crate) fn langevin_move<L: Lane, const D: usize>(x: &mut [L; D], s: &[L; D], a: L, z: &[L; D]) {
    let noise = crate::real::Real::sqrt(a + a);
    for ((xi, si), zi) in x.iter_mut().zip(s.iter()).zip(z.iter()) {
        *xi += a * *si + noise * *zi;
    }
}

/// Check a step size or noise level: finite and > 0.
pub(crate) fn positive(name: &'static str, v: f32) -> Result<f32, crate::Error> {
    crate::error::finite(name, v)?;
    if v > 0.0 {
        Ok(v)
    } else {
        Err(crate::Error::InvalidParameter { name, reason: "must be > 0" })
    }
}

/// Check a fixed evaluation time (or noise level): finite and ≥ 0.
pub(crate) fn non_negative(name: &'static str, v: f32) -> Result<f32, crate::Error> {
    crate::error::finite(name, v)?;
    if v >= 0.0 {
        Ok(v)
    } else {
        Err(crate::Error::InvalidParameter { name, reason: "must be ≥ 0" })
    }
}

/// Check a step count: ≥ 1.
pub(crate) fn at_least_one(name: &'static str, n: u32) -> Result<u32, crate::Error> {
    if n >= 1 {
        Ok(n)
    } else {
        Err(crate::Error::InvalidParameter { name, reason: "must be ≥ 1" })
    }
}
