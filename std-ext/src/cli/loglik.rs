//! `flowscore loglik`: its arguments, turned into a validated [`LoglikJob`] and run.

use std::path::PathBuf;

use clap::Args;

use super::{SdeName, eps, tolerance};
use crate::jobs::{LoglikJob, LoglikRequest, Method};

/// The arguments of `flowscore loglik`.
#[derive(Debug, Args)]
pub struct LoglikArgs {
    /// The target mixture, SPEC.json.
    #[arg(
        long,
        value_name = "SPEC.json",
        required_unless_present = "model",
        conflicts_with = "model"
    )]
    pub target: Option<PathBuf>,
    /// A model file written by `flowscore train` (instead of --target): a flow's exact
    /// log-density, or a score network's by the probability-flow ODE of its SDE.
    #[arg(long, value_name = "MODEL")]
    pub model: Option<PathBuf>,
    /// The data, .npy (float32 or float64, N x D) or .csv (header optional).
    #[arg(long, value_name = "FILE")]
    pub data: PathBuf,
    /// The method (required with --target; with --model: exact for a flow, ode by default
    /// or ode-hutchinson for a score network).
    #[arg(long, value_enum, required_unless_present = "model")]
    pub method: Option<Method>,
    /// The SDE (--target only: a score network holds its own) [default: vp].
    #[arg(long, value_enum)]
    pub sde: Option<SdeName>,
    /// The time eps at which the log-density is evaluated, 1e-12..=1-1e-6 (not for a flow)
    /// [default: 1e-5].
    #[arg(long, value_name = "E", value_parser = eps, allow_hyphen_values = true)]
    pub eps: Option<f64>,
    /// ODE relative tolerance (ode, ode-hutchinson), 1e-12..=1e-3 [default: 1e-5].
    #[arg(long, value_name = "R", value_parser = tolerance, allow_hyphen_values = true)]
    pub rtol: Option<f64>,
    /// ODE absolute tolerance (ode, ode-hutchinson), 1e-12..=1e-3 [default: 1e-5].
    #[arg(long, value_name = "A", value_parser = tolerance, allow_hyphen_values = true)]
    pub atol: Option<f64>,
    /// Hutchinson probes per point (ode-hutchinson), 1..=1024 [default: 1].
    #[arg(long, value_name = "M", value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub probes: Option<u32>,
    /// Random seed (ode-hutchinson probes); row i uses the stream (seed, i) [default: 0].
    #[arg(long, value_name = "S")]
    pub seed: Option<u64>,
    /// Output file, .npy or .csv (its directory must exist).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

impl LoglikArgs {
    /// The request these arguments make (nothing checked yet).
    pub fn request(self) -> LoglikRequest {
        LoglikRequest {
            target: self.target,
            model: self.model,
            data: self.data,
            method: self.method,
            sde: self.sde.map(SdeName::sde),
            eps: self.eps,
            rtol: self.rtol,
            atol: self.atol,
            probes: self.probes,
            seed: self.seed,
            out: self.out,
        }
    }
}

/// Validates the arguments into a job, before any work.
pub fn job(args: LoglikArgs) -> anyhow::Result<LoglikJob> {
    LoglikJob::new(args.request())
}
