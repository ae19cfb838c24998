//! The `sample` job: N draws from a Gaussian-mixture target with a sampler driven by its exact
//! score, written as an N × D table.

use std::path::PathBuf;
use std::time::Instant;

use crate::io::{Spec, Staged, TableWriter, check_output};
use crate::jobs::{Say, Standardised, mixture, not_for};
use crate::sde_kind::AnySde;

/// Default number of annealed-Langevin noise levels L: twice NCSN's 10. With σ₁ = 14 (the ncsn
/// mixture's mode distance) ten levels change σ by 0.45× per level, coarse at the level where the
/// modes separate; with 20 the demo finds 0.786 on the 0.8 mode at seed 0 (`summary.md`).
pub const ANNEAL_LEVELS: u32 = 20;
/// Default smallest annealed-Langevin noise level σ_L (NCSN).
pub const ANNEAL_SIGMA_MIN: f64 = 0.01;
/// Default Langevin / MALA step size (for unit-scale mixtures such as the ncsn one).
pub const DEFAULT_LANGEVIN_STEP: f64 = 0.05;
/// Default annealed-Langevin ε (NCSN's 2e-5: αᵢ = ε σᵢ²/σ_L² = 0.2 σᵢ² with σ_L = 0.01, small
/// enough that the discretisation does not inflate the variance at the levels where the modes
/// separate; ε = 1e-4 moved the ncsn weights from 0.80 to 0.76).
pub const DEFAULT_ANNEALED_STEP: f64 = 2e-5;
/// Default annealed-Langevin steps per noise level (NCSN's T = 100).
pub const DEFAULT_ANNEALED_STEPS: u32 = 100;
/// Default steps of the other samplers (score_sde's N = 1000).
pub const DEFAULT_STEPS: u32 = flowscore::sde::DEFAULT_STEPS;
/// Default predictor–corrector signal-to-noise ratio (score_sde's 0.16).
/// (The core's constant is `f32`; written here in `f64` so that `--help` shows 0.16.)
pub const DEFAULT_SNR: f64 = 0.16;
const _: () = assert!(DEFAULT_SNR as f32 == flowscore::sample::pc::DEFAULT_SNR);
/// Default steps of the stochastic Runge–Kutta samplers (sra1, sde-heun): 2 score evaluations
/// each, so 200 per sample (`BENCHMARKS.md`, quality per score evaluation).
pub const DEFAULT_SRK_STEPS: u32 = 100;
/// Default EDM-Heun steps: 2 score evaluations each, so 100 per sample.
pub const DEFAULT_EDM_STEPS: u32 = 50;
/// Default DPM-Solver++(2M) steps: 1 score evaluation each, so 100 per sample.
pub const DEFAULT_DPM_STEPS: u32 = 100;
/// Default DPM-Solver++(3M) steps: 1 score evaluation each, so 50 per sample (where it meets
/// the converged flow on BENCHMARKS.md's mixtures).
pub const DEFAULT_DPM3_STEPS: u32 = 50;
/// Default UniPC steps (one score evaluation each): at 20 its samples are within 2e-6 (sliced
/// energy distance) of the converged probability flow's from the same start points on
/// BENCHMARKS.md's mixtures, about 1 % of the exact-vs-exact noise there.
pub const DEFAULT_UNIPC_STEPS: u32 = 20;
/// Default relative tolerance ε_rel of the adaptive reverse-SDE sampler (Jolicoeur-Martineau
/// et al. 2021).
pub const DEFAULT_ADAPTIVE_RTOL: f64 = flowscore::sample::adaptive::DEFAULT_REL_TOL;
/// Default absolute tolerance ε_abs of the adaptive reverse-SDE sampler (Jolicoeur-Martineau
/// et al. 2021).
pub const DEFAULT_ADAPTIVE_ATOL: f64 = flowscore::sample::adaptive::DEFAULT_ABS_TOL;
/// Smallest `--rtol` / `--atol` of the adaptive sampler (below it the attempts needed exceed
/// the solver's bound of 10 000 per sample).
pub const ADAPTIVE_TOL_MIN: f64 = 1e-5;
/// Largest `--rtol` / `--atol` of the adaptive sampler.
pub const ADAPTIVE_TOL_MAX: f64 = 1.0;

/// The floating-point precision `sample` computes in.
///
/// The targets' parameters are `f32`, so `f32` (16 samples per chunk, on two `f32x8` vectors) is the
/// default but for the ODE sampler ([`SamplerKind::default_precision`]); `f64` (four per
/// `f64x4`) carries the samplers' arithmetic in double precision.
/// Either way sample i is a function of (seed, i) alone: the bits do not depend on the lane
/// width, the block or the thread count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum Precision {
    /// Single precision, two `f32x8` vectors per chunk.
    F32,
    /// Double precision, `f64x4` lanes.
    F64,
}

