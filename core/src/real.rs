//! The math-level numeric trait that all model code is written over.
//!
//! [`Real`] is implemented for every [`Lane`] (scalars and SIMD vectors) through the functions of
//! [`crate::math`], and for forward-mode dual numbers by the chain rule, so one model definition
//! gives samples, log-densities, and exact Jacobian-vector products.

use core::fmt::Debug;
use core::ops::{Add, AddAssign, Div, DivAssign, Mul, MulAssign, Neg, Sub, SubAssign};

use crate::lane::{Lane, Mask};
use crate::math;

/// A number that model code computes with: a float lane, or a dual number over one.
///
/// Comparisons and [`Real::select`] act on the value (for a dual, the tangents follow the
/// selected branch). All functions are lane-wise; a NaN in one lane never touches another.
pub trait Real:
    Copy
    + Debug
    + Default
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + AddAssign
    + SubAssign
    + MulAssign
    + DivAssign
    + Send
    + Sync
    + 'static
{
    /// The float lane underneath (the value part of a dual; `Self` for a lane).
    type Lane: Lane;

    /// A constant (rounded to the lane precision), zero tangent.
    fn from_f64(x: f64) -> Self;
    /// A constant from an `f32` parameter (exact), zero tangent.
    fn from_f32(x: f32) -> Self;
    /// A constant lane value, zero tangent.
    fn from_lane(x: Self::Lane) -> Self;
    /// The value lane (tangents dropped).
    fn value(self) -> Self::Lane;
    /// Per lane: `a` where `mask` is set, else `b`.
    fn select(mask: <Self::Lane as Lane>::Mask, a: Self, b: Self) -> Self;

    /// Square root.
    fn sqrt(self) -> Self;
    /// Absolute value.
    fn abs(self) -> Self;
    /// e^x.
    fn exp(self) -> Self;
    /// e^x − 1, accurate near 0.
    fn expm1(self) -> Self;
    /// Natural logarithm.
    fn ln(self) -> Self;
    /// ln(1 + x), accurate near 0.
    fn ln_1p(self) -> Self;
    /// Hyperbolic tangent.
    fn tanh(self) -> Self;
    /// ln(1 + e^x), stable for all x.
    fn softplus(self) -> Self;
    /// 1 / (1 + e^−x).
    fn sigmoid(self) -> Self;
    /// (sin x, cos x).
    fn sin_cos(self) -> (Self, Self);

    /// The constant 0.
    #[inline(always)]
    fn zero() -> Self {
        Self::from_f64(0.0)
    }
    /// The constant 1.
    #[inline(always)]
    fn one() -> Self {
        Self::from_f64(1.0)
    }
    /// Lane-wise `self < rhs` on values.
    #[inline(always)]
    fn lt(self, rhs: Self) -> <Self::Lane as Lane>::Mask {
        Lane::lt(self.value(), rhs.value())
    }
    /// Lane-wise `self <= rhs` on values.
    #[inline(always)]
    fn le(self, rhs: Self) -> <Self::Lane as Lane>::Mask {
        Lane::le(self.value(), rhs.value())
    }
    /// Lane-wise `self > rhs` on values.
    #[inline(always)]
    fn gt(self, rhs: Self) -> <Self::Lane as Lane>::Mask {
        Lane::gt(self.value(), rhs.value())
    }
    /// Lane-wise `self >= rhs` on values.
    #[inline(always)]
    fn ge(self, rhs: Self) -> <Self::Lane as Lane>::Mask {
        Lane::ge(self.value(), rhs.value())
    }
    /// Lane-wise finite test on values.
    #[inline(always)]
    fn is_finite(self) -> <Self::Lane as Lane>::Mask {
        Lane::is_finite(self.value())
    }
    /// Minimum on values (the selected operand's tangent follows).
    #[inline(always)]
    fn min(self, rhs: Self) -> Self {
        Self::select(self.lt(rhs), self, rhs)
    }
    /// Maximum on values.
    #[inline(always)]
    fn max(self, rhs: Self) -> Self {
        Self::select(self.gt(rhs), self, rhs)
    }
    /// Square.
    #[inline(always)]
    fn square(self) -> Self {
        self * self
    }
    /// True if every lane of the value is finite.
    #[inline(always)]
    fn all_finite(self) -> bool {
        self.is_finite().all()
    }
}

impl<L: Lane> Real for L {
    type Lane = L;
    #[inline(always)]
    fn from_f64(x: f64) -> Self {
        <L as Lane>::from_f64(x)
    }
    #[inline(always)]
    fn from_f32(x: f32) -> Self {
        <L as Lane>::from_f32(x)
    }
    #[inline(always)]
    fn from_lane(x: L) -> Self {
        x
    }
    #[inline(always)]
    fn value(self) -> L {
        self
    }
    #[inline(always)]
    fn select(mask: L::Mask, a: Self, b: Self) -> Self {
        <L as Lane>::select(mask, a, b)
    }
    #[inline(always)]
    fn sqrt(self) -> Self {
        <L as Lane>::sqrt(self)
    }
    #[inline(always)]
    fn abs(self) -> Self {
        <L as Lane>::abs(self)
    }
    #[inline(always)]
    fn exp(self) -> Self {
        if L::INLINE_KERNELS { math::exp_inlined(self) } else { math::exp(self) }
    }
    #[inline(always)]
    fn expm1(self) -> Self {
        if L::INLINE_KERNELS { math::expm1_inlined(self) } else { math::expm1(self) }
    }
    #[inline(always)]
    fn ln(self) -> Self {
        if L::INLINE_KERNELS { math::ln_inlined(self) } else { math::ln(self) }
    }
    #[inline(always)]
    fn ln_1p(self) -> Self {
        if L::INLINE_KERNELS { math::ln_1p_inlined(self) } else { math::ln_1p(self) }
    }
    #[inline(always)]
    fn tanh(self) -> Self {
        if L::INLINE_KERNELS { math::tanh_inlined(self) } else { math::tanh(self) }
    }
    #[inline(always)]
    fn softplus(self) -> Self {
        if L::INLINE_KERNELS { math::softplus_inlined(self) } else { math::softplus(self) }
    }
    #[inline(always)]
    fn sigmoid(self) -> Self {
        if L::INLINE_KERNELS { math::sigmoid_inlined(self) } else { math::sigmoid(self) }
    }
    #[inline(always)]
    fn sin_cos(self) -> (Self, Self) {
        if L::INLINE_KERNELS { math::sin_cos_inlined(self) } else { math::sin_cos(self) }
    }
}
