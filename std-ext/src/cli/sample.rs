//! `flowscore sample`: its arguments, turned into a validated [`SampleJob`] and run.

use std::path::PathBuf;

use clap::Args;

use super::{SdeName, in_range, snr, step_size};
use crate::jobs::model_sample::{ModelSampleJob, ModelSampleRequest};
use crate::jobs::{
    ADAPTIVE_TOL_MAX, ADAPTIVE_TOL_MIN, Precision, SampleJob, SampleRequest, SamplerKind,
};

/// An adaptive reverse-SDE tolerance, in [`ADAPTIVE_TOL_MIN`, `ADAPTIVE_TOL_MAX`].
fn sde_tolerance(s: &str) -> Result<f64, String> {
    in_range(
        s,
        ADAPTIVE_TOL_MIN,
        ADAPTIVE_TOL_MAX,
        " (below 1e-5 a sample needs more than the solver's 10 000 attempts)",
    )
}

/// The arguments of `flowscore sample`.
#[derive(Debug, Args)]
pub struct SampleArgs {
    /// The target mixture, SPEC.json.
    #[arg(
        long,
        value_name = "SPEC.json",
        required_unless_present = "model",
        conflicts_with = "model"
    )]
    pub target: Option<PathBuf>,
    /// A model file written by `flowscore train` (instead of --target): flows sample x = f(z);
    /// score networks take every reverse-SDE and probability-flow --sampler but adaptive
    /// (default euler-maruyama), all started from the SDE's prior.
    #[arg(long, value_name = "MODEL")]
    pub model: Option<PathBuf>,
    /// The sampler (required with --target).
    #[arg(long, value_enum, required_unless_present = "model")]
    pub sampler: Option<SamplerKind>,
    /// The SDE (every sampler but langevin, mala, annealed-langevin) [default: vp].
    #[arg(long, value_enum)]
    pub sde: Option<SdeName>,
    /// Number of samples.
    #[arg(short = 'n', value_name = "N", default_value_t = 1000,
          value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    pub n: u64,
    /// Number of steps (per noise level for annealed-langevin; not for ode, adaptive); >= 1.
    #[arg(long, value_name = "S", value_parser = clap::value_parser!(u32).range(1..))]
    pub steps: Option<u32>,
    /// Step size (langevin, mala, annealed-langevin), in standard coordinates; 1e-10..=10.
    #[arg(long, value_name = "E", value_parser = step_size, allow_hyphen_values = true)]
    pub step_size: Option<f64>,
    /// Corrector signal-to-noise ratio (pc), 1e-6..=10 [default: 0.16].
    #[arg(long, value_name = "R", value_parser = snr, allow_hyphen_values = true)]
    pub snr: Option<f64>,
    /// Relative tolerance eps_rel (adaptive), 1e-5..=1 [default: 0.01].
    #[arg(long, value_name = "R", value_parser = sde_tolerance, allow_hyphen_values = true)]
    pub rtol: Option<f64>,
    /// Absolute tolerance eps_abs (adaptive), 1e-5..=1 [default: 0.0078].
    #[arg(long, value_name = "A", value_parser = sde_tolerance, allow_hyphen_values = true)]
    pub atol: Option<f64>,
    /// Random seed; sample i uses the stream (seed, i).
    #[arg(long, value_name = "S", default_value_t = 0)]
    pub seed: u64,
    /// The precision the samplers compute in (with --target): f32 (the targets' parameters
    /// are f32; 8 samples per vector) or f64 (4 per vector) [default: f32; f64 for ode, whose
    /// 1e-5 tolerance is near f32's resolution]. Model files compute in f32, their parameters'
    /// precision.
    #[arg(long, value_enum)]
    pub precision: Option<Precision>,
    /// Output file, .npy or .csv (its directory must exist).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

impl SampleArgs {
    /// The request these arguments make (nothing checked yet).
    pub fn request(self) -> SampleRequest {
        SampleRequest {
            target: self.target.unwrap_or_default(),
            sampler: self.sampler.unwrap_or(SamplerKind::EulerMaruyama),
            sde: self.sde.map(SdeName::sde),
            n: self.n,
            steps: self.steps,
            step_size: self.step_size,
            snr: self.snr,
            rtol: self.rtol,
            atol: self.atol,
            seed: self.seed,
            precision: self.precision,
            out: self.out,
        }
    }
}

/// Validates the arguments into a job, before any work.
pub fn job(args: SampleArgs) -> anyhow::Result<super::Validated> {
    if let Some(model) = args.model {
        anyhow::ensure!(
            args.sde.is_none(),
            "--sde does not apply to a model file (it holds its SDE)"
        );
        anyhow::ensure!(
            args.step_size.is_none() && args.snr.is_none(),
            "--step-size and --snr do not apply to a model file"
        );
        anyhow::ensure!(
            args.rtol.is_none() && args.atol.is_none(),
            "--rtol and --atol do not apply to a model file"
        );
        anyhow::ensure!(
            args.precision.is_none(),
            "--precision does not apply to a model file (it computes in f32, its parameters' \
             precision)"
        );
        let req = ModelSampleRequest {
            model,
            sampler: args.sampler,
            n: args.n,
            steps: args.steps,
            seed: args.seed,
            out: args.out,
        };
        return Ok(super::Validated::ModelSample(ModelSampleJob::new(req)?));
    }
    Ok(super::Validated::Sample(SampleJob::new(args.request())?))
}

#[cfg(test)]
mod tests {
    use clap::ValueEnum;

    use crate::jobs::SamplerKind;

    /// [`SamplerKind::ALL`] is the command line's list, in its order.
    #[test]
    fn all_is_the_value_list() {
        assert_eq!(SamplerKind::value_variants(), &SamplerKind::ALL[..]);
    }

    #[test]
    fn tolerances_outside_the_range_are_refused() {
        for bad in ["0", "1e-6", "1.5", "-0.01", "nan", "inf", "x"] {
            assert!(super::sde_tolerance(bad).is_err(), "{bad}");
        }
        for ok in ["1e-5", "0.01", "1"] {
            assert!(super::sde_tolerance(ok).is_ok(), "{ok}");
        }
    }
}