/// Which sampler `sample` runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum SamplerKind {
    /// Unadjusted Langevin on p₀.
    Langevin,
    /// Metropolis-adjusted Langevin on p₀.
    Mala,
    /// Annealed Langevin (NCSN).
    AnnealedLangevin,
    /// Reverse-SDE Euler–Maruyama.
    EulerMaruyama,
    /// Predictor–corrector (reverse diffusion + Langevin corrector).
    Pc,
    /// Probability-flow ODE (Dormand–Prince 5(4)).
    Ode,
    /// Reverse-SDE stochastic Runge–Kutta SRA1 (Rößler 2010, strong order 1.5).
    Sra1,
    /// Reverse-SDE stochastic Heun (strong order 1).
    SdeHeun,
    /// Adaptive reverse-SDE steps (Euler–Maruyama / improved Euler, Jolicoeur-Martineau et al.
    /// 2021).
    Adaptive,
    /// Probability-flow Heun on the EDM noise schedule (Karras et al. 2022).
    EdmHeun,
    /// Probability-flow DPM-Solver++(2M) (Lu et al. 2022).
    #[cfg_attr(feature = "cli", value(name = "dpmpp-2m"))]
    DpmPp2m,
    /// Probability-flow DPM-Solver++(3M) (Lu et al. 2022), steps uniform in log-SNR.
    #[cfg_attr(feature = "cli", value(name = "dpmpp-3m"))]
    DpmPp3m,
    /// Probability-flow UniPC, order 3 (Zhao et al. 2023), steps uniform in √t.
    #[cfg_attr(feature = "cli", value(name = "unipc"))]
    UniPc,
}

impl SamplerKind {
    /// The name on the command line (`--sampler NAME`).
    pub fn name(self) -> &'static str {
        match self {
            SamplerKind::Langevin => "langevin",
            SamplerKind::Mala => "mala",
            SamplerKind::AnnealedLangevin => "annealed-langevin",
            SamplerKind::EulerMaruyama => "euler-maruyama",
            SamplerKind::Pc => "pc",
            SamplerKind::Ode => "ode",
            SamplerKind::Sra1 => "sra1",
            SamplerKind::SdeHeun => "sde-heun",
            SamplerKind::Adaptive => "adaptive",
            SamplerKind::EdmHeun => "edm-heun",
            SamplerKind::DpmPp2m => "dpmpp-2m",
            SamplerKind::DpmPp3m => "dpmpp-3m",
            SamplerKind::UniPc => "unipc",
        }
    }

    /// Every sampler, in the order `--help` lists them.
    pub const ALL: [SamplerKind; 13] = [
        SamplerKind::Langevin,
        SamplerKind::Mala,
        SamplerKind::AnnealedLangevin,
        SamplerKind::EulerMaruyama,
        SamplerKind::Pc,
        SamplerKind::Ode,
        SamplerKind::Sra1,
        SamplerKind::SdeHeun,
        SamplerKind::Adaptive,
        SamplerKind::EdmHeun,
        SamplerKind::DpmPp2m,
        SamplerKind::DpmPp3m,
        SamplerKind::UniPc,
    ];

    /// Whether `--steps` applies (every sampler with a fixed number of steps).
    pub fn takes_steps(self) -> bool {
        !matches!(self, SamplerKind::Ode | SamplerKind::Adaptive)
    }

    /// Whether the sampler runs an SDE (`--sde` applies): all but the Langevin family.
    pub fn takes_sde(self) -> bool {
        !matches!(self, SamplerKind::Langevin | SamplerKind::Mala | SamplerKind::AnnealedLangevin)
    }

    /// The precision this sampler computes in by default: `f64` for `ode` (its tolerance
    /// rtol = atol = 1e-5, score_sde's, is near `f32`'s resolution: Dormand–Prince's step
    /// falls below its minimum on some samples), `f32` for every other sampler.
    pub fn default_precision(self) -> Precision {
        if self == SamplerKind::Ode { Precision::F64 } else { Precision::F32 }
    }

    /// The default `--steps` (per noise level for annealed Langevin; 0 for the adaptive ones).
    pub fn default_steps(self) -> u32 {
        match self {
            SamplerKind::AnnealedLangevin => DEFAULT_ANNEALED_STEPS,
            SamplerKind::Sra1 | SamplerKind::SdeHeun => DEFAULT_SRK_STEPS,
            SamplerKind::EdmHeun => DEFAULT_EDM_STEPS,
            SamplerKind::DpmPp2m => DEFAULT_DPM_STEPS,
            SamplerKind::DpmPp3m => DEFAULT_DPM3_STEPS,
            SamplerKind::UniPc => DEFAULT_UNIPC_STEPS,
            SamplerKind::Ode | SamplerKind::Adaptive => 0,
            _ => DEFAULT_STEPS,
        }
    }

    /// Score evaluations per sample with `steps` steps (annealed Langevin: per noise level),
    /// or `None` for the adaptive samplers, whose count varies per sample. MALA's count is
    /// that of its proposals (each also evaluates log p).
    pub fn evaluations(self, steps: u32) -> Option<u64> {
        let n = u64::from(steps);
        match self {
            SamplerKind::Langevin | SamplerKind::Mala | SamplerKind::EulerMaruyama => Some(n),
            SamplerKind::AnnealedLangevin => Some(n * u64::from(ANNEAL_LEVELS)),
            SamplerKind::Pc => Some(n * (1 + u64::from(CORRECTOR_STEPS))),
            SamplerKind::Sra1 | SamplerKind::SdeHeun | SamplerKind::EdmHeun => Some(2 * n),
            SamplerKind::DpmPp2m | SamplerKind::DpmPp3m | SamplerKind::UniPc => Some(n),
            SamplerKind::Ode | SamplerKind::Adaptive => None,
        }
    }
}

