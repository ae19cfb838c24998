//! The primitive lane trait: the numbers every model in this crate is written over.
//!
//! A [`Lane`] is either a scalar float (`f32`, `f64`) or a `wide` SIMD vector (`f32x4`, `f32x8`,
//! `f64x4`) whose lanes are independent samples. It offers only operations that IEEE 754 makes
//! exact (correctly rounded) on every target: `+ − × ÷`, `sqrt`, negation, comparisons with
//! [`Lane::select`], and bit casts. `floor`, `round`, `abs`, `min` and `max` are built here once
//! from those primitives, so that a lane of an `f32x8` computes exactly the same bits as an `f32`
//! on x86-64, on a Cortex-M4F or on a RISC-V core. Transcendental functions are not primitives:
//! they live once in [`crate::math`], written over this trait, and reach model code through
//! [`crate::Real`].
//!
//! Why hand-written and not a generic float crate: `num-traits` and `wide`'s own `exp`/`ln` call
//! each platform's libm or use fused multiply-add where available, which breaks bit-identical
//! results across targets (DESIGN.md, "every number is a lane").

use core::fmt::Debug;
use core::ops::{
    Add, AddAssign, BitAnd, BitOr, BitXor, Div, DivAssign, Mul, MulAssign, Neg, Not, Shl, Shr, Sub,
    SubAssign,
};

use wide::{f32x4, f32x8, f64x4, u32x4, u32x8, u64x4};

mod duo;
pub use duo::Duo;

/// `core::array::from_fn` as a plain loop, always inlined: the array builder of code written over
/// lanes. `from_fn`'s own machinery and its closure may stay out of line, and code left out of
/// line is compiled for the build's target features, not for the wider ones of a function that
/// runs lanes on them (flowscore-std's run-time dispatch, [`Lane::INLINE_KERNELS`]): there each
/// lane operation becomes a function call. The values are the same as `from_fn`'s.
#[inline(always)]
pub fn array_fn<T: Copy + Default, const N: usize>(mut f: impl FnMut(usize) -> T) -> [T; N] {
    let mut out = [T::default(); N];
    let mut i = 0;
    while i < N {
        out[i] = f(i);
        i += 1;
    }
    out
}

/// A scalar float type that lanes are made of: `f32` or `f64`.
pub trait Scalar: Copy + Debug + PartialEq + PartialOrd + Default + Send + Sync + 'static {
    /// Number of explicit mantissa bits (23 for `f32`, 52 for `f64`).
    const MANTISSA_BITS: u32;
    /// Exponent bias (127 for `f32`, 1023 for `f64`).
    const EXP_BIAS: i32;
    /// Convert to `f64` (exact).
    fn to_f64(self) -> f64;
    /// Convert from `f64` (rounded to nearest).
    fn from_f64(x: f64) -> Self;
    /// Convert from `f32` (exact).
    fn from_f32(x: f32) -> Self;
}

impl Scalar for f32 {
    const MANTISSA_BITS: u32 = 23;
    const EXP_BIAS: i32 = 127;
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self as f64
    }
    #[inline(always)]
    fn from_f64(x: f64) -> Self {
        x as f32
    }
    #[inline(always)]
    fn from_f32(x: f32) -> Self {
        x
    }
}

impl Scalar for f64 {
    const MANTISSA_BITS: u32 = 52;
    const EXP_BIAS: i32 = 1023;
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self
    }
    #[inline(always)]
    fn from_f64(x: f64) -> Self {
        x
    }
    #[inline(always)]
    fn from_f32(x: f32) -> Self {
        x as f64
    }
}

/// A lane-wise boolean: `bool` for scalars, an all-ones/all-zeros bit mask for SIMD vectors.
pub trait Mask:
    Copy + Debug + BitAnd<Output = Self> + BitOr<Output = Self> + Not<Output = Self> + Send + Sync
{
    /// True if any lane is set.
    fn any(self) -> bool;
    /// True if every lane is set.
    fn all(self) -> bool;
}

impl Mask for bool {
    #[inline(always)]
    fn any(self) -> bool {
        self
    }
    #[inline(always)]
    fn all(self) -> bool {
        self
    }
}

