//! Jobs: validated work built from the arguments, and its run on the core.
//!
//! A job is made in two steps. A request ([`SampleRequest`], [`LoglikRequest`]) holds the
//! options as given (`None` where one was not given); [`SampleJob::new`] and
//! [`LoglikJob::new`] validate it — options that do not apply, the output path (its extension,
//! its directory, not an input; the temporary file is created beside it), the target, the data
//! — before any work starts, and fill in the defaults. [`SampleJob::run`] and
//! [`LoglikJob::run`] then do the work and move the output into place only when it is
//! complete.
//!
//! The work itself is [`mixture`]'s: the Gaussian-mixture target dispatched to the core's
//! const-generic samplers and likelihoods, on [`crate::par`]'s parallel driver, in the standard
//! coordinates of [`standard`].

pub mod eval;
pub mod loglik;
pub mod mixture;
pub mod model_file;
pub mod model_sample;
mod pf_rows;
pub mod sample;
pub mod standard;
pub mod train;

pub use loglik::{
    DEFAULT_MAX_STEPS, DEFAULT_TOL, LoglikJob, LoglikOutput, LoglikRequest, LoglikSettings, Method,
    OdeOptions,
};
pub use sample::{
    ADAPTIVE_TOL_MAX, ADAPTIVE_TOL_MIN, ANNEAL_LEVELS, ANNEAL_SIGMA_MIN, CORRECTOR_STEPS,
    DEFAULT_ADAPTIVE_ATOL, DEFAULT_ADAPTIVE_RTOL, DEFAULT_ANNEALED_STEP, DEFAULT_ANNEALED_STEPS,
    DEFAULT_DPM_STEPS, DEFAULT_DPM3_STEPS, DEFAULT_EDM_STEPS, DEFAULT_LANGEVIN_STEP, DEFAULT_SNR,
    DEFAULT_SRK_STEPS, DEFAULT_STEPS, DEFAULT_UNIPC_STEPS, Precision, SampleJob, SampleOutput,
    SampleRequest, SampleSettings, SamplerKind,
};
pub use standard::Standardised;

/// Where a job's messages go (the command line passes its broken-pipe-safe printer). A job
/// prints before it moves its outputs into place, so a failure to print leaves nothing written.
pub type Say<'a> = &'a mut dyn FnMut(&str) -> anyhow::Result<()>;

/// Errors when an option was given to a sampler or method it does not apply to.
pub(crate) fn not_for(given: bool, option: &str, what: &str) -> anyhow::Result<()> {
    anyhow::ensure!(!given, "{option} does not apply to {what}");
    Ok(())
}

/// The one error of a sample that came out NaN or infinite (whichever sampler or model made it).
pub(crate) fn non_finite_sample(i: u64) -> anyhow::Error {
    anyhow::anyhow!(
        "sample {i} is not finite (NaN or infinite): the step size is too large for the target, \
         or the score diverges there"
    )
}

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
                "dimension D = {d} is not supported (D must be 1..={})", $crate::io::spec::MAX_DIM
            )),
        }
    };
}
