//! Time embeddings for learned score networks (MATH.md §7, "ScoreNet").
//!
//! Both are [sin(2π wₖ τ), cos(2π wₖ τ)] for F frequencies wₖ (in cycles per unit of τ):
//! - Gaussian random Fourier features (Tancik et al. 2020; score_sde's NCSN++): wₖ ~ N(0, s²),
//!   drawn once at initialisation and then fixed (s = 16, τ = ln σ_t for VE);
//! - the sinusoidal embedding of DDPM (score_sde's VP models): wₖ = exp(−ln(10⁴)·k/(F − 1))/(2π),
//!   τ = 999·t.
//!
//! The frequencies are not trained (as in score_sde), so the embedding has no gradient. Cost: F
//! sin/cos pairs per sample.

use crate::error::{Error, all_finite};
use crate::real::Real;
use crate::rng::{LaneSource, Streams};

/// score_sde's Fourier-feature scale s (NCSN++ `fourier_scale`).
pub const FOURIER_SCALE: f32 = 16.0;
/// DDPM's time scale: τ = 999·t, the index of the discrete step.
pub const DDPM_TIME_SCALE: f32 = 999.0;
/// DDPM's maximum period 10⁴ of the sinusoidal embedding.
const DDPM_MAX_PERIOD: f64 = 10_000.0;

/// What the embedding is a function of.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum TimeFeature {
    /// τ = scale·t (t is the model's time argument).
    Time {
        /// The factor on t.
        scale: f32,
    },
    /// τ = ln σ, the log of the noise level the model is conditioned on.
    LogSigma,
}

/// A fixed embedding of the time (or noise level) into 2F features.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TimeEmbedding<const F: usize> {
    freqs: [f32; F],
    feature: TimeFeature,
}

impl<const F: usize> TimeEmbedding<F> {
    /// An embedding with the given frequencies (cycles per unit of τ).
    ///
    /// Errors: [`Error::NonFinite`] for a NaN or infinite frequency or time scale.
    pub fn new(freqs: [f32; F], feature: TimeFeature) -> Result<Self, Error> {
        all_finite("embedding frequencies", &freqs)?;
        if let TimeFeature::Time { scale } = feature {
            all_finite("embedding time scale", &[scale])?;
        }
        Ok(Self { freqs, feature })
    }

    /// Gaussian random Fourier features wₖ ~ N(0, scale²), drawn from stream 1 of `seed`.
    ///
    /// Errors: [`Error::InvalidParameter`] for a scale that is not positive and finite.
    pub fn fourier(scale: f32, feature: TimeFeature, seed: u64) -> Result<Self, Error> {
        if !(scale > 0.0 && scale.is_finite()) {
            return Err(Error::InvalidParameter {
                name: "fourier scale",
                reason: "must be positive and finite",
            });
        }
        let mut rng = Streams::<f32>::new(seed, 1);
        Self::new(crate::lane::array_fn(|_| scale * rng.normal()), feature)
    }

    /// DDPM's sinusoidal embedding of τ = 999·t.
    pub fn sinusoidal() -> Self {
        let denom = F.saturating_sub(1).max(1) as f64;
        let freqs = crate::lane::array_fn(|k| {
            (libm::exp(-libm::log(DDPM_MAX_PERIOD) * k as f64 / denom) / core::f64::consts::TAU)
                as f32
        });
        Self { freqs, feature: TimeFeature::Time { scale: DDPM_TIME_SCALE } }
    }

    /// The frequencies wₖ.
    pub fn freqs(&self) -> &[f32; F] {
        &self.freqs
    }

    /// What τ is.
    pub fn feature(&self) -> TimeFeature {
        self.feature
    }

    /// τ for time `t` and noise level `sigma`.
    #[inline(always)]
    pub fn tau<R: Real>(&self, t: R, sigma: R) -> R {
        match self.feature {
            TimeFeature::Time { scale } => R::from_f32(scale) * t,
            TimeFeature::LogSigma => sigma.ln(),
        }
    }

    /// Write [sin(2π wₖ τ) for k < F, cos(2π wₖ τ) for k < F] into `out` (2F entries; a shorter
    /// slice receives what fits).
    #[inline]
    pub fn embed_into<R: Real>(&self, tau: R, out: &mut [R]) {
        let two_pi_tau = R::from_f64(core::f64::consts::TAU) * tau;
        let (sins, coss) = out.split_at_mut(F.min(out.len()));
        let mut coss = coss.iter_mut();
        for (s, &w) in sins.iter_mut().zip(self.freqs.iter()) {
            let (sv, cv) = (R::from_f32(w) * two_pi_tau).sin_cos();
            *s = sv;
            if let Some(c) = coss.next() {
                *c = cv;
            }
        }
    }
}
