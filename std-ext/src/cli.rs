//! The `flowscore` command line: argument parsing, validation before any work, and the
//! one-line-error policy (`error: …` on stderr, exit status 2, nothing written).

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Instant;

use clap::{Parser, Subcommand};
use flowscore::sde::{LIKELIHOOD_EPS, SubVp, Ve, Vp};

use crate::run::{
    DEFAULT_MAX_STEPS, DEFAULT_TOL, LoglikJob, Method, OdeOptions, SampleJob, SamplerKind,
};
use crate::sde_kind::AnySde;
use crate::spec::Spec;
use crate::table::{self, Table};

/// Exit status of every error (bad input or failed run).
pub const EXIT_ERROR: i32 = 2;

const ABOUT: &str = "Normalizing flows and score-based models: the demo, exact-score sampling and \
probability-flow log-likelihoods of Gaussian-mixture targets.";

const LONG_ABOUT: &str = "Normalizing flows and score-based models: the demo, exact-score sampling \
and probability-flow log-likelihoods of Gaussian-mixture targets.\n\n\
Dimensions: a target's runtime dimension D = 1..8 is dispatched to the const-generic core; a \
larger D is an error. Mixtures have K = 1..16 components.\n\n\
Errors: any bad input gives one line `error: ...` on stderr and exit status 2, and writes nothing.";

/// The `flowscore` command.
#[derive(Debug, Parser)]
#[command(name = "flowscore", version, about = ABOUT, long_about = LONG_ABOUT)]
pub struct Cli {
    /// The subcommand.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// The main job: the notes' figures and a summary table on built-in defaults.
    #[command(long_about = "The main job, on built-in defaults (no input files): a 2-D Gaussian \
mixture's density and score field; plain vs annealed Langevin with the mode-weight table; \
reverse-SDE Euler-Maruyama and predictor-corrector samples under VE, VP and sub-VP; \
probability-flow ODE trajectories; a 10-layer planar flow shown layer by layer. Writes PNG \
figures and summary.md into DIR and prints the summary.")]
    Demo {
        /// Output directory (created if missing; its parent must exist).
        #[arg(long, value_name = "DIR", default_value = "out/demo")]
        out: PathBuf,
        /// Random seed.
        #[arg(long, value_name = "S", default_value_t = 0)]
        seed: u64,
    },
    /// Draw samples from a Gaussian-mixture target with a chosen sampler.
    #[command(long_about = "Draw N samples from the Gaussian mixture in SPEC.json with a \
sampler driven by its exact score. Dimensions D = 1..8 are dispatched to the const-generic core \
(a larger D is an error). Writes an N x D table: .npy (float64, '<f8') or .csv (header x0,x1,..).\n\n\
Defaults: --steps 1000 (langevin, mala, euler-maruyama, pc; per noise level: 100 for \
annealed-langevin); --step-size 0.05 (langevin, mala) or 2e-5 (annealed-langevin: the eps of \
alpha_i = eps sigma_i^2 / sigma_L^2); --snr 0.16 (pc). --sde applies to euler-maruyama, pc and ode.")]
    Sample {
        /// The target mixture, SPEC.json.
        #[arg(long, value_name = "SPEC.json")]
        target: PathBuf,
        /// The sampler.
        #[arg(long, value_enum)]
        sampler: SamplerKind,
        /// The SDE (euler-maruyama, pc, ode).
        #[arg(long, value_enum, default_value_t = SdeName::Vp)]
        sde: SdeName,
        /// Number of samples.
        #[arg(short = 'n', value_name = "N", default_value_t = 1000,
              value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
        n: u64,
        /// Number of steps (per noise level for annealed-langevin); must be >= 1.
        #[arg(long, value_name = "S", value_parser = clap::value_parser!(u32).range(1..))]
        steps: Option<u32>,
        /// Step size (langevin, mala, annealed-langevin); must be > 0.
        #[arg(long, value_name = "E", value_parser = positive, allow_hyphen_values = true)]
        step_size: Option<f64>,
        /// Corrector signal-to-noise ratio (pc); must be > 0.
        #[arg(long, value_name = "R", value_parser = positive, allow_hyphen_values = true, default_value_t = 0.16)]
        snr: f64,
        /// Random seed; sample i uses the stream (seed, i).
        #[arg(long, value_name = "S", default_value_t = 0)]
        seed: u64,
        /// Output file, .npy or .csv (its directory must exist).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// One log p_eps(x) per data row: closed form or probability-flow ODE.
    #[command(long_about = "One log p_eps(x) per row of the data under the Gaussian mixture in \
SPEC.json perturbed to time eps by the SDE. `exact` is the closed form at the same eps, so the \
methods are comparable; `ode` integrates the probability-flow ODE with the exact divergence \
(Dormand-Prince 5(4)); `ode-hutchinson` uses Hutchinson's estimator with M Rademacher probes. \
Dimensions D = 1..8 are dispatched to the const-generic core (a larger D is an error). Prints NFE \
statistics. Writes N values: .npy (float64, '<f8', shape (N,)) or .csv (header log_p).")]
    Loglik {
        /// The target mixture, SPEC.json.
        #[arg(long, value_name = "SPEC.json")]
        target: PathBuf,
        /// The data, .npy (float32 or float64, N x D) or .csv (header optional).
        #[arg(long, value_name = "FILE")]
        data: PathBuf,
        /// The method.
        #[arg(long, value_enum)]
        method: Method,
        /// The SDE.
        #[arg(long, value_enum, default_value_t = SdeName::Vp)]
        sde: SdeName,
        /// The time eps in (0, 1) at which the log-density is evaluated.
        #[arg(long, value_name = "E", value_parser = unit_open, allow_hyphen_values = true, default_value_t = LIKELIHOOD_EPS as f64)]
        eps: f64,
        /// ODE relative tolerance (> 0).
        #[arg(long, value_name = "R", value_parser = positive, allow_hyphen_values = true, default_value_t = DEFAULT_TOL)]
        rtol: f64,
        /// ODE absolute tolerance (> 0).
        #[arg(long, value_name = "A", value_parser = positive, allow_hyphen_values = true, default_value_t = DEFAULT_TOL)]
        atol: f64,
        /// Hutchinson probes per point (ode-hutchinson), >= 1.
        #[arg(long, value_name = "M", default_value_t = 1,
              value_parser = clap::value_parser!(u32).range(1..=1024))]
        probes: u32,
        /// Random seed (Hutchinson probes); row i uses the stream (seed, i).
        #[arg(long, value_name = "S", default_value_t = 0)]
        seed: u64,
        /// Output file, .npy or .csv (its directory must exist).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
}