macro_rules! simd_mask {
    ($($t:ty),*) => {$(
        impl Mask for $t {
            #[inline(always)]
            fn any(self) -> bool {
                <$t>::any(self)
            }
            #[inline(always)]
            fn all(self) -> bool {
                <$t>::all(self)
            }
        }
    )*};
}
simd_mask!(f32x4, f32x8, f64x4);

/// Unsigned integer lanes: the raw bits of a float lane (`u32`/`u64` and their vectors), or the
/// 32-bit words of the per-lane random streams. Arithmetic wraps.
pub trait UintLanes:
    Copy
    + Debug
    + BitAnd<Output = Self>
    + BitOr<Output = Self>
    + BitXor<Output = Self>
    + Shl<u32, Output = Self>
    + Shr<u32, Output = Self>
    + Send
    + Sync
{
    /// Number of lanes.
    const LANES: usize;
    /// The same value in every lane (truncated to the lane width).
    fn splat_u64(v: u64) -> Self;
    /// Lane-wise wrapping addition.
    fn wrapping_add(self, rhs: Self) -> Self;
    /// Lane-wise wrapping subtraction.
    fn wrapping_sub(self, rhs: Self) -> Self;
    /// Lane `i` (widened to `u64`); `i` is taken modulo the lane count.
    fn extract_u64(self, i: usize) -> u64;
    /// Build from a function of the lane index (values truncated to the lane width).
    fn from_fn_u64(f: impl FnMut(usize) -> u64) -> Self;
    /// Two lane values from one call of `f` per lane: lane `j` of the first is `f(j)` and of the
    /// second `f(j) >> 32`, both truncated to the lane width (for 32-bit lanes, the low and high
    /// halves of each `u64`).
    fn from_fn_u64_split(f: impl FnMut(usize) -> u64) -> (Self, Self);
    /// Lane-wise rotate left by `k` bits (`0 < k < width`).
    #[inline(always)]
    fn rotate_left(self, k: u32) -> Self {
        (self << k) | (self >> (Self::WIDTH - k))
    }
    /// Bit width of one lane.
    const WIDTH: u32;
}

macro_rules! uint_scalar {
    ($t:ty, $w:expr) => {
        impl UintLanes for $t {
            const LANES: usize = 1;
            const WIDTH: u32 = $w;
            #[inline(always)]
            fn splat_u64(v: u64) -> Self {
                v as $t
            }
            #[inline(always)]
            fn wrapping_add(self, rhs: Self) -> Self {
                <$t>::wrapping_add(self, rhs)
            }
            #[inline(always)]
            fn wrapping_sub(self, rhs: Self) -> Self {
                <$t>::wrapping_sub(self, rhs)
            }
            #[inline(always)]
            fn extract_u64(self, _i: usize) -> u64 {
                self as u64
            }
            #[inline(always)]
            fn from_fn_u64(mut f: impl FnMut(usize) -> u64) -> Self {
                f(0) as $t
            }
            #[inline(always)]
            fn from_fn_u64_split(mut f: impl FnMut(usize) -> u64) -> (Self, Self) {
                let v = f(0);
                (v as $t, (v >> 32) as $t)
            }
        }
    };
}
uint_scalar!(u32, 32);
uint_scalar!(u64, 64);

macro_rules! uint_simd {
    ($t:ty, $s:ty, $n:expr, $w:expr) => {
        impl UintLanes for $t {
            const LANES: usize = $n;
            const WIDTH: u32 = $w;
            #[inline(always)]
            fn splat_u64(v: u64) -> Self {
                <$t>::splat(v as $s)
            }
            #[inline(always)]
            fn wrapping_add(self, rhs: Self) -> Self {
                self + rhs
            }
            #[inline(always)]
            fn wrapping_sub(self, rhs: Self) -> Self {
                self - rhs
            }
            #[inline(always)]
            fn extract_u64(self, i: usize) -> u64 {
                self.to_array()[i % $n] as u64
            }
            #[inline(always)]
            fn from_fn_u64(mut f: impl FnMut(usize) -> u64) -> Self {
                let mut a = [0 as $s; $n];
                let mut i = 0;
                while i < $n {
                    a[i] = f(i) as $s;
                    i += 1;
                }
                <$t>::new(a)
            }
            #[inline(always)]
            fn from_fn_u64_split(mut f: impl FnMut(usize) -> u64) -> (Self, Self) {
                let (mut lo, mut hi) = ([0 as $s; $n], [0 as $s; $n]);
                let mut i = 0;
                while i < $n {
                    let v = f(i);
                    lo[i] = v as $s;
                    hi[i] = (v >> 32) as $s;
                    i += 1;
                }
                (<$t>::new(lo), <$t>::new(hi))
            }
        }
    };
}
uint_simd!(u32x4, u32, 4, 32);
uint_simd!(u32x8, u32, 8, 32);
uint_simd!(u64x4, u64, 4, 64);

