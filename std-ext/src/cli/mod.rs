//! The `flowscore` command line: argument parsing (clap, one file per subcommand), the exit
//! status, the one-line-error policy (`error: …` on stderr, exit status 2, nothing written) and
//! the broken-pipe-safe printing ([`say`]). The subcommands build validated jobs
//! ([`crate::jobs`], [`crate::demo`]) and run them; nothing here computes.

pub mod demo;
pub mod eval;
pub mod loglik;
pub mod print;
pub mod sample;
pub mod train;

use std::ffi::OsString;
use std::io::Write;

use clap::{Parser, Subcommand};
use flowscore::sde::{SubVp, Ve, Vp};

use crate::sde_kind::AnySde;

pub use print::say;

/// Exit status of every error (bad input or failed run).
pub const EXIT_ERROR: i32 = 2;

const ABOUT: &str = "Normalizing flows and score-based models: the demo, exact-score sampling and \
probability-flow log-likelihoods of Gaussian-mixture targets.";

const LONG_ABOUT: &str = "Normalizing flows and score-based models: the demo, exact-score sampling \
and probability-flow log-likelihoods of Gaussian-mixture targets.\n\n\
Limits: D = 1..8 dimensions (dispatched to the const-generic core), K = 1..16 components; \
nonzero weights >= 1e-12; mean and covariance entries and data values of magnitude <= 1e100; \
covariance eigenvalues >= 1e-100 and condition number <= 1e12 as given, <= 1e5 in standard \
coordinates. Precision: files and the standardisation in f64, the core's model parameters in \
f32 (f64 evaluation lanes).\n\n\
Standard coordinates: sample and loglik map the target by its overall mean m and the Cholesky \
factor L of its overall covariance (z = L^-1 (x - m): mean 0, covariance I), run there, and map \
back (samples x = m + L z; log-densities minus log det L). This is exact for Gaussian mixtures, \
so results do not depend on the target's location or scale; step sizes, eps and the SDEs' \
constants act in standard coordinates.\n\n\
Errors: any bad input gives one line `error: ...` on stderr and exit status 2, and writes \
nothing; output paths are checked before any work and outputs are moved into place only when \
complete. A closed stdout (e.g. piping into `head`) is not an error: the command finishes, \
moves its outputs into place, stops printing and exits with status 0.";

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
    Demo(demo::DemoArgs),
    /// Draw samples from a Gaussian-mixture target with a chosen sampler.
    #[command(long_about = "Draw N samples from the Gaussian mixture in SPEC.json with a \
