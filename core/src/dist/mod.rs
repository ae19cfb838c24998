//! Base distributions over `[R; D]`: standard normal, diagonal normal, uniform box.
//!
//! They are the base p_Z of a normalizing flow (MATH.md §1): each draws one independent point
//! per lane from a [`LaneSource`] and scores points over any [`Real`]. Parameters are stored as
//! `f32` and validated at construction; whatever depends only on them (normalising constants,
//! reciprocal scales) is prepared once there. Every method costs O(D) and never panics; a NaN
//! coordinate gives a NaN log-density in its own lane only.

use crate::lane::{Lane, Scalar};
use crate::real::Real;
use crate::rng::LaneSource;

mod normal;
mod uniform;

pub use normal::{DiagonalNormal, StandardNormal};
pub use uniform::UniformBox;

/// ln(2π)/2, the per-coordinate normalising constant of a standard normal.
pub(crate) const HALF_LN_TAU: f64 = 0.918_938_533_204_672_8;

/// A derived constant kept as an unevaluated sum of two `f32`s, hi + lo, which holds an `f64`
/// value to about 2⁻⁴⁸ relative.
///
/// Parameters are `f32`, but constants derived from them (a normalising constant, a planar
/// layer's wᵀû) are not exactly representable in `f32`. Stored as one rounded `f32` they would
/// cap `f64` evaluation at `f32` accuracy (≈ 6e-8 relative); as hi + lo, `f64` evaluation sees
/// the constant to ≈ 1e-15, while an `f32` lane computes hi + lo = hi at the cost of one add.
/// No `f64` is stored, so nothing needs soft-float conversion on an FPU-less or single-precision
/// target.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct TwoF32 {
    hi: f32,
    lo: f32,
}

impl TwoF32 {
    /// Split `x` into hi = round(x), lo = round(x − hi).
    pub(crate) fn new(x: f64) -> Self {
        let hi = x as f32;
        Self { hi, lo: (x - hi as f64) as f32 }
    }

    /// `hi` as given (the `f32` value single-precision lanes use, e.g. one computed by the
    /// crate's own `f32` functions), lo = round(x − hi), so that wider lanes see `x`.
    pub(crate) fn with_hi(hi: f32, x: f64) -> Self {
        Self { hi, lo: (x - hi as f64) as f32 }
    }

    /// The rounded value (the `f32` constant).
    pub(crate) fn hi(self) -> f32 {
        self.hi
    }

    /// The value in the precision of `R`: hi on single-precision lanes (which is what hi + lo
    /// rounds to there when hi = round(x)), hi + lo on wider ones.
    #[inline(always)]
    pub(crate) fn get<R: Real>(self) -> R {
        if <<R::Lane as Lane>::Scalar as Scalar>::MANTISSA_BITS <= 23 {
            R::from_f32(self.hi)
        } else {
            R::from_f32(self.hi) + R::from_f32(self.lo)
        }
    }
}

/// A distribution on ℝᴰ that can be sampled lane-parallel and scored over any [`Real`].
pub trait Distribution<const D: usize> {
    /// One draw per lane.
    fn sample<L: Lane, S: LaneSource<L>>(&self, rng: &mut S) -> [L; D];
    /// log p(x), per lane (−∞ outside the support).
    fn log_prob<R: Real>(&self, x: &[R; D]) -> R;
}
