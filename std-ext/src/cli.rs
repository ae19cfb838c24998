//! The `flowscore` command line: argument parsing, validation before any work, and the
//! one-line-error policy (`error: …` on stderr, exit status 2, nothing written).

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use clap::{Parser, Subcommand};
use flowscore::sde::{SubVp, Ve, Vp};

use crate::output::Staged;
use crate::standard::Standardised;

use crate::run::{
    DEFAULT_MAX_STEPS, DEFAULT_TOL, LoglikJob, Method, OdeOptions, SampleJob, SamplerKind,
};
use crate::sde_kind::AnySde;
use crate::spec::Spec;
use crate::table::{self, TableWriter};

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
    Demo {
        /// Output directory (created with its parents if missing; files already in it other
        /// than the demo's six are left alone).
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
alpha_i = eps sigma_i^2 / sigma_L^2); --snr 0.16 (pc); --sde vp.\n\n\
Which options apply: --steps to langevin, mala, annealed-langevin, euler-maruyama, pc; \
--step-size to langevin, mala, annealed-langevin; --snr to pc; --sde to euler-maruyama, pc, ode. \
Giving an option to a sampler it does not apply to is an error. Step sizes act in standard \
coordinates (the target mapped to mean 0, covariance I); 1e-10 <= step size <= 10. A chain \
that ends exactly at its start is an error. The ode sampler starts from the exact p_T of the \
target. N <= 1e8; samples are computed and written in chunks, so memory does not grow with N.")]
    Sample {
        /// The target mixture, SPEC.json.
        #[arg(long, value_name = "SPEC.json")]
        target: PathBuf,
        /// The sampler.
        #[arg(long, value_enum)]
        sampler: SamplerKind,
        /// The SDE (euler-maruyama, pc, ode) [default: vp].
        #[arg(long, value_enum)]
        sde: Option<SdeName>,
        /// Number of samples.
        #[arg(short = 'n', value_name = "N", default_value_t = 1000,
              value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
        n: u64,
        /// Number of steps (per noise level for annealed-langevin); must be >= 1.
        #[arg(long, value_name = "S", value_parser = clap::value_parser!(u32).range(1..))]
        steps: Option<u32>,
        /// Step size (langevin, mala, annealed-langevin), in standard coordinates; 1e-10..=10.
        #[arg(long, value_name = "E", value_parser = step_size, allow_hyphen_values = true)]
        step_size: Option<f64>,
        /// Corrector signal-to-noise ratio (pc), 1e-6..=10 [default: 0.16].
        #[arg(long, value_name = "R", value_parser = snr, allow_hyphen_values = true)]
        snr: Option<f64>,
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
statistics. Writes N values: .npy (float64, '<f8', shape (N,)) or .csv (header log_p).\n\n\
The density is evaluated in standard coordinates (the target mapped to mean 0, covariance I; \
the SDE's noise is added there) and returned in data coordinates: log p(x) = log p_z(z) - log \
det L, exact. Limits: 1e-12 <= eps <= 1 - 1e-6; 1e-12 <= rtol, atol <= 1e-3. Which options \
apply: --rtol, --atol to ode and ode-hutchinson; --probes and --seed to ode-hutchinson; giving \
one to a method it does not apply to is an error. A log-density that is not finite in f64 is an \
error.")]
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
        /// The time eps at which the log-density is evaluated, 1e-12..=1-1e-6.
        #[arg(long, value_name = "E", value_parser = eps, allow_hyphen_values = true, default_value = "1e-5")]
        eps: f64,
        /// ODE relative tolerance (ode, ode-hutchinson), 1e-12..=1e-3 [default: 1e-5].
        #[arg(long, value_name = "R", value_parser = tolerance, allow_hyphen_values = true)]
        rtol: Option<f64>,
        /// ODE absolute tolerance (ode, ode-hutchinson), 1e-12..=1e-3 [default: 1e-5].
        #[arg(long, value_name = "A", value_parser = tolerance, allow_hyphen_values = true)]
        atol: Option<f64>,
        /// Hutchinson probes per point (ode-hutchinson), 1..=1024 [default: 1].
        #[arg(long, value_name = "M", value_parser = clap::value_parser!(u32).range(1..=1024))]
        probes: Option<u32>,
        /// Random seed (ode-hutchinson probes); row i uses the stream (seed, i) [default: 0].
        #[arg(long, value_name = "S")]
        seed: Option<u64>,
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
        Err(format!("{} is outside {lo:e}..={hi:e}{what}", crate::spec::num(v)))
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
/// Default predictor–corrector signal-to-noise ratio (score_sde's 0.16).
pub const DEFAULT_SNR: f64 = 0.16;

static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// Writes `text` to stdout and flushes it. A closed stdout (broken pipe) is not an error: the
/// reader has what it wanted, so nothing more is printed and the command carries on; any other
/// failure (a full disk, say) is an error.
pub fn say(text: &str) -> anyhow::Result<()> {
    if STDOUT_CLOSED.load(Ordering::Relaxed) {
        return Ok(());
    }
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
            STDOUT_CLOSED.store(true, Ordering::Relaxed);
            Ok(())
        }
        Err(e) => Err(anyhow::anyhow!("cannot write to stdout: {e}")),
    }
}

