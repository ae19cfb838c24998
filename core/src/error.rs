//! The crate's one error type. Bad parameters and failed solves are values, never panics.

use core::fmt;

/// Everything that can go wrong in flowscore's core.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A parameter is NaN or infinite. Holds the parameter's name.
    NonFinite(&'static str),
    /// A parameter is finite but outside its valid domain (e.g. a step size ≤ 0, a zero on an
    /// LU diagonal, knots that do not increase).
    InvalidParameter {
        /// The parameter's name.
        name: &'static str,
        /// What it must satisfy.
        reason: &'static str,
    },
    /// An iterative solve (e.g. the planar inverse) did not converge within its bounded
    /// number of iterations for at least one finite lane.
    NotConverged(&'static str),
    /// An adaptive ODE solve needed a step below its minimum step size.
    StepSizeUnderflow,
    /// An adaptive ODE solve reached its maximum number of steps.
    MaxStepsExceeded,
    /// A solver state became NaN or infinite from finite input.
    NonFiniteState,
    /// An adaptive SDE solve had to store more revealed Brownian intervals than its bounded
    /// memory holds (see [`crate::sample::adaptive`]).
    BrownianMemoryFull,
    /// Serialized model bytes are malformed (bad magic, version, size or checksum).
    Format(&'static str),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NonFinite(name) => write!(f, "parameter `{name}` is not finite"),
            Error::InvalidParameter { name, reason } => {
                write!(f, "invalid parameter `{name}`: {reason}")
            }
            Error::NotConverged(what) => write!(f, "{what} did not converge"),
            Error::StepSizeUnderflow => write!(f, "ODE step size fell below its minimum"),
            Error::MaxStepsExceeded => write!(f, "ODE solve reached its maximum number of steps"),
            Error::NonFiniteState => write!(f, "solver state became non-finite"),
            Error::BrownianMemoryFull => {
                write!(f, "adaptive SDE solve filled its bounded Brownian-path memory")
            }
            Error::Format(what) => write!(f, "malformed model bytes: {what}"),
        }
    }
}

impl core::error::Error for Error {}

/// Check that an `f32` parameter is finite.
#[allow(dead_code)]
pub(crate) fn finite(name: &'static str, x: f32) -> Result<f32, Error> {
    if x.is_finite() { Ok(x) } else { Err(Error::NonFinite(name)) }
}

/// Check that every entry of an `f32` parameter array is finite.
#[allow(dead_code)]
pub(crate) const fn all_finite(name: &'static str, xs: &[f32]) -> Result<(), Error> {
    // A `while` loop: the function is `const` (the firmware builds flash-resident models with
    // it at compile time).
    let mut i = 0;
    while i < xs.len() {
        if !xs[i].is_finite() {
            return Err(Error::NonFinite(name));
        }
        i += 1;
    }
    Ok(())
}
