//! The `loglik` job: one log p_ε(x) per data row under a Gaussian-mixture target, in closed
//! form or by the probability-flow ODE, written as a table of N values.

use std::path::PathBuf;
use std::time::Instant;

use crate::data::Table;
use crate::io::{Spec, Staged, TableWriter, check_output};
use crate::jobs::{Say, Standardised, mixture, not_for};
use crate::sde_kind::AnySde;

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

/// How `loglik` computes log p_ε(x).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum Method {
    /// The closed-form log-density of the perturbed mixture at ε.
    Exact,
    /// Probability-flow ODE with the exact divergence.
    Ode,
    /// Probability-flow ODE with Hutchinson's trace estimator (Rademacher probes).
    OdeHutchinson,
}

impl Method {
    /// The name on the command line (`--method NAME`).
    pub fn name(self) -> &'static str {
        match self {
            Method::Exact => "exact",
            Method::Ode => "ode",
            Method::OdeHutchinson => "ode-hutchinson",
        }
    }
}

/// Settings of one likelihood run.
#[derive(Clone, Copy, Debug)]
pub struct LoglikSettings {
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

/// A `loglik` request: the options as given (`None`: not given, take the default).
#[derive(Clone, Debug)]
pub struct LoglikRequest {
    /// The target mixture, SPEC.json.
    pub target: PathBuf,
    /// The data, .npy or .csv, N × D.
    pub data: PathBuf,
    /// The method.
    pub method: Method,
    /// The SDE.
    pub sde: AnySde,
    /// The time ε at which the log-density is evaluated.
    pub eps: f64,
    /// ODE relative tolerance (ode, ode-hutchinson) [default: 1e-5].
    pub rtol: Option<f64>,
    /// ODE absolute tolerance (ode, ode-hutchinson) [default: 1e-5].
    pub atol: Option<f64>,
    /// Hutchinson probes per point (ode-hutchinson) [default: 1].
    pub probes: Option<u32>,
    /// Random seed (ode-hutchinson probes) [default: 0].
    pub seed: Option<u64>,
    /// Output file, .npy or .csv.
    pub out: PathBuf,
}

/// A validated `loglik` job: target read and standardised, data read and mapped to standard
/// coordinates, settings complete, output checked and staged.
#[derive(Debug)]
pub struct LoglikJob {
    settings: LoglikSettings,
    target: Standardised,
    data: Table,
    out: PathBuf,
    staged: Staged,
}

impl LoglikJob {
    /// Validates a request before any work: options that do not apply to the method are
    /// errors; the output path is checked and its temporary file created; the target is read,
    /// validated and standardised; the data are read, checked against the target's dimension
    /// and mapped to standard coordinates.
    pub fn new(req: LoglikRequest) -> anyhow::Result<Self> {
        let method = req.method;
        let what = format!("--method {}", method.name());
        let ode = method != Method::Exact;
        let hutch = method == Method::OdeHutchinson;
        not_for(req.rtol.is_some() && !ode, "--rtol", &what)?;
        not_for(req.atol.is_some() && !ode, "--atol", &what)?;
        not_for(req.probes.is_some() && !hutch, "--probes", &what)?;
        not_for(req.seed.is_some() && !hutch, "--seed", &what)?;
        check_output(&req.out)?;
        let staged = Staged::new(&req.out, &[&req.target, &req.data])?;
        let spec = Spec::read(&req.target)?;
        let target = Standardised::new(&spec)?;
        let mut data = crate::data::read(&req.data)?;
        anyhow::ensure!(
            data.cols == spec.dim,
            "data has {} columns but the spec has dimension D = {}",
            data.cols,
            spec.dim
        );
        let mut z = vec![0.0; spec.dim];
        for row in data.data.chunks_mut(spec.dim) {
            target.to_standard(row, &mut z);
            row.copy_from_slice(&z);
        }
        let settings = LoglikSettings {
            method,
            sde: req.sde,
            eps: req.eps,
            ode: OdeOptions {
                rtol: req.rtol.unwrap_or(DEFAULT_TOL),
                atol: req.atol.unwrap_or(DEFAULT_TOL),
                max_steps: DEFAULT_MAX_STEPS,
            },
            probes: req.probes.unwrap_or(1) as usize,
            seed: req.seed.unwrap_or(0),
        };
        Ok(Self { settings, target, data, out: req.out, staged })
    }

    /// The settings, defaults filled in.
    pub fn settings(&self) -> &LoglikSettings {
        &self.settings
    }

    /// Computes the log-densities, maps them to data coordinates, writes them, says the mean
    /// (and the NFE statistics of the ODE methods) and moves the file into place.
    pub fn run(self, say: Say<'_>) -> anyhow::Result<()> {
        let Self { settings: job, target: st, data, out, staged } = self;
        let ode = job.method != Method::Exact;
        let start = Instant::now();
        let mut res = mixture::loglik(&st.spec, &data, &job)?;
        drop(data);
        for (i, l) in res.log_p.iter_mut().enumerate() {
            *l -= st.log_det;
            anyhow::ensure!(l.is_finite(), "row {i}: the log-density is not finite in f64");
        }
        let n = res.log_p.len();
        let mut w = TableWriter::new(&staged, n, &["log_p".to_string()], true)?;
        w.rows(&res.log_p)?;
        w.finish()?;
        let mean = res.log_p.iter().sum::<f64>() / n as f64;
        let mut text = format!(
            "wrote {n} log-likelihoods to {} in {:.2} s; mean log p = {mean:.6}\n",
            out.display(),
            start.elapsed().as_secs_f64()
        );
        if ode {
            let min = res.nfe.iter().copied().min().unwrap_or(0);
            let max = res.nfe.iter().copied().max().unwrap_or(0);
            let avg = res.nfe.iter().map(|&v| v as f64).sum::<f64>() / n as f64;
            text.push_str(&format!("NFE: mean {avg:.1}, min {min}, max {max}\n"));
        }
        say(&text)?;
        staged.commit()
    }
}