/// `--sde` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SdeName {
    /// Variance exploding (sigma 0.01 to 50).
    Ve,
    /// Variance preserving (beta 0.1 to 20).
    Vp,
    /// Sub-variance preserving (beta 0.1 to 20).
    Subvp,
}

impl SdeName {
    /// The SDE with score_sde's default constants.
    pub fn sde(self) -> AnySde {
        match self {
            SdeName::Ve => AnySde::Ve(Ve::default()),
            SdeName::Vp => AnySde::Vp(Vp::default()),
            SdeName::Subvp => AnySde::SubVp(SubVp::default()),
        }
    }
}

fn positive(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|_| format!("`{s}` is not a number"))?;
    if v.is_finite() && v > 0.0 { Ok(v) } else { Err("must be a finite number > 0".to_string()) }
}

fn unit_open(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|_| format!("`{s}` is not a number"))?;
    if v > 0.0 && v < 1.0 { Ok(v) } else { Err("must lie in (0, 1)".to_string()) }
}

/// Default Langevin / MALA step size (for unit-scale mixtures such as the ncsn one).
pub const DEFAULT_LANGEVIN_STEP: f64 = 0.05;
/// Default annealed-Langevin ε (NCSN's 2e-5: αᵢ = ε σᵢ²/σ_L² = 0.2 σᵢ² with σ_L = 0.01, small
/// enough that the discretisation does not inflate the variance at the levels where the modes
/// separate; ε = 1e-4 moved the ncsn weights from 0.80 to 0.76).
pub const DEFAULT_ANNEALED_STEP: f64 = 2e-5;
/// Default annealed-Langevin steps per noise level (NCSN's T = 100).
pub const DEFAULT_ANNEALED_STEPS: u32 = 100;
/// Default steps of the other samplers (score_sde's N = 1000).
pub const DEFAULT_STEPS: u32 = 1000;

