//! The jobs of `sample` and `loglik` (their settings and outputs, run on the core by
//! [`crate::core_run`]), and the same jobs on the f64 reference engine ([`crate::engine`]),
//! with the runtime dimension D dispatched by [`dispatch_dim!`].
//!
//! Parallel over samples with rayon; sample i always draws from the stream (seed, i), so the
//! output does not depend on the number of threads.

use anyhow::{anyhow, bail};
use flowscore::rng::Streams;
use rayon::prelude::*;

use crate::engine::dopri5::OdeOptions;
use crate::engine::mixture::Mixture;
use crate::engine::samplers::{self, AnnealOptions, Divergence, LangevinOptions, ReverseOptions};
use crate::engine::sde_kind::AnySde;
use crate::spec::{MAX_DIM, Spec};
use crate::table::Table;

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

/// Runs `sample` on a validated spec.
pub fn sample(spec: &Spec, job: &SampleJob) -> anyhow::Result<SampleOutput> {
    dispatch_dim!(spec.dim, sample_d(spec, job))
}

fn sample_d<const D: usize>(spec: &Spec, job: &SampleJob) -> anyhow::Result<SampleOutput> {
    let mix = Mixture::<D>::from_spec(spec)?;
    let lopt = LangevinOptions { steps: job.steps, step_size: job.step_size };
    let anneal = annealing_for(&mix);
    let ropt = ReverseOptions { steps: job.steps, snr: job.snr };
    let oopt = OdeOptions::default();
    let rows: Vec<anyhow::Result<([f64; D], f64)>> = (0..job.n)
        .into_par_iter()
        .map(|i| {
            let mut rng = Streams::<f64>::new(job.seed, i as u64);
            Ok(match job.sampler {
                SamplerKind::Langevin => (samplers::langevin(&mix, &lopt, &mut rng), 0.0),
                SamplerKind::Mala => {
                    let (x, acc) = samplers::mala(&mix, &lopt, &mut rng);
                    (x, acc as f64 / job.steps.max(1) as f64)
                }
                SamplerKind::AnnealedLangevin => {
                    (samplers::annealed_langevin(&mix, &lopt, &anneal, &mut rng), 0.0)
                }
                SamplerKind::EulerMaruyama => {
                    (samplers::reverse_sde(&mix, &job.sde, &ropt, false, &mut rng), 0.0)
                }
                SamplerKind::Pc => {
                    (samplers::reverse_sde(&mix, &job.sde, &ropt, true, &mut rng), 0.0)
                }
                SamplerKind::Ode => {
                    let (x, _, nfe) = samplers::ode_sample(&mix, &job.sde, &oopt, &mut rng)?;
                    (x, nfe as f64)
                }
            })
        })
        .collect();
    let mut data = Vec::with_capacity(job.n * D);
    let mut stat = 0.0;
    for r in rows {
        let (x, s) = r?;
        data.extend_from_slice(&x);
        stat += s;
    }
    let mean = stat / job.n.max(1) as f64;
    let note = match job.sampler {
        SamplerKind::Mala => Some(format!("MALA acceptance rate {mean:.3}")),
        SamplerKind::Ode => Some(format!("mean NFE {mean:.1}")),
        _ => None,
    };
    Ok(SampleOutput { table: Table { rows: job.n, cols: D, data }, note, mean_stat: mean })
}

/// Annealed-Langevin noise levels for a mixture: σ₁ = the largest distance between two means
/// (at least 1; NCSN's "technique 1"), down to σ_L = 0.01 in L = 20 levels.
pub fn annealing_for<const D: usize>(mix: &Mixture<D>) -> AnnealOptions {
    let means = mix.means();
    let mut dmax: f64 = 1.0;
    for a in &means {
        for b in &means {
            let d: f64 = (0..D).map(|i| (a[i] - b[i]).powi(2)).sum::<f64>().sqrt();
            dmax = dmax.max(d);
        }
    }
    AnnealOptions {
        sigma_max: dmax,
        sigma_min: samplers::ANNEAL_SIGMA_MIN,
        levels: samplers::ANNEAL_LEVELS,
    }
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

/// Runs `loglik` on validated data (its column count must be D).
pub fn loglik(spec: &Spec, data: &Table, job: &LoglikJob) -> anyhow::Result<LoglikOutput> {
    if data.cols != spec.dim {
        bail!("data has {} columns but the spec has dimension D = {}", data.cols, spec.dim);
    }
    if spec.dim > MAX_DIM {
        return Err(anyhow!("dimension D = {} is not supported", spec.dim));
    }
    dispatch_dim!(spec.dim, loglik_d(spec, data, job))
}

fn loglik_d<const D: usize>(
    spec: &Spec,
    data: &Table,
    job: &LoglikJob,
) -> anyhow::Result<LoglikOutput> {
    let mix = Mixture::<D>::from_spec(spec)?;
    let rows: Vec<anyhow::Result<(f64, u32)>> = (0..data.rows)
        .into_par_iter()
        .map(|i| {
            let x: [f64; D] = core::array::from_fn(|j| data.row(i)[j]);
            let mut rng = Streams::<f64>::new(job.seed, i as u64);
            match job.method {
                Method::Exact => Ok((mix.eval(&job.sde, &x, job.eps).log_density, 0)),
                Method::Ode => samplers::ode_loglik(
                    &mix,
                    &job.sde,
                    &x,
                    job.eps,
                    Divergence::Exact,
                    &job.ode,
                    &mut rng,
                ),
                Method::OdeHutchinson => samplers::ode_loglik(
                    &mix,
                    &job.sde,
                    &x,
                    job.eps,
                    Divergence::Hutchinson(job.probes),
                    &job.ode,
                    &mut rng,
                ),
            }
            .map_err(|e| anyhow!("row {i}: {e}"))
        })
        .collect();
    let mut out = LoglikOutput { log_p: Vec::new(), nfe: Vec::new() };
    for r in rows {
        let (l, n) = r?;
        out.log_p.push(l);
        out.nfe.push(n);
    }
    Ok(out)
}
