//! `flowscore train`: its arguments, turned into a validated [`TrainJob`] and run.

use std::path::PathBuf;

use clap::Args;

use super::SdeName;
use crate::jobs::train::{LossName, ModelName, TrainJob, TrainRequest};

/// `--model` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ModelArg {
    /// RealNVP: 8 affine couplings, conditioners 2-64-64-2.
    Realnvp,
    /// MAF: 4 layers, MADE 2-64-64-4, coordinates reversed between layers.
    Maf,
    /// Rational-quadratic spline couplings: 4 layers, 8 bins.
    Spline,
    /// Score network 2+16-128-128-2 (SiLU, Fourier time features), by denoising score matching.
    Scorenet,
}

/// `--loss` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LossArg {
    /// Maximum likelihood (flows).
    Nll,
    /// Denoising score matching (scorenet).
    Dsm,
}

/// The arguments of `flowscore train`.
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// The model.
    #[arg(long, value_enum)]
    pub model: ModelArg,
    /// A toy set (moons, circles, rings, 8gaussians, pinwheel, 2spirals, checkerboard) or a
    /// 2-column .npy/.csv file.
    #[arg(long, value_name = "SET|FILE")]
    pub data: String,
    /// The loss [default: nll for flows, dsm for scorenet].
    #[arg(long, value_enum)]
    pub loss: Option<LossArg>,
    /// The SDE (scorenet) [default: vp].
    #[arg(long, value_enum)]
    pub sde: Option<SdeName>,
    /// Hidden width: the MAF's MADE networks 64, or 16 for a model a microcontroller holds
    /// [default: 64]; the score network's 128, or 16 [default: 128] (maf and scorenet only).
    #[arg(long, value_name = "N")]
    pub hidden: Option<usize>,
    /// Training steps.
    #[arg(long, default_value_t = 5000)]
    pub steps: u64,
    /// Points per minibatch.
    #[arg(long, default_value_t = 512)]
    pub batch: usize,
    /// Adam's learning rate.
    #[arg(long, default_value_t = 1e-3, allow_hyphen_values = true)]
    pub lr: f32,
    /// Seed of the data, the initialisation and every random draw.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Threads (0: all cores); the result does not depend on it.
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Continue from this checkpoint (the same model, data and settings).
    #[arg(long, value_name = "CKPT")]
    pub resume: Option<PathBuf>,
    /// Write a checkpoint here every --checkpoint-every steps (atomically).
    #[arg(long, value_name = "CKPT")]
    pub checkpoint: Option<PathBuf>,
    /// Steps between checkpoints.
    #[arg(long, default_value_t = 500)]
    pub checkpoint_every: u64,
    /// The model file to write.
    #[arg(long, value_name = "MODEL")]
    pub out: PathBuf,
}

/// Validates the arguments into a job, before any work.
pub fn job(args: TrainArgs) -> anyhow::Result<TrainJob> {
    let req = TrainRequest {
        model: match args.model {
            ModelArg::Realnvp => ModelName::Realnvp,
            ModelArg::Maf => ModelName::Maf,
            ModelArg::Spline => ModelName::Spline,
            ModelArg::Scorenet => ModelName::Scorenet,
        },
        data: args.data,
        loss: args.loss.map(|l| match l {
            LossArg::Nll => LossName::Nll,
            LossArg::Dsm => LossName::Dsm,
        }),
        sde: args.sde.map(SdeName::sde),
        hidden: args.hidden,
        steps: args.steps,
        batch: args.batch,
        lr: args.lr,
        seed: args.seed,
        threads: args.threads,
        resume: args.resume,
        checkpoint: args.checkpoint,
        checkpoint_every: args.checkpoint_every,
        out: args.out,
    };
    TrainJob::new(req)
}
