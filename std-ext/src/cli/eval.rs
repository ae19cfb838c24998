//! `flowscore eval`: its arguments, turned into a validated [`EvalJob`] and run.

use std::path::PathBuf;

use clap::Args;

use crate::jobs::eval::{EvalJob, EvalRequest};

/// The arguments of `flowscore eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// The model file (written by `flowscore train`).
    #[arg(long, value_name = "MODEL")]
    pub model: PathBuf,
    /// A toy set (its held-out points for --seed, as `flowscore train` holds them out) or a
    /// 2-column .npy/.csv file.
    #[arg(long, value_name = "SET|FILE")]
    pub data: String,
    /// The training seed (toy sets).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// Validates the arguments into a job, before any work.
pub fn job(args: EvalArgs) -> anyhow::Result<EvalJob> {
    EvalJob::new(EvalRequest { model: args.model, data: args.data, seed: args.seed })
}