sampler driven by its exact score (or from a model file written by `flowscore train`: see \
--model). Dimensions D = 1..8 are dispatched to the const-generic core \
(a larger D is an error). Writes an N x D table: .npy (float64, '<f8') or .csv (header x0,x1,..).\n\n\
Samplers and score evaluations per sample (S = --steps): langevin, mala, euler-maruyama S; \
annealed-langevin 20 S (20 noise levels); pc 2S (one corrector move per step); sra1 (stochastic \
Runge-Kutta, strong order 1.5) and sde-heun (stochastic Heun, order 1) 2S; adaptive (reverse-SDE \
Euler-Maruyama / improved Euler with step rejection) and ode (probability-flow ODE, \
Dormand-Prince 5(4)) adaptive, the mean printed; edm-heun (probability-flow Heun on the EDM \
schedule) 2S; dpmpp-2m (probability-flow DPM-Solver++(2M)) S; dpmpp-3m (probability-flow \
DPM-Solver++(3M), steps uniform in log-SNR) S; unipc (probability-flow UniPC of order 3, steps \
uniform in sqrt(t)) S.\n\n\
Defaults: --steps 1000 (langevin, mala, euler-maruyama, pc; per noise level: 100 for \
annealed-langevin), 100 (sra1, sde-heun: 200 evaluations), 50 (edm-heun: 100 evaluations), 100 \
(dpmpp-2m: 100 evaluations), 50 (dpmpp-3m: 50 evaluations), 20 (unipc: 20 evaluations); --step-size 0.05 (langevin, mala) or 2e-5 (annealed-langevin: the \
eps of alpha_i = eps sigma_i^2 / sigma_L^2); --snr 0.16 (pc); --rtol 0.01, --atol 0.0078 \
(adaptive); --sde vp.\n\n\
Which options apply: --steps to all but ode and adaptive; --step-size to langevin, mala, \
annealed-langevin; --snr to pc; --rtol, --atol to adaptive (1e-5..=1); --sde to all but \
langevin, mala, annealed-langevin. Giving an option to a sampler it does not apply to is an \
error. Step sizes act in standard coordinates (the target mapped to mean 0, covariance I); \
1e-10 <= step size <= 10. A chain that ends exactly at its start is an error. The \
probability-flow samplers (ode, edm-heun, dpmpp-2m, dpmpp-3m, unipc) start from the exact p_T of the target, the \
reverse-SDE ones from the SDE's prior. N <= 1e8; samples are computed and written in chunks, so \
memory does not grow with N; the output is the same bits for any number of threads.\n\n\
Precision: f32 on SIMD lanes by default (the targets' parameters are f32), except ode, \
which computes in f64 (its tolerance 1e-5 is near f32's resolution; --precision f32 is refused \
for it); --precision f64 runs any sampler in f64.\n\n\
SIMD: euler-maruyama runs on AVX2 when the CPU has it, chosen at run time, with the same \
output bits as on the baseline SSE2 lanes; FLOWSCORE_SIMD=baseline in the environment runs the \
baseline.")]
    Sample(sample::SampleArgs),
    /// One log p_eps(x) per data row, under a target or a model file.
    #[command(long_about = "One log p_eps(x) per row of the data under the Gaussian mixture in \
SPEC.json perturbed to time eps by the SDE. `exact` is the closed form at the same eps, so the \
methods are comparable; `ode` integrates the probability-flow ODE with the exact divergence \
(Dormand-Prince 5(4); the mixture's closed form, computed with its score; for a model file, \
forward-mode duals); `ode-hutchinson` uses Hutchinson's estimator with M Rademacher probes. \
Dimensions D = 1..8 are dispatched to the const-generic core (a larger D is an error). Prints NFE \
statistics. Writes N values: .npy (float64, '<f8', shape (N,)) or .csv (header log_p).\n\n\
The density is evaluated in standard coordinates (the target mapped to mean 0, covariance I; \
the SDE's noise is added there) and returned in data coordinates: log p(x) = log p_z(z) - log \
det L, exact. Limits: 1e-12 <= eps <= 1 - 1e-6; 1e-12 <= rtol, atol <= 1e-3. Which options \
apply: --rtol, --atol to ode and ode-hutchinson; --probes and --seed to ode-hutchinson; giving \
one to a method it does not apply to is an error. Every method computes in f64 (the ODE on 4-wide \
SIMD lanes); a log-density that is not finite in f64 is an error.\n\n\
With --model MODEL (a file written by `flowscore train`, D = 2) instead of --target: a flow's \
exact log p(x) (its inverse pass in f64; --method exact, the default; no --eps, tolerances or \
probes), or a score network's log p_eps(x) by the probability-flow ODE of the SDE it was trained \
under with that SDE's prior at T (--method ode, the default, or ode-hutchinson; --sde does not \
apply). Both in the data's units: the model's stored standardisation is undone exactly.")]
    Loglik(loglik::LoglikArgs),
    /// Train a flow or a score network on a toy set or a 2-column data file.
    #[command(
        long_about = "Train a model on 2-D data: a built-in toy set (moons, circles, rings, \
8gaussians, pinwheel, 2spirals, checkerboard; 50 000 training and 5 000 held-out points) or a \
2-column .npy/.csv file (90 % training, 10 % held out, split by seed). The data are standardised \
per dimension; the map is stored in the model file. Flows (realnvp, maf, spline) train by \
maximum likelihood (nll), the score network by denoising score matching (dsm) under --sde. \
Minibatches and every random draw come from the seed; the result is the same bits for any \
--threads, and a run resumed from a checkpoint ends with the same bits as one that was not \
interrupted. Adam with global-norm clipping at 1; the score network samples from an EMA (0.999) \
of its parameters. Prints the loss every tenth of the run and, for flows, the held-out NLL in the \
data's units. Writes MODEL (the core's model format) only when training is complete."
    )]
    Train(train::TrainArgs),
    /// Held-out negative log-likelihood of a model file on data, in the data's units.
    #[command(long_about = "The mean negative log-likelihood (nats, with its standard error) of \
a model file written by `flowscore train` on a toy set's held-out points or a 2-column file, in \
the data's units (the model's standardisation is undone exactly). Flows: exact. Score networks: \
the probability-flow ODE from eps = 1e-5 with the exact divergence (Dormand-Prince, rtol = atol = \
1e-5) and the SDE's prior; the mean NFE is printed. Writes nothing.")]
    Eval(eval::EvalArgs),
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

/// A number within `[lo, hi]`, parsed as f64 and said back briefly when it is not.
fn in_range(s: &str, lo: f64, hi: f64, what: &str) -> Result<f64, String> {
    let v: f64 = s.trim().parse().map_err(|_| {
        let mut t: String = s.chars().take(24).collect();
        if s.chars().count() > 24 {
            t.push('…');
        }
        format!("`{t}` is not a number")
    })?;
    if v.is_finite() && v >= lo && v <= hi {
        Ok(v)
    } else {
        Err(format!("{} is outside {lo:e}..={hi:e}{what}", crate::text::num(v)))
    }
}

fn step_size(s: &str) -> Result<f64, String> {
    in_range(s, 1e-10, 10.0, " (smaller steps do not move a chain in f32/f64 state)")
}

fn snr(s: &str) -> Result<f64, String> {
    in_range(s, 1e-6, 10.0, "")
}

fn eps(s: &str) -> Result<f64, String> {
    in_range(
        s,
        1e-12,
        1.0 - 1e-6,
        " (the SDEs end at T = 1, held in f32; below 1e-12 the noise is beyond f64 resolution)",
    )
}

fn tolerance(s: &str) -> Result<f64, String> {
    in_range(
        s,
        1e-12,
        1e-3,
        " (looser tolerances give errors of nats; tighter ones are beyond f64 resolution)",
    )
}

/// One line `error: …` on stderr (ignored if stderr itself is closed).
fn report(msg: &str) {
    let line = crate::text::one_line(msg);
    let line = line.strip_prefix("error: ").unwrap_or(&line);
    let _ = writeln!(std::io::stderr(), "error: {line}");
}

/// What the arguments ask for, before any file is read.
#[derive(Debug)]
pub enum Parsed {
    /// A command, to be validated ([`validate`]) and run.
    Command(Cli),
    /// Help or version text for stdout; exit status 0.
    Print(String),
    /// A usage error: the message of its one `error:` line; exit status 2.
    Error(String),
}

/// Parses the arguments (the first is the program name) with clap, turning clap's errors into
/// one short line (quoted values cut to 24 characters).
pub fn parse_args<I, T>(args: I) -> Parsed
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    use clap::error::ErrorKind;
    match Cli::try_parse_from(args) {
        Ok(c) => Parsed::Command(c),
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            Parsed::Print(e.render().to_string())
        }
        Err(e) if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => Parsed::Error(
            "no subcommand given (expected demo, sample, loglik, train or eval); see flowscore --help"
                .into(),
        ),
        Err(e) => {
            let text = e.render().to_string();
            let line: Vec<&str> = text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with("For more information"))
                .filter(|l| !l.starts_with("Usage:"))
                .collect();
            Parsed::Error(shorten_quoted(&line.join(" ")))
        }
    }
}