/// Runs the command line with these arguments (the first is the program name) and returns the
/// exit status: 0 on success, 2 on any error (after one line `error: …` on stderr).
pub fn main_with_args<I, T>(args: I) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                print!("{e}");
                return 0;
            }
            if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                eprint!("{e}");
                return EXIT_ERROR;
            }
            let text = e.render().to_string();
            let line: Vec<&str> = text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with("For more information"))
                .filter(|l| !l.starts_with("Usage:"))
                .collect();
            eprintln!("{}", line.join(" "));
            return EXIT_ERROR;
        }
    };
    match execute(cli) {
        Ok(()) => 0,
        Err(e) => {
            let msg = format!("{e:#}");
            eprintln!("error: {}", crate::spec::one_line(&msg));
            EXIT_ERROR
        }
    }
}

/// Runs a parsed command.
pub fn execute(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Demo { out, seed } => crate::demo::run(&out, seed).map(|_| ()),
        Command::Sample { target, sampler, sde, n, steps, step_size, snr, seed, out } => {
            table::check_output(&out)?;
            let spec = Spec::read(&target)?;
            let annealed = sampler == SamplerKind::AnnealedLangevin;
            let job = SampleJob {
                sampler,
                sde: sde.sde(),
                n: usize::try_from(n)?,
                steps: steps.unwrap_or(if annealed {
                    DEFAULT_ANNEALED_STEPS
                } else {
                    DEFAULT_STEPS
                }),
                step_size: step_size.unwrap_or(if annealed {
                    DEFAULT_ANNEALED_STEP
                } else {
                    DEFAULT_LANGEVIN_STEP
                }),
                snr,
                seed,
            };
            let start = Instant::now();
            let res = crate::core_run::sample(&spec, &job)?;
            let cols: Vec<String> = (0..res.table.cols).map(|i| format!("x{i}")).collect();
            table::write(&out, &res.table, &cols, false)?;
            println!(
                "wrote {} samples (D = {}) to {} in {:.2} s{}",
                res.table.rows,
                res.table.cols,
                out.display(),
                start.elapsed().as_secs_f64(),
                res.note.map(|n| format!("; {n}")).unwrap_or_default()
            );
            Ok(())
        }
        Command::Loglik { target, data, method, sde, eps, rtol, atol, probes, seed, out } => {
            table::check_output(&out)?;
            let spec = Spec::read(&target)?;
            let table_in = table::read(&data)?;
            let job = LoglikJob {
                method,
                sde: sde.sde(),
                eps,
                ode: OdeOptions { rtol, atol, max_steps: DEFAULT_MAX_STEPS },
                probes: probes as usize,
                seed,
            };
            let start = Instant::now();
            let res = crate::core_run::loglik(&spec, &table_in, &job)?;
            let n = res.log_p.len();
            let t = Table { rows: n, cols: 1, data: res.log_p.clone() };
            table::write(&out, &t, &["log_p".to_string()], true)?;
            let mean = res.log_p.iter().sum::<f64>() / n as f64;
            println!(
                "wrote {n} log-likelihoods to {} in {:.2} s; mean log p = {mean:.6}",
                out.display(),
                start.elapsed().as_secs_f64()
            );
            if method != Method::Exact {
                let min = res.nfe.iter().copied().min().unwrap_or(0);
                let max = res.nfe.iter().copied().max().unwrap_or(0);
                let avg = res.nfe.iter().map(|&v| v as f64).sum::<f64>() / n as f64;
                println!("NFE: mean {avg:.1}, min {min}, max {max}");
            }
            Ok(())
        }
    }
}