/// The primitive numeric lane: scalar `f32`/`f64` or a `wide` vector of independent samples.
///
/// Every method is exact (correctly rounded or bit manipulation), so results are identical on
/// every lane width and every target. Model code is written over [`crate::Real`], which adds the
/// transcendental functions on top of this trait.
pub trait Lane:
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
    /// The scalar type of one lane.
    type Scalar: Scalar;
    /// The lane-wise boolean produced by comparisons.
    type Mask: Mask;
    /// The raw bits, lane for lane (`u32` lanes for `f32`, `u64` lanes for `f64`).
    type Bits: UintLanes;
    /// 32-bit unsigned words with the same lane count (for per-lane random streams).
    type U32s: UintLanes;
    /// Number of independent lanes.
    const LANES: usize;
    /// Whether the math kernels ([`crate::math`], through [`crate::Real`]) are inlined at every
    /// use on this lane type, instead of being left to the compiler's judgement. `false` for the
    /// core's lanes (a kernel per call site costs flash on a microcontroller); lanes built to run
    /// inside a function compiled with wider target features than the build's (flowscore-std's
    /// run-time dispatch) set it, since a kernel left out of line runs on the build's features.
    /// The bits are the same either way.
    const INLINE_KERNELS: bool = false;

    /// The same value in every lane.
    fn splat(x: Self::Scalar) -> Self;
    /// Lane `i` (`i` is taken modulo [`Lane::LANES`], so this never panics).
    fn extract(self, i: usize) -> Self::Scalar;
    /// Build from a function of the lane index.
    fn from_fn(f: impl FnMut(usize) -> Self::Scalar) -> Self;
    /// Correctly rounded square root (NaN for negative input).
    fn sqrt(self) -> Self;
    /// Lane-wise `self < rhs` (false when either is NaN).
    fn lt(self, rhs: Self) -> Self::Mask;
    /// Lane-wise `self <= rhs`.
    fn le(self, rhs: Self) -> Self::Mask;
    /// Lane-wise `self > rhs`.
    fn gt(self, rhs: Self) -> Self::Mask;
    /// Lane-wise `self >= rhs`.
    fn ge(self, rhs: Self) -> Self::Mask;
    /// Lane-wise `self == rhs`.
    fn eq(self, rhs: Self) -> Self::Mask;
    /// Per lane: `a` where `mask` is set, else `b`.
    fn select(mask: Self::Mask, a: Self, b: Self) -> Self;
    /// Raw IEEE bits.
    fn to_bits(self) -> Self::Bits;
    /// From raw IEEE bits.
    fn from_bits(bits: Self::Bits) -> Self;
    /// Per lane, the float in `[1, 2)` whose leading mantissa bits are the high bits of the
    /// 32-bit word `u` (23 of them for `f32`, all 32 for `f64`): the exact core of uniform draws.
    fn unit_from_u32(u: Self::U32s) -> Self;

    /// A constant from `f64` (rounded to the lane's precision).
    #[inline(always)]
    fn from_f64(x: f64) -> Self {
        Self::splat(Self::Scalar::from_f64(x))
    }
    /// A constant from `f32` (exact).
    #[inline(always)]
    fn from_f32(x: f32) -> Self {
        Self::splat(Self::Scalar::from_f32(x))
    }
    /// Lane-wise NaN test.
    #[inline(always)]
    fn is_nan(self) -> Self::Mask {
        !self.eq(self)
    }
    /// Lane-wise finite test (false for ±∞ and NaN).
    #[inline(always)]
    fn is_finite(self) -> Self::Mask {
        self.abs().lt(Self::from_f64(f64::INFINITY))
    }
    /// Absolute value (clears the sign bit; NaN stays NaN).
    #[inline(always)]
    fn abs(self) -> Self {
        let magnitude = Self::Bits::splat_u64(!(1u64 << (Self::Bits::WIDTH - 1)));
        Self::from_bits(self.to_bits() & magnitude)
    }
    /// `self` with the sign of `sign`.
    #[inline(always)]
    fn copysign(self, sign: Self) -> Self {
        let s = Self::Bits::splat_u64(1u64 << (Self::Bits::WIDTH - 1));
        let magnitude = Self::Bits::splat_u64(!(1u64 << (Self::Bits::WIDTH - 1)));
        Self::from_bits((self.to_bits() & magnitude) | (sign.to_bits() & s))
    }
    /// Minimum: `self` if `self < rhs`, else `rhs` (so a NaN in `rhs` propagates; use with the
    /// NaN-carrying operand on the right when that matters).
    #[inline(always)]
    fn min(self, rhs: Self) -> Self {
        Self::select(self.lt(rhs), self, rhs)
    }
    /// Maximum: `self` if `self > rhs`, else `rhs`.
    #[inline(always)]
    fn max(self, rhs: Self) -> Self {
        Self::select(self.gt(rhs), self, rhs)
    }
    /// Round to nearest, ties to even (exact; NaN and ±∞ pass through).
    #[inline(always)]
    fn round(self) -> Self {
        // Adding and subtracting 2^p (p = mantissa bits) rounds to an integer in the current
        // rounding mode (nearest-even); values with |x| ≥ 2^p are already integers.
        let big = Self::from_f64((1u64 << Self::Scalar::MANTISSA_BITS) as f64);
        let a = self.abs();
        let r = ((a + big) - big).copysign(self);
        Self::select(a.lt(big), r, self)
    }
    /// Largest integer not greater than `self` (exact).
    #[inline(always)]
    fn floor(self) -> Self {
        let r = self.round();
        Self::select(r.gt(self), r - Self::from_f64(1.0), r)
    }
    /// 2^k for integer-valued `k` in the normal exponent range (`-126..=127` for `f32`,
    /// `-1022..=1023` for `f64`), built from bits. Outside that range the result is meaningless;
    /// callers clamp first.
    #[inline(always)]
    fn pow2i(k: Self) -> Self {
        let m = Self::Scalar::MANTISSA_BITS;
        let magic = Self::from_f64((1u64 << m) as f64);
        // (2^m + k + bias) has the integer k + bias in its low mantissa bits. One addition:
        // `k + (bias + 2^m)` is the exact integer that `(k + bias) + 2^m` is.
        let biased = k + Self::from_f64(Self::Scalar::EXP_BIAS as f64 + (1u64 << m) as f64);
        let e = biased.to_bits().wrapping_sub(magic.to_bits());
        Self::from_bits(e << m)
    }
    /// For positive, finite, normal `self`: `(m, e)` with `self = m · 2^e`, `m ∈ [1, 2)`,
    /// `e` an integer-valued float. (Subnormals are the caller's to scale first.)
    #[inline(always)]
    fn frexp_normal(self) -> (Self, Self) {
        let m = Self::Scalar::MANTISSA_BITS;
        let bits = self.to_bits();
        let mant_mask = Self::Bits::splat_u64((1u64 << m) - 1);
        let one = Self::from_f64(1.0).to_bits();
        let mant = Self::from_bits((bits & mant_mask) | one);
        let magic = Self::from_f64((1u64 << m) as f64);
        let biased_exp = Self::from_bits((bits >> m) | magic.to_bits()) - magic;
        (mant, biased_exp - Self::from_f64(Self::Scalar::EXP_BIAS as f64))
    }
    /// Load `Self::LANES` consecutive scalars starting at `s[0]` (missing lanes read as 0).
    #[inline(always)]
    fn load(s: &[Self::Scalar]) -> Self {
        Self::from_fn(|i| s.get(i).copied().unwrap_or_default())
    }
    /// Store the lanes into `out` (as many as fit).
    #[inline(always)]
    fn store(self, out: &mut [Self::Scalar]) {
        for (i, o) in out.iter_mut().enumerate().take(Self::LANES) {
            *o = self.extract(i);
        }
    }
}

