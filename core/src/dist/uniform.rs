//! The uniform distribution on an axis-aligned box [lo, hi].

use super::{Distribution, TwoF32};
use crate::error::{Error, all_finite};
use crate::lane::Lane;
use crate::real::Real;
use crate::rng::LaneSource;

/// The uniform distribution on the box ∏ᵢ [loᵢ, hiᵢ] in ℝᴰ.
///
/// log p(x) = −Σᵢ ln(hiᵢ − loᵢ) inside the (closed) box, −∞ outside, NaN for a NaN coordinate.
/// Samples are loᵢ + (hiᵢ − loᵢ)·uᵢ with uᵢ uniform on [0, 1). Cost O(D).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct UniformBox<const D: usize> {
    lo: [f32; D],
    hi: [f32; D],
    width: [f32; D],
    log_density: TwoF32,
}

impl<const D: usize> UniformBox<D> {
    /// The box with corners `lo` and `hi`.
    ///
    /// Errors: [`Error::NonFinite`] for a NaN or infinite corner; [`Error::InvalidParameter`]
    /// unless loᵢ < hiᵢ with a width hiᵢ − loᵢ that is finite in `f32`.
    pub fn new(lo: [f32; D], hi: [f32; D]) -> Result<Self, Error> {
        all_finite("lo", &lo)?;
        all_finite("hi", &hi)?;
        let mut width = [0.0f32; D];
        let mut log_density = 0.0f64;
        for i in 0..D {
            if lo[i] >= hi[i] {
                return Err(Error::InvalidParameter { name: "hi", reason: "must exceed lo" });
            }
            let w = hi[i] - lo[i];
            if !w.is_finite() {
                return Err(Error::InvalidParameter {
                    name: "hi",
                    reason: "hi - lo must be finite in f32",
                });
            }
            width[i] = w;
            log_density -= libm::log(hi[i] as f64 - lo[i] as f64);
        }
        Ok(Self { lo, hi, width, log_density: TwoF32::new(log_density) })
    }

    /// The lower corner.
    pub fn lo(&self) -> [f32; D] {
        self.lo
    }

    /// The upper corner.
    pub fn hi(&self) -> [f32; D] {
        self.hi
    }
}

impl<const D: usize> Distribution<D> for UniformBox<D> {
    #[inline(always)]
    fn sample<L: Lane, S: LaneSource<L>>(&self, rng: &mut S) -> [L; D] {
        crate::lane::array_fn(|i| {
            let u = rng.uniform();
            <L as Lane>::from_f32(self.lo[i]) + <L as Lane>::from_f32(self.width[i]) * u
        })
    }

    #[inline(always)]
    fn log_prob<R: Real>(&self, x: &[R; D]) -> R {
        let mut out = self.log_density.get::<R>();
        let neg_inf = R::from_f64(f64::NEG_INFINITY);
        for ((&xi, &lo), &hi) in x.iter().zip(&self.lo).zip(&self.hi) {
            let inside = xi.ge(R::from_f32(lo)) & xi.le(R::from_f32(hi));
            out = R::select(inside, out, neg_inf);
            // A NaN coordinate compares false everywhere: give NaN, not −∞.
            let nan = !xi.le(xi);
            out = R::select(nan, xi, out);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Streams;
    use wide::f32x8;

    #[test]
    fn log_prob_inside_outside_and_nan() {
        let u = UniformBox::new([1.0f32, -1.0], [3.0, 3.0]).unwrap();
        let want = -libm::log(8.0);
        assert!((u.log_prob(&[2.0f64, 0.0]) - want).abs() < 1e-15);
        assert!((u.log_prob(&[1.0f64, 3.0]) - want).abs() < 1e-7);
        assert_eq!(u.log_prob(&[0.99f64, 0.0]), f64::NEG_INFINITY);
        assert_eq!(u.log_prob(&[2.0f64, 3.5]), f64::NEG_INFINITY);
        assert!(u.log_prob(&[f64::NAN, 0.0]).is_nan());
        let x = [f32x8::from([2.0, 0.0, f32::NAN, 2.0, 2.0, 2.0, 2.0, 2.0]), f32x8::splat(0.0)];
        let lp = u.log_prob(&x).to_array();
        assert!(lp[2].is_nan());
        assert_eq!(lp[1], f32::NEG_INFINITY);
        assert_eq!(lp[0], lp[3]);
        assert!((lp[0] as f64 - want).abs() < 1e-6);
    }

    #[test]
    fn samples_lie_in_the_box() {
        let u = UniformBox::new([1.0f32, -1.0], [3.0, 3.0]).unwrap();
        let mut s = Streams::<f32x8>::new(1, 0);
        for _ in 0..1000 {
            let x: [f32x8; 2] = u.sample(&mut s);
            assert!(u.log_prob(&x).to_array().iter().all(|v| v.is_finite()));
        }
    }

    #[test]
    fn constructor_rejects_bad_corners() {
        assert_eq!(UniformBox::new([f32::NAN], [1.0]), Err(Error::NonFinite("lo")));
        assert_eq!(UniformBox::new([0.0], [f32::INFINITY]), Err(Error::NonFinite("hi")));
        assert!(matches!(UniformBox::new([1.0], [1.0]), Err(Error::InvalidParameter { .. })));
        assert!(matches!(
            UniformBox::new([-f32::MAX], [f32::MAX]),
            Err(Error::InvalidParameter { .. })
        ));
    }
}
