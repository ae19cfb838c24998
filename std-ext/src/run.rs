//! The jobs of `sample` and `loglik`: their settings and outputs (run on the core by
//! [`crate::core_run`]), and [`dispatch_dim!`] for runtime dimensions D.

use crate::sde_kind::AnySde;
use crate::table::Table;

/// ODE tolerances and step budget of `loglik` (passed to the core's Dormand–Prince 5(4)).
#[derive(Clone, Copy, Debug)]
pub struct OdeOptions {
    /// Relative tolerance.
    pub rtol: f64,
    /// Absolute tolerance.
    pub atol: f64,
    /// Maximum number of accepted + rejected steps before giving up.
    pub max_steps: u32,
}

/// score_sde's ODE tolerances rtol = atol = 1e-5.
pub const DEFAULT_TOL: f64 = 1e-5;
/// Step budget: far above the few hundred steps the built-in SDEs need at 1e-5.
pub const DEFAULT_MAX_STEPS: u32 = 100_000;

impl Default for OdeOptions {
    fn default() -> Self {
        Self { rtol: DEFAULT_TOL, atol: DEFAULT_TOL, max_steps: DEFAULT_MAX_STEPS }
    }
}

/// Default number of annealed-Langevin noise levels L: twice NCSN's 10. With σ₁ = 14 (the ncsn
/// mixture's mode distance) ten levels change σ by 0.45× per level, coarse at the level where the
/// modes separate; with 20 the demo finds 0.786 on the 0.8 mode at seed 0 (`summary.md`).
pub const ANNEAL_LEVELS: u32 = 20;
/// Default smallest annealed-Langevin noise level σ_L (NCSN).
pub const ANNEAL_SIGMA_MIN: f64 = 0.01;

/// Calls `$f::<D>(args…)` for the runtime dimension `$d` ∈ 1..=8; any other D is an error.
#[macro_export]
macro_rules! dispatch_dim {
    ($d:expr, $f:ident ( $($arg:expr),* $(,)? )) => {
        match $d {
            1 => $f::<1>($($arg),*),
            2 => $f::<2>($($arg),*),
            3 => $f::<3>($($arg),*),
            4 => $f::<4>($($arg),*),
            5 => $f::<5>($($arg),*),
            6 => $f::<6>($($arg),*),
            7 => $f::<7>($($arg),*),
            8 => $f::<8>($($arg),*),
            d => Err(anyhow::anyhow!(
                "dimension D = {d} is not supported (D must be 1..={})", $crate::spec::MAX_DIM
            )),
        }
    };
}

/// Which sampler `sample` runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
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
}

/// Settings of one `sample` run (defaults already filled in).
#[derive(Clone, Copy, Debug)]
pub struct SampleJob {
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
    /// Seed.
    pub seed: u64,
}

/// What a `sample` run returns: the samples and per-sample statistics.
#[derive(Clone, Debug)]
pub struct SampleOutput {
    /// N × D samples.
    pub table: Table,
    /// Mean NFE (ODE sampler) or acceptance rate (MALA), if any.
    pub note: Option<String>,
    /// The mean per-sample statistic behind `note` (0 when there is none).
    pub mean_stat: f64,
}

/// How `loglik` computes log p_ε(x).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Method {
    /// The closed-form log-density of the perturbed mixture at ε.
    Exact,
    /// Probability-flow ODE with the exact divergence.
    Ode,
    /// Probability-flow ODE with Hutchinson's trace estimator (Rademacher probes).
    OdeHutchinson,
}

/// Settings of one `loglik` run.
#[derive(Clone, Copy, Debug)]
pub struct LoglikJob {
    /// The method.
    pub method: Method,
    /// The SDE.
    pub sde: AnySde,
    /// The time ε at which log p_ε is evaluated.
    pub eps: f64,
    /// ODE tolerances.
    pub ode: OdeOptions,
    /// Hutchinson probes per point.
    pub probes: usize,
    /// Seed (Hutchinson probes).
    pub seed: u64,
}

/// One log-likelihood per row and each row's NFE (0 for `exact`).
#[derive(Clone, Debug)]
pub struct LoglikOutput {
    /// log p_ε(x) per row.
    pub log_p: Vec<f64>,
    /// NFE per row.
    pub nfe: Vec<u32>,
}