/// Corrector moves per predictor step of the predictor–corrector sampler (score_sde's default).
pub const CORRECTOR_STEPS: u32 = flowscore::sample::pc::DEFAULT_CORRECTOR_STEPS;

/// Settings of one sampler run (defaults already filled in).
#[derive(Clone, Copy, Debug)]
pub struct SampleSettings {
    /// The sampler.
    pub sampler: SamplerKind,
    /// The SDE (reverse-SDE, PC and ODE samplers).
    pub sde: AnySde,
    /// Number of samples.
    pub n: usize,
    /// Steps (per level for annealed Langevin).
    pub steps: u32,
    /// Step size (Langevin samplers).
    pub step_size: f64,
    /// Corrector signal-to-noise ratio.
    pub snr: f64,
    /// Relative tolerance ε_rel (adaptive reverse-SDE sampler).
    pub rtol: f64,
    /// Absolute tolerance ε_abs (adaptive reverse-SDE sampler).
    pub atol: f64,
    /// Seed.
    pub seed: u64,
    /// The precision the sampler computes in.
    pub precision: Precision,
}

/// What a collected sampler run returns: the samples and per-sample statistics.
#[derive(Clone, Debug)]
pub struct SampleOutput {
    /// N × D samples.
    pub table: crate::data::Table,
    /// Mean NFE (adaptive samplers), score evaluations per sample (fixed-step reverse-SDE and
    /// probability-flow samplers) or acceptance rate (MALA), if any.
    pub note: Option<String>,
    /// The mean per-sample statistic behind `note`: NFE (adaptive samplers) or acceptance
    /// rate (MALA); 0 for the others.
    pub mean_stat: f64,
}

/// A `sample` request: the options as given (`None`: not given, take the default).
#[derive(Clone, Debug)]
pub struct SampleRequest {
    /// The target mixture, SPEC.json.
    pub target: PathBuf,
    /// The sampler.
    pub sampler: SamplerKind,
    /// The SDE (every sampler but the Langevin family) [default: VP].
    pub sde: Option<AnySde>,
    /// Number of samples.
    pub n: u64,
    /// Number of steps (per noise level for annealed-langevin).
    pub steps: Option<u32>,
    /// Step size (langevin, mala, annealed-langevin), in standard coordinates.
    pub step_size: Option<f64>,
    /// Corrector signal-to-noise ratio (pc).
    pub snr: Option<f64>,
    /// Relative tolerance (adaptive), in [`ADAPTIVE_TOL_MIN`, `ADAPTIVE_TOL_MAX`].
    pub rtol: Option<f64>,
    /// Absolute tolerance (adaptive), in [`ADAPTIVE_TOL_MIN`, `ADAPTIVE_TOL_MAX`].
    pub atol: Option<f64>,
    /// Random seed; sample i uses the stream (seed, i).
    pub seed: u64,
    /// The precision the sampler computes in [default: [`SamplerKind::default_precision`]].
    pub precision: Option<Precision>,
    /// Output file, .npy or .csv.
    pub out: PathBuf,
}

