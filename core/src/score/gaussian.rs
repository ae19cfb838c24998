//! The Gaussian N(μ, Σ) with full covariance as a (time-independent) closed-form score model
//! (MATH.md §2): s(x) = Σ⁻¹(μ − x), ∇·s = −tr Σ⁻¹.

use crate::dist::Distribution;
use crate::error::Error;
use crate::lane::Lane;
use crate::real::Real;
use crate::rng::LaneSource;
use crate::score::covariance::Covariance;
use crate::score::{ExactScoreModel, ScoreModel};

/// ½ ln 2π.
pub(crate) const HALF_LN_TAU: f64 = 0.918_938_533_204_672_8;

/// N(μ, Σ): Σ validated SPD and eigen-decomposed at construction; Σ⁻¹, log|Σ| and a square-root
/// factor precomputed. The time argument of [`ScoreModel::score`] is ignored.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Gaussian<const D: usize> {
    mean: [f32; D],
    covariance: Covariance<D>,
    precision: [[f32; D]; D],
    trace_precision: f32,
    sqrt_factor: [[f32; D]; D],
    /// −½ log|Σ| − (D/2) ln 2π.
    log_norm: f32,
}

impl<const D: usize> Gaussian<D> {
    /// N(mean, covariance); see [`Covariance::new`] for the checks on the covariance.
    pub fn new(mean: [f32; D], covariance: [[f32; D]; D]) -> Result<Self, Error> {
        if !mean.iter().all(|v| v.is_finite()) {
            return Err(Error::NonFinite("mean"));
        }
        let covariance = Covariance::new(covariance)?;
        let p = covariance.precision();
        let precision = p.map(|row| row.map(|v| v as f32));
        let trace_precision = (0..D).map(|i| p[i][i]).sum::<f64>() as f32;
        let log_norm = (-0.5 * covariance.log_det() - D as f64 * HALF_LN_TAU) as f32;
        Ok(Self {
            mean,
            covariance,
            precision,
            trace_precision,
            sqrt_factor: covariance.sqrt_factor(),
            log_norm,
        })
    }
    /// μ.
    pub fn mean(&self) -> &[f32; D] {
        &self.mean
    }
    /// Σ and its eigen-decomposition.
    pub fn covariance(&self) -> &Covariance<D> {
        &self.covariance
    }
    /// Σ⁻¹ (rounded to `f32`).
    pub fn precision(&self) -> &[[f32; D]; D] {
        &self.precision
    }

    /// Σ⁻¹(μ − x), and μ − x.
    #[inline(always)]
    fn precision_times_residual<R: Real>(&self, x: &[R; D]) -> ([R; D], [R; D]) {
        let r: [R; D] = crate::lane::array_fn(|i| R::from_f32(self.mean[i]) - x[i]);
        let s = crate::lane::array_fn(|i| {
            let mut acc = R::zero();
            for (p, rj) in self.precision[i].iter().zip(r.iter()) {
                acc += R::from_f32(*p) * *rj;
            }
            acc
        });
        (s, r)
    }
}

impl<const D: usize> ScoreModel<D> for Gaussian<D> {
    #[inline]
    fn score<R: Real>(&self, x: &[R; D], _t: R) -> [R; D] {
        self.precision_times_residual(x).0
    }
}

impl<const D: usize> ExactScoreModel<D> for Gaussian<D> {
    #[inline]
    fn log_density<R: Real>(&self, x: &[R; D], _t: R) -> R {
        self.log_prob(x)
    }
    #[inline]
    fn divergence<R: Real>(&self, _x: &[R; D], _t: R) -> R {
        R::from_f32(-self.trace_precision)
    }
}

impl<const D: usize> Distribution<D> for Gaussian<D> {
    /// x = μ + A z with A Aᵀ = Σ, z ~ N(0, I): D normal draws per sample.
    #[inline]
    fn sample<L: Lane, S: LaneSource<L>>(&self, rng: &mut S) -> [L; D] {
        let z: [L; D] = rng.normal_array();
        crate::lane::array_fn(|i| {
            let mut acc = <L as Lane>::from_f32(self.mean[i]);
            for (a, zj) in self.sqrt_factor[i].iter().zip(z.iter()) {
                acc += <L as Lane>::from_f32(*a) * *zj;
            }
            acc
        })
    }
    #[inline]
    fn log_prob<R: Real>(&self, x: &[R; D]) -> R {
        let (s, r) = self.precision_times_residual(x);
        let mut q = R::zero();
        for (si, ri) in s.iter().zip(r.iter()) {
            q += *si * *ri;
        }
        R::from_f32(self.log_norm) - R::from_f64(0.5) * q
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Streams;

    fn g() -> Gaussian<2> {
        Gaussian::new([1.0, -2.0], [[2.0, 0.8], [0.8, 1.0]]).unwrap()
    }

    #[test]
    fn score_is_the_gradient_of_the_log_density() {
        let g = g();
        let h = 1e-5;
        for x in [[0.3f64, 0.1], [-4.0, 2.0], [1.0, -2.0]] {
            let s = g.score(&x, 0.0);
            for i in 0..2 {
                let (mut xp, mut xm) = (x, x);
                xp[i] += h;
                xm[i] -= h;
                let fd = (g.log_prob(&xp) - g.log_prob(&xm)) / (2.0 * h);
                assert!((fd - s[i]).abs() < 1e-7, "{fd} vs {}", s[i]);
            }
            // tr Σ⁻¹ for [[2, .8], [.8, 1]]: (2 + 1)/det, det = 1.36.
            assert!((g.divergence(&x, 0.0) + 3.0 / 1.36).abs() < 1e-6);
        }
    }

    #[test]
    fn density_matches_closed_form() {
        // At the mean: log p = −½ log(2π)² − ½ log 1.36.
        let lp = g().log_prob(&[1.0f64, -2.0]);
        assert!((lp - (-(2.0 * core::f64::consts::PI).ln() - 0.5 * 1.36f64.ln())).abs() < 1e-6);
    }

    #[test]
    fn samples_have_the_right_moments() {
        let g = g();
        let n = 20_000u64;
        let (mut m, mut c) = ([0.0f64; 2], [[0.0f64; 2]; 2]);
        for i in 0..n {
            let x: [f32; 2] = g.sample(&mut Streams::new(3, i));
            for a in 0..2 {
                m[a] += x[a] as f64 / n as f64;
                for b in 0..2 {
                    c[a][b] += (x[a] as f64 - g.mean[a] as f64) * (x[b] as f64 - g.mean[b] as f64)
                        / n as f64;
                }
            }
        }
        // Standard errors: mean √(Σᵢᵢ/n) ≤ 0.01, covariance entries ≤ 2·√2/√n ≈ 0.02: 5σ bounds.
        assert!((m[0] - 1.0).abs() < 0.05 && (m[1] + 2.0).abs() < 0.05, "{m:?}");
        let want = [[2.0, 0.8], [0.8, 1.0]];
        for a in 0..2 {
            for b in 0..2 {
                assert!((c[a][b] - want[a][b]).abs() < 0.1, "{c:?}");
            }
        }
    }

    #[test]
    fn rejects_bad_mean() {
        assert_eq!(
            Gaussian::new([f32::INFINITY, 0.0], [[1.0, 0.0], [0.0, 1.0]]),
            Err(Error::NonFinite("mean"))
        );
    }
}