macro_rules! scalar_lane {
    ($t:ty, $bits:ty, $sqrt:path) => {
        impl Lane for $t {
            type Scalar = $t;
            type Mask = bool;
            type Bits = $bits;
            type U32s = u32;
            const LANES: usize = 1;
            #[inline(always)]
            fn splat(x: $t) -> Self {
                x
            }
            #[inline(always)]
            fn extract(self, _i: usize) -> $t {
                self
            }
            #[inline(always)]
            fn from_fn(mut f: impl FnMut(usize) -> $t) -> Self {
                f(0)
            }
            #[inline(always)]
            fn sqrt(self) -> Self {
                // IEEE square root: exact on every target (a single instruction on x86-64 and
                // the M4F; correctly rounded in software elsewhere).
                $sqrt(self)
            }
            #[inline(always)]
            fn lt(self, rhs: Self) -> bool {
                self < rhs
            }
            #[inline(always)]
            fn le(self, rhs: Self) -> bool {
                self <= rhs
            }
            #[inline(always)]
            fn gt(self, rhs: Self) -> bool {
                self > rhs
            }
            #[inline(always)]
            fn ge(self, rhs: Self) -> bool {
                self >= rhs
            }
            #[inline(always)]
            fn eq(self, rhs: Self) -> bool {
                self == rhs
            }
            #[inline(always)]
            fn select(mask: bool, a: Self, b: Self) -> Self {
                if mask { a } else { b }
            }
            #[inline(always)]
            fn to_bits(self) -> $bits {
                <$t>::to_bits(self)
            }
            #[inline(always)]
            fn from_bits(bits: $bits) -> Self {
                <$t>::from_bits(bits)
            }
            #[inline(always)]
            fn unit_from_u32(u: u32) -> Self {
                let m = <$t as Scalar>::MANTISSA_BITS;
                let one = <$t>::to_bits(1.0);
                let frac: $bits = if m >= 32 {
                    (u as $bits) << (m.saturating_sub(32))
                } else {
                    (u >> (32 - m)) as $bits
                };
                <$t>::from_bits(one | frac)
            }
        }
    };
}
scalar_lane!(f32, u32, libm::sqrtf);
scalar_lane!(f64, u64, libm::sqrt);