/// One line `error: …` on stderr (ignored if stderr itself is closed).
fn report(msg: &str) {
    let line = crate::spec::one_line(msg);
    let line = line.strip_prefix("error: ").unwrap_or(&line);
    let _ = writeln!(std::io::stderr(), "error: {line}");
}

/// Runs the command line with these arguments (the first is the program name) and returns the
/// exit status: 0 on success (also when stdout was closed early), 2 on any error (after one
/// line `error: …` on stderr).
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
                return match say(&e.render().to_string()) {
                    Ok(()) => 0,
                    Err(err) => {
                        report(&err.to_string());
                        EXIT_ERROR
                    }
                };
            }
            if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                report(
                    "no subcommand given (expected demo, sample or loglik); see flowscore --help",
                );
                return EXIT_ERROR;
            }
            let text = e.render().to_string();
            let line: Vec<&str> = text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with("For more information"))
                .filter(|l| !l.starts_with("Usage:"))
                .collect();
            report(&shorten_quoted(&line.join(" ")));
            return EXIT_ERROR;
        }
    };
    match execute(cli) {
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

/// Errors when an option was given to a sampler or method it does not apply to.
fn not_for(given: bool, option: &str, what: &str) -> anyhow::Result<()> {
    anyhow::ensure!(!given, "{option} does not apply to {what}");
    Ok(())
}

/// Runs a parsed command.
pub fn execute(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Demo { out, seed } => crate::demo::run(&out, seed).map(|_| ()),
        Command::Sample { target, sampler, sde, n, steps, step_size, snr, seed, out } => {
            use SamplerKind as S;
            let what = format!("--sampler {}", sampler_name(sampler));
            let langevin = matches!(sampler, S::Langevin | S::Mala | S::AnnealedLangevin);
            not_for(steps.is_some() && sampler == S::Ode, "--steps", &what)?;
            not_for(step_size.is_some() && !langevin, "--step-size", &what)?;
            not_for(snr.is_some() && sampler != S::Pc, "--snr", &what)?;
            not_for(sde.is_some() && langevin, "--sde", &what)?;
            table::check_output(&out)?;
            let staged = Staged::new(&out, &[&target])?;
            let spec = Spec::read(&target)?;
            let st = Standardised::new(&spec)?;
            let annealed = sampler == SamplerKind::AnnealedLangevin;
            let job = SampleJob {
                sampler,
                sde: sde.unwrap_or(SdeName::Vp).sde(),
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
                snr: snr.unwrap_or(DEFAULT_SNR),
                seed,
            };
            let start = Instant::now();
            let d = spec.dim;
            let cols: Vec<String> = (0..d).map(|i| format!("x{i}")).collect();
            let mut w = TableWriter::new(&staged, job.n, &cols, false)?;
            let mut x = Vec::new();
            let mean = crate::core_run::sample_into(&st.spec, &job, &mut |zs| {
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
            let note = crate::core_run::note_of(sampler, mean);
            say(&format!(
                "wrote {} samples (D = {d}) to {} in {:.2} s{}\n",
                job.n,
                out.display(),
                start.elapsed().as_secs_f64(),
                note.map(|n| format!("; {n}")).unwrap_or_default()
            ))?;
            staged.commit()
        }
        Command::Loglik { target, data, method, sde, eps, rtol, atol, probes, seed, out } => {
            let what = format!("--method {}", method_name(method));
            let ode = method != Method::Exact;
            let hutch = method == Method::OdeHutchinson;
            not_for(rtol.is_some() && !ode, "--rtol", &what)?;
            not_for(atol.is_some() && !ode, "--atol", &what)?;
            not_for(probes.is_some() && !hutch, "--probes", &what)?;
            not_for(seed.is_some() && !hutch, "--seed", &what)?;
            table::check_output(&out)?;
            let staged = Staged::new(&out, &[&target, &data])?;
            let spec = Spec::read(&target)?;
            let st = Standardised::new(&spec)?;
            let mut table_in = table::read(&data)?;
            anyhow::ensure!(
                table_in.cols == spec.dim,
                "data has {} columns but the spec has dimension D = {}",
                table_in.cols,
                spec.dim
            );
            let mut z = vec![0.0; spec.dim];
            for row in table_in.data.chunks_mut(spec.dim) {
                st.to_standard(row, &mut z);
                row.copy_from_slice(&z);
            }
            let job = LoglikJob {
                method,
                sde: sde.sde(),
                eps,
                ode: OdeOptions {
                    rtol: rtol.unwrap_or(DEFAULT_TOL),
                    atol: atol.unwrap_or(DEFAULT_TOL),
                    max_steps: DEFAULT_MAX_STEPS,
                },
                probes: probes.unwrap_or(1) as usize,
                seed: seed.unwrap_or(0),
            };
            let start = Instant::now();
            let mut res = crate::core_run::loglik(&st.spec, &table_in, &job)?;
            drop(table_in);
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
}

fn sampler_name(s: SamplerKind) -> String {
    clap::ValueEnum::to_possible_value(&s).map(|v| v.get_name().to_string()).unwrap_or_default()
}

fn method_name(m: Method) -> String {
    clap::ValueEnum::to_possible_value(&m).map(|v| v.get_name().to_string()).unwrap_or_default()
}