/// Runs the command line with these arguments (the first is the program name) and returns the
/// exit status: 0 on success (also when stdout was closed early), 2 on any error (after one
/// line `error: …` on stderr).
pub fn main_with_args<I, T>(args: I) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match parse_args(args) {
        Parsed::Command(c) => c,
        Parsed::Print(text) => {
            return match say(&text) {
                Ok(()) => 0,
                Err(err) => {
                    report(&err.to_string());
                    EXIT_ERROR
                }
            };
        }
        Parsed::Error(msg) => {
            report(&msg);
            return EXIT_ERROR;
        }
    };
    match validate(cli).and_then(Validated::run) {
        Ok(()) => 0,
        Err(e) => {
            report(&format!("{e:#}"));
            EXIT_ERROR
        }
    }
}

/// Shortens every '…'-quoted value (clap echoes the user's input) to at most 24 characters.
fn shorten_quoted(s: &str) -> String {
    let mut out = String::new();
    for (i, part) in s.split('\'').enumerate() {
        if i > 0 {
            out.push('\'');
        }
        if i % 2 == 1 && part.chars().count() > 24 {
            out.extend(part.chars().take(23));
            out.push('…');
        } else {
            out.push_str(part);
        }
    }
    out
}

/// A command after validation, before any work: its options checked against each other, its
/// output paths checked (and their temporary files created), its inputs read and validated.
/// Dropping it leaves the file system as it was.
pub enum Validated {
    /// `flowscore demo` (its output directory is checked when it starts, before any work).
    Demo(demo::DemoArgs),
    /// `flowscore sample --target`.
    Sample(crate::jobs::SampleJob),
    /// `flowscore sample --model`.
    ModelSample(crate::jobs::model_sample::ModelSampleJob),
    /// `flowscore loglik`.
    Loglik(crate::jobs::LoglikJob),
    /// `flowscore train`.
    Train(crate::jobs::train::TrainJob),
    /// `flowscore eval`.
    Eval(crate::jobs::eval::EvalJob),
}

/// Validates a parsed command into its job.
pub fn validate(cli: Cli) -> anyhow::Result<Validated> {
    Ok(match cli.command {
        Command::Demo(args) => Validated::Demo(args),
        Command::Sample(args) => sample::job(args)?,
        Command::Loglik(args) => Validated::Loglik(loglik::job(args)?),
        Command::Train(args) => Validated::Train(train::job(args)?),
        Command::Eval(args) => Validated::Eval(eval::job(args)?),
    })
}

impl Validated {
    /// Runs the job, saying its results on stdout.
    pub fn run(self) -> anyhow::Result<()> {
        match self {
            Validated::Demo(args) => demo::run(args),
            Validated::Sample(job) => job.run(&mut say),
            Validated::ModelSample(job) => job.run(&mut say),
            Validated::Loglik(job) => job.run(&mut say),
            Validated::Train(job) => job.run(&mut |s| say(&format!("{s}\n"))),
            Validated::Eval(job) => job.run(&mut say),
        }
    }
}

/// Validates and runs a parsed command.
pub fn execute(cli: Cli) -> anyhow::Result<()> {
    validate(cli)?.run()
}

#[cfg(test)]
mod tests {
    use clap::ValueEnum;

    use crate::jobs::{Method, SamplerKind};

    #[test]
    fn job_names_are_the_command_line_values() {
        for s in SamplerKind::value_variants() {
            assert_eq!(s.to_possible_value().unwrap().get_name(), s.name());
        }
        for m in Method::value_variants() {
            assert_eq!(m.to_possible_value().unwrap().get_name(), m.name());
        }
    }
}