macro_rules! simd_lane {
    ($t:ty, $s:ty, $bits:ty, $u32s:ty, $n:expr) => {
        impl Lane for $t {
            type Scalar = $s;
            type Mask = $t;
            type Bits = $bits;
            type U32s = $u32s;
            const LANES: usize = $n;
            #[inline(always)]
            fn splat(x: $s) -> Self {
                <$t>::splat(x)
            }
            #[inline(always)]
            fn extract(self, i: usize) -> $s {
                self.as_array()[i % $n]
            }
            #[inline(always)]
            fn from_fn(mut f: impl FnMut(usize) -> $s) -> Self {
                let mut a = [0.0 as $s; $n];
                let mut i = 0;
                while i < $n {
                    a[i] = f(i);
                    i += 1;
                }
                <$t>::new(a)
            }
            #[inline(always)]
            fn sqrt(self) -> Self {
                <$t>::sqrt(self)
            }
            #[inline(always)]
            fn lt(self, rhs: Self) -> Self {
                self.simd_lt(rhs)
            }
            #[inline(always)]
            fn le(self, rhs: Self) -> Self {
                self.simd_le(rhs)
            }
            #[inline(always)]
            fn gt(self, rhs: Self) -> Self {
                self.simd_gt(rhs)
            }
            #[inline(always)]
            fn ge(self, rhs: Self) -> Self {
                self.simd_ge(rhs)
            }
            #[inline(always)]
            fn eq(self, rhs: Self) -> Self {
                self.simd_eq(rhs)
            }
            #[inline(always)]
            fn select(mask: Self, a: Self, b: Self) -> Self {
                // A comparison mask is all-ones or all-zeros per lane, so the bitwise select is
                // exact and needs no blend instruction.
                mask.bitselect(a, b)
            }
            #[inline(always)]
            fn to_bits(self) -> $bits {
                wide::bytemuck::cast(self)
            }
            #[inline(always)]
            fn from_bits(bits: $bits) -> Self {
                wide::bytemuck::cast(bits)
            }
            #[inline(always)]
            fn unit_from_u32(u: $u32s) -> Self {
                let a = u.to_array();
                Self::from_fn(|i| <$s as Lane>::unit_from_u32(a[i]))
            }
        }
    };
}
simd_lane!(f32x4, f32, u32x4, u32x4, 4);
simd_lane!(f32x8, f32, u32x8, u32x8, 8);
simd_lane!(f64x4, f64, u64x4, u32x4, 4);

