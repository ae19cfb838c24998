//! Normal distributions: the standard normal N(0, I) and a diagonal normal N(μ, diag σ²).

use super::{Distribution, HALF_LN_TAU, TwoF32};
use crate::error::{Error, all_finite};
use crate::lane::Lane;
use crate::real::Real;
use crate::rng::LaneSource;

/// The standard normal N(0, I) on ℝᴰ, for every `D`.
///
/// log p(x) = −‖x‖²/2 − (D/2)·ln 2π. Sampling takes `D` Box–Muller normals from the source, in
/// coordinate order. Cost O(D).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct StandardNormal;

impl<const D: usize> Distribution<D> for StandardNormal {
    #[inline(always)]
    fn sample<L: Lane, S: LaneSource<L>>(&self, rng: &mut S) -> [L; D] {
        rng.normal_array::<D>()
    }

    #[inline(always)]
    fn log_prob<R: Real>(&self, x: &[R; D]) -> R {
        let mut sq = R::zero();
        for &xi in x {
            sq += xi * xi;
        }
        R::from_f64(-(D as f64) * HALF_LN_TAU) - R::from_f64(0.5) * sq
    }
}

/// A normal with diagonal covariance, N(μ, diag σ²), on ℝᴰ.
///
/// log p(x) = Σᵢ [−((xᵢ − μᵢ)/σᵢ)²/2 − ln σᵢ] − (D/2)·ln 2π. The normalising constant is
/// prepared at construction (in `f64`, kept to ≈ 1e-15 as a sum of two `f32`s). Cost O(D).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DiagonalNormal<const D: usize> {
    mean: [f32; D],
    std: [f32; D],
    log_norm: TwoF32,
}

impl<const D: usize> DiagonalNormal<D> {
    /// From the mean and the standard deviations.
    ///
    /// Errors: [`Error::NonFinite`] for a NaN or infinite entry, [`Error::InvalidParameter`] for
    /// a standard deviation that is not > 0.
    pub fn new(mean: [f32; D], std: [f32; D]) -> Result<Self, Error> {
        all_finite("mean", &mean)?;
        all_finite("std", &std)?;
        let mut log_norm = -(D as f64) * HALF_LN_TAU;
        for &s in &std {
            if s <= 0.0 {
                return Err(Error::InvalidParameter { name: "std", reason: "must be > 0" });
            }
            log_norm -= libm::log(s as f64);
        }
        Ok(Self { mean, std, log_norm: TwoF32::new(log_norm) })
    }

    /// From the mean and the log standard deviations (σᵢ = exp(log_stdᵢ)).
    ///
    /// Errors as [`DiagonalNormal::new`]; a log-std whose exponential overflows or underflows
    /// `f32` is an [`Error::InvalidParameter`].
    pub fn from_log_std(mean: [f32; D], log_std: [f32; D]) -> Result<Self, Error> {
        all_finite("log_std", &log_std)?;
        let mut std = [0.0f32; D];
        for (s, &l) in std.iter_mut().zip(&log_std) {
            let v = libm::exp(l as f64);
            if !(v >= f32::MIN_POSITIVE as f64 && v <= f32::MAX as f64) {
                return Err(Error::InvalidParameter {
                    name: "log_std",
                    reason: "exp(log_std) must be a normal finite f32",
                });
            }
            *s = v as f32;
        }
        Self::new(mean, std)
    }

    /// The mean μ.
    pub fn mean(&self) -> [f32; D] {
        self.mean
    }

    /// The standard deviations σ.
    pub fn std(&self) -> [f32; D] {
        self.std
    }
}

impl<const D: usize> Distribution<D> for DiagonalNormal<D> {
    #[inline(always)]
    fn sample<L: Lane, S: LaneSource<L>>(&self, rng: &mut S) -> [L; D] {
        let eps = rng.normal_array::<D>();
        crate::lane::array_fn(|i| {
            <L as Lane>::from_f32(self.mean[i]) + <L as Lane>::from_f32(self.std[i]) * eps[i]
        })
    }

    #[inline(always)]
    fn log_prob<R: Real>(&self, x: &[R; D]) -> R {
        let mut sq = R::zero();
        for ((&xi, &m), &s) in x.iter().zip(&self.mean).zip(&self.std) {
            let e = (xi - R::from_f32(m)) / R::from_f32(s);
            sq += e * e;
        }
        self.log_norm.get::<R>() - R::from_f64(0.5) * sq
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Streams;

    /// Reference log-density of N(μ, σ²) in one dimension, in f64.
    fn ref_normal(x: f64, mu: f64, s: f64) -> f64 {
        let e = (x - mu) / s;
        -0.5 * e * e - libm::log(s) - HALF_LN_TAU
    }

    #[test]
    fn standard_normal_matches_closed_form() {
        let x = [0.3f64, -1.7, 2.5];
        let want: f64 = x.iter().map(|&v| ref_normal(v, 0.0, 1.0)).sum();
        let got = Distribution::<3>::log_prob(&StandardNormal, &x);
        assert!((got - want).abs() < 1e-14, "{got} vs {want}");
    }

    /// Observed: |error| ≤ 4e-16 (f32 parameters, f64 evaluation).
    #[test]
    fn diagonal_normal_matches_closed_form_and_log_std() {
        let (mu, s) = ([1.0f32, -2.0], [0.5f32, 3.0]);
        let d = DiagonalNormal::new(mu, s).unwrap();
        let d2 = DiagonalNormal::from_log_std(mu, [libm::logf(0.5), libm::logf(3.0)]).unwrap();
        let x = [0.2f64, 4.0];
        let want = ref_normal(0.2, 1.0, 0.5) + ref_normal(4.0, -2.0, 3.0);
        assert!((d.log_prob(&x) - want).abs() < 1e-13);
        // σ = exp(ln σ rounded to f32) differs from σ by ≈ 1e-7 relative.
        assert!((d2.log_prob(&x) - want).abs() < 1e-6);
    }

    #[test]
    fn diagonal_normal_sample_is_affine_in_standard_draws() {
        let d = DiagonalNormal::new([1.0f32, -2.0], [0.5, 3.0]).unwrap();
        let x: [f32; 2] = d.sample(&mut Streams::<f32>::new(3, 5));
        let e: [f32; 2] = StandardNormal.sample(&mut Streams::<f32>::new(3, 5));
        assert_eq!(x[0], 1.0 + 0.5 * e[0]);
        assert_eq!(x[1], -2.0 + 3.0 * e[1]);
    }

    #[test]
    fn constructors_reject_bad_parameters() {
        assert_eq!(DiagonalNormal::new([f32::NAN], [1.0]), Err(Error::NonFinite("mean")));
        assert_eq!(DiagonalNormal::new([0.0], [f32::INFINITY]), Err(Error::NonFinite("std")));
        assert!(matches!(DiagonalNormal::new([0.0], [0.0]), Err(Error::InvalidParameter { .. })));
        assert!(matches!(DiagonalNormal::new([0.0], [-1.0]), Err(Error::InvalidParameter { .. })));
        assert_eq!(
            DiagonalNormal::from_log_std([0.0], [f32::NAN]),
            Err(Error::NonFinite("log_std"))
        );
        assert!(matches!(
            DiagonalNormal::from_log_std([0.0], [200.0]),
            Err(Error::InvalidParameter { .. })
        ));
    }
}