/// A validated `sample` job: the target read and standardised, the settings complete, the
/// output checked and staged.
#[derive(Debug)]
pub struct SampleJob {
    settings: SampleSettings,
    target: Standardised,
    dim: usize,
    out: PathBuf,
    staged: Staged,
}

impl SampleJob {
    /// Validates a request before any work: options that do not apply to the sampler are
    /// errors; the output path is checked and its temporary file created; the target is read,
    /// validated and standardised.
    pub fn new(req: SampleRequest) -> anyhow::Result<Self> {
        use SamplerKind as S;
        let sampler = req.sampler;
        let what = format!("--sampler {}", sampler.name());
        let langevin = matches!(sampler, S::Langevin | S::Mala | S::AnnealedLangevin);
        not_for(req.steps.is_some() && !sampler.takes_steps(), "--steps", &what)?;
        not_for(req.step_size.is_some() && !langevin, "--step-size", &what)?;
        not_for(req.snr.is_some() && sampler != S::Pc, "--snr", &what)?;
        not_for(req.sde.is_some() && !sampler.takes_sde(), "--sde", &what)?;
        not_for(req.rtol.is_some() && sampler != S::Adaptive, "--rtol", &what)?;
        not_for(req.atol.is_some() && sampler != S::Adaptive, "--atol", &what)?;
        for (name, v) in [("--rtol", req.rtol), ("--atol", req.atol)] {
            if let Some(v) = v {
                anyhow::ensure!(
                    (ADAPTIVE_TOL_MIN..=ADAPTIVE_TOL_MAX).contains(&v),
                    "{name} must lie in [{ADAPTIVE_TOL_MIN:e}, {ADAPTIVE_TOL_MAX}] (got {v})"
                );
            }
        }
        not_for(
            req.precision == Some(Precision::F32) && sampler == S::Ode,
            "--precision f32",
            "--sampler ode (its tolerance 1e-5 is near f32's resolution; it computes in f64)",
        )?;
        check_output(&req.out)?;
        let staged = Staged::new(&req.out, &[&req.target])?;
        let spec = Spec::read(&req.target)?;
        let target = Standardised::new(&spec)?;
        let annealed = sampler == S::AnnealedLangevin;
        let settings = SampleSettings {
            sampler,
            sde: req.sde.unwrap_or(AnySde::Vp(flowscore::sde::Vp::default())),
            n: usize::try_from(req.n)?,
            steps: req.steps.unwrap_or(sampler.default_steps()),
            step_size: req.step_size.unwrap_or(if annealed {
                DEFAULT_ANNEALED_STEP
            } else {
                DEFAULT_LANGEVIN_STEP
            }),
            snr: req.snr.unwrap_or(DEFAULT_SNR),
            rtol: req.rtol.unwrap_or(DEFAULT_ADAPTIVE_RTOL),
            atol: req.atol.unwrap_or(DEFAULT_ADAPTIVE_ATOL),
            seed: req.seed,
            precision: req.precision.unwrap_or(sampler.default_precision()),
        };
        Ok(Self { settings, target, dim: spec.dim, out: req.out, staged })
    }

    /// The settings, defaults filled in.
    pub fn settings(&self) -> &SampleSettings {
        &self.settings
    }

    /// Draws the samples in standard coordinates, maps them back, writes them chunk by chunk,
    /// says one line and moves the file into place.
    pub fn run(self, say: Say<'_>) -> anyhow::Result<()> {
        let Self { settings: job, target: st, dim: d, out, staged } = self;
        let start = Instant::now();
        let cols: Vec<String> = (0..d).map(|i| format!("x{i}")).collect();
        let mut w = TableWriter::new(&staged, job.n, &cols, false)?;
        let mut x = Vec::new();
        let mean = mixture::sample_into(&st.spec, &job, &mut |zs| {
            x.clear();
            x.resize(zs.len(), 0.0);
            for (z, xr) in zs.chunks(d).zip(x.chunks_mut(d)) {
                st.from_standard(z, xr);
            }
            anyhow::ensure!(
                x.iter().all(|v| v.is_finite()),
                "a sample is not representable in f64"
            );
            w.rows(&x)
        })?;
        w.finish()?;
        let note = mixture::note_of(&job, mean);
        say(&format!(
            "wrote {} samples (D = {d}) to {} in {:.2} s{}\n",
            job.n,
            out.display(),
            start.elapsed().as_secs_f64(),
            note.map(|n| format!("; {n}")).unwrap_or_default()
        ))?;
        staged.commit()
    }
}