#[cfg(test)]
mod tests {
    use super::*;

    /// `from_fn_u64_split` is `from_fn_u64` of `f` and of `f >> 32`, on every uint lane type.
    #[test]
    fn split_is_two_from_fns() {
        fn check<U: UintLanes>() {
            let f = |i: usize| 0x0123_4567_89ab_cdef_u64.rotate_left(8 * i as u32 + 4);
            let (lo, hi) = U::from_fn_u64_split(f);
            let (want_lo, want_hi) = (U::from_fn_u64(f), U::from_fn_u64(|i| f(i) >> 32));
            for i in 0..U::LANES {
                assert_eq!(lo.extract_u64(i), want_lo.extract_u64(i), "lane {i}");
                assert_eq!(hi.extract_u64(i), want_hi.extract_u64(i), "lane {i}");
            }
            assert_ne!(lo.extract_u64(1), hi.extract_u64(1));
        }
        check::<u32>();
        check::<u64>();
        check::<u32x4>();
        check::<u32x8>();
        check::<u64x4>();
        check::<Duo<u32x8>>();
        check::<Duo<Duo<u32x4>>>();
    }

    #[test]
    fn round_floor_match_reference() {
        let xs = [
            0.5f32, 1.5, 2.5, -0.5, -1.5, 2.4999998, -2.5000002, 0.0, -0.0, 1e30, -1e30, 3.7, -3.7,
            8388607.5, -8388607.5,
        ];
        for &x in &xs {
            assert_eq!(Lane::round(x), x.round_ties_even(), "round {x}");
            assert_eq!(Lane::floor(x), x.floor(), "floor {x}");
            let v = f32x8::splat(x);
            assert_eq!(Lane::round(v).extract(3).to_bits(), x.round_ties_even().to_bits());
        }
    }

    #[test]
    fn pow2i_and_frexp_exact() {
        for k in -126..=127 {
            assert_eq!(f32::pow2i(k as f32), libm::ldexpf(1.0, k));
            assert_eq!(f32x8::pow2i(f32x8::splat(k as f32)).extract(5), libm::ldexpf(1.0, k));
        }
        for k in -1022..=1023 {
            assert_eq!(f64::pow2i(k as f64), libm::ldexp(1.0, k));
            assert_eq!(f64x4::pow2i(f64x4::splat(k as f64)).extract(1), libm::ldexp(1.0, k));
        }
        for &x in &[1.0f32, 1.5, 3.0, 1e-30, 7e37, 0.3] {
            let (m, e) = x.frexp_normal();
            assert!((1.0..2.0).contains(&m));
            assert_eq!(m * libm::ldexpf(1.0, e as i32), x);
        }
        let (m, e) = 0.3f64.frexp_normal();
        assert_eq!(m * libm::ldexp(1.0, e as i32), 0.3);
    }

    #[test]
    fn select_abs_minmax_lanes() {
        let a = f32x4::new([1.0, -2.0, f32::NAN, -0.0]);
        let b = f32x4::splat(0.5);
        let mn = a.min(b).to_array();
        assert_eq!(mn[0], 0.5);
        assert_eq!(mn[1], -2.0);
        assert_eq!(a.abs().to_array()[1], 2.0);
        assert_eq!(a.abs().to_array()[3].to_bits(), 0);
        assert_eq!(a.is_nan().to_bitmask(), 0b0100);
        assert_eq!(f32::unit_from_u32(u32::MAX), 2.0 - f32::EPSILON);
        assert_eq!(f64::unit_from_u32(0), 1.0);
    }
}
