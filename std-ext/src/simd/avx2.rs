//! The AVX2 path's lanes: one 256-bit register per value ([`F8`]: 8 `f32`, [`D4`]: 4 `f64`,
//! with their bits [`U8`] and [`Q4`]): each arithmetic, comparison and bit operation one AVX2
//! instruction.
//!
//! Why intrinsics and not element-wise loops over arrays: a loop over a `[f32; 32]` is unrolled
//! into 32 scalar operations and then packed back into vectors by the compiler's SLP
//! vectorizer, for every operation of every kernel inlined into the dispatched function; the
//! vector type is built directly here, so the compiler gets vector operations and has nothing to
//! rediscover (the library's dev build: 445 s with the loops, 103 s with these; BENCHMARKS.md,
//! "Run-time dispatch").
//!
//! **Safety.** The intrinsics need a CPU with AVX2. These types are private to [`super`], and
//! the only code that ever holds one is a [`super::LaneWork`] run by the AVX2 function, which
//! runs only after `is_x86_feature_detected!("avx2")` (the private `Sealed::on_avx2` of each
//! scalar); the crate's tests use them only after the same check. Every `unsafe` block below
//! calls AVX2 (or SSE2) intrinsics and nothing else.
//!
//! **The same bits.** Each operation is the IEEE 754 operation the scalar does: `+ − × ÷ sqrt`
//! correctly rounded, comparisons ordered and quiet (false on NaN, as Rust's `<`), negation a
//! sign-bit flip, and `select`, `any`, `all` defined on all bits exactly as the scalar lanes'.
#![allow(unsafe_code)]

use core::arch::x86_64::*;
use core::ops::{
    Add, AddAssign, BitAnd, BitOr, BitXor, Div, DivAssign, Mul, MulAssign, Neg, Not, Shl, Shr, Sub,
    SubAssign,
};

use flowscore::lane::{Lane, Mask, UintLanes};
use flowscore::wide::bytemuck::cast;
use flowscore::wide::u32x4;

/// Calls intrinsics that need AVX2 (see the module doc for why the CPU has it).
macro_rules! avx {
    ($e:expr) => {
        unsafe { $e }
    };
}

/// Binary operators of a lane or bits type: `$f` is the intrinsic.
macro_rules! binops {
    ($t:ident: $($tr:ident $m:ident $f:ident),* $(,)?) => {$(
        impl $tr for $t {
            type Output = Self;
            #[inline(always)]
            fn $m(self, r: Self) -> Self {
                $t(avx!($f(self.0, r.0)))
            }
        }
    )*};
}

/// Compound assignment from the binary operators.
macro_rules! assign_ops {
    ($t:ident: $($tr:ident $m:ident $op:tt),* $(,)?) => {$(
        impl $tr for $t {
            #[inline(always)]
            fn $m(&mut self, r: Self) {
                *self = *self $op r;
            }
        }
    )*};
}

/// Integer lanes of `$n` × `$u` in a `__m256i`: the bits of a float lane, and its masks.
macro_rules! uint_lanes {
    ($(#[$doc:meta])* $t:ident, $u:ty, $s:ty, $n:expr, $splat:ident, $add:ident, $sub:ident,
     $sll:ident, $srl:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug)]
        #[repr(transparent)]
        pub struct $t(__m256i);

        binops!($t: BitAnd bitand _mm256_and_si256, BitOr bitor _mm256_or_si256,
                BitXor bitxor _mm256_xor_si256);

        impl Not for $t {
            type Output = Self;
            #[inline(always)]
            fn not(self) -> Self {
                $t(avx!(_mm256_xor_si256(self.0, _mm256_set1_epi32(-1))))
            }
        }
        impl Shl<u32> for $t {
            type Output = Self;
            #[inline(always)]
            fn shl(self, k: u32) -> Self {
                $t(avx!($sll(self.0, _mm_cvtsi32_si128(k as i32))))
            }
        }
        impl Shr<u32> for $t {
            type Output = Self;
            #[inline(always)]
            fn shr(self, k: u32) -> Self {
                $t(avx!($srl(self.0, _mm_cvtsi32_si128(k as i32))))
            }
        }
        impl Mask for $t {
            /// Any bit set (as the scalar lanes' `!= 0`).
            #[inline(always)]
            fn any(self) -> bool {
                avx!(_mm256_testz_si256(self.0, self.0)) == 0
            }
            /// Every bit set.
            #[inline(always)]
            fn all(self) -> bool {
                avx!(_mm256_testc_si256(self.0, _mm256_set1_epi32(-1))) == 1
            }
        }
        impl UintLanes for $t {
            const LANES: usize = $n;
            const WIDTH: u32 = <$u>::BITS;
            #[inline(always)]
            fn splat_u64(v: u64) -> Self {
                $t(avx!($splat(v as $u as $s)))
            }
            #[inline(always)]
            fn wrapping_add(self, r: Self) -> Self {
                $t(avx!($add(self.0, r.0)))
            }
            #[inline(always)]
            fn wrapping_sub(self, r: Self) -> Self {
                $t(avx!($sub(self.0, r.0)))
            }
            #[inline(always)]
            fn extract_u64(self, i: usize) -> u64 {
                cast::<__m256i, [$u; $n]>(self.0)[i % $n] as u64
            }
            #[inline(always)]
            fn from_fn_u64(mut f: impl FnMut(usize) -> u64) -> Self {
                let mut a = [0 as $u; $n];
                for (i, v) in a.iter_mut().enumerate() {
                    *v = f(i) as $u;
                }
                $t(cast(a))
            }
            #[inline(always)]
            fn from_fn_u64_split(mut f: impl FnMut(usize) -> u64) -> (Self, Self) {
                let (mut lo, mut hi) = ([0 as $u; $n], [0 as $u; $n]);
                let mut i = 0;
                while i < $n {
                    let v = f(i);
                    lo[i] = v as $u;
                    hi[i] = (v >> 32) as $u;
                    i += 1;
                }
                ($t(cast(lo)), $t(cast(hi)))
            }
        }
    };
}

uint_lanes!(
    /// 8 lanes of `u32`: the bits and masks of [`F8`], and its random words.
    U8, u32, i32, 8, _mm256_set1_epi32, _mm256_add_epi32, _mm256_sub_epi32, _mm256_sll_epi32,
    _mm256_srl_epi32
);
uint_lanes!(
    /// 4 lanes of `u64`: the bits and masks of [`D4`].
    Q4, u64, i64, 4, _mm256_set1_epi64x, _mm256_add_epi64, _mm256_sub_epi64, _mm256_sll_epi64,
    _mm256_srl_epi64
);

/// Float lanes in one 256-bit register, with the register's intrinsics.
macro_rules! float_lanes {
    ($(#[$doc:meta])* $t:ident, $s:ty, $reg:ty, $n:expr, $bits:ident, $u32s:ty,
     $add:ident, $sub:ident, $mul:ident, $div:ident, $sqrt:ident, $set1:ident, $zero:ident,
     $cmp:ident, $to_int:ident, $from_int:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug)]
        #[repr(transparent)]
        pub struct $t($reg);

        impl $t {
            /// The comparison `P` (ordered, quiet: false on NaN, as Rust's operators), per lane.
            #[inline(always)]
            fn cmp<const P: i32>(self, r: Self) -> $bits {
                $bits(avx!($to_int($cmp::<P>(self.0, r.0))))
            }
        }

        impl Default for $t {
            #[inline(always)]
            fn default() -> Self {
                $t(avx!($zero()))
            }
        }

        binops!($t: Add add $add, Sub sub $sub, Mul mul $mul, Div div $div);
        assign_ops!($t: AddAssign add_assign +, SubAssign sub_assign -, MulAssign mul_assign *,
                    DivAssign div_assign /);

        impl Neg for $t {
            type Output = Self;
            #[inline(always)]
            fn neg(self) -> Self {
                // Flips the sign bit, as the scalar's negation (NaN included).
                let sign = <$bits as UintLanes>::splat_u64(1 << (<$bits as UintLanes>::WIDTH - 1));
                Self::from_bits(self.to_bits() ^ sign)
            }
        }

        impl Lane for $t {
            type Scalar = $s;
            type Mask = $bits;
            type Bits = $bits;
            type U32s = $u32s;
            const LANES: usize = $n;
            const INLINE_KERNELS: bool = true;
            #[inline(always)]
            fn splat(x: $s) -> Self {
                $t(avx!($set1(x)))
            }
            #[inline(always)]
            fn extract(self, i: usize) -> $s {
                cast::<$reg, [$s; $n]>(self.0)[i % $n]
            }
            #[inline(always)]
            fn from_fn(mut f: impl FnMut(usize) -> $s) -> Self {
                let mut a = [0.0; $n];
                for (i, v) in a.iter_mut().enumerate() {
                    *v = f(i);
                }
                $t(cast(a))
            }
            #[inline(always)]
            fn sqrt(self) -> Self {
                $t(avx!($sqrt(self.0)))
            }
            #[inline(always)]
            fn lt(self, r: Self) -> $bits {
                self.cmp::<_CMP_LT_OQ>(r)
            }
            #[inline(always)]
            fn le(self, r: Self) -> $bits {
                self.cmp::<_CMP_LE_OQ>(r)
            }
            #[inline(always)]
            fn gt(self, r: Self) -> $bits {
                self.cmp::<_CMP_GT_OQ>(r)
            }
            #[inline(always)]
            fn ge(self, r: Self) -> $bits {
                self.cmp::<_CMP_GE_OQ>(r)
            }
            #[inline(always)]
            fn eq(self, r: Self) -> $bits {
                self.cmp::<_CMP_EQ_OQ>(r)
            }
            #[inline(always)]
            fn select(m: $bits, a: Self, b: Self) -> Self {
                // Bit by bit, as the scalar lanes: exact for any mask.
                Self::from_bits((m & a.to_bits()) | (!m & b.to_bits()))
            }
            #[inline(always)]
            fn to_bits(self) -> $bits {
                $bits(avx!($to_int(self.0)))
            }
            #[inline(always)]
            fn from_bits(bits: $bits) -> Self {
                $t(avx!($from_int(bits.0)))
            }
            #[inline(always)]
            fn unit_from_u32(u: $u32s) -> Self {
                Self::make(u)
            }
        }
    };
}

float_lanes!(
    /// 8 lanes of `f32` in a `__m256`.
    F8, f32, __m256, 8, U8, U8, _mm256_add_ps, _mm256_sub_ps, _mm256_mul_ps, _mm256_div_ps,
    _mm256_sqrt_ps, _mm256_set1_ps, _mm256_setzero_ps, _mm256_cmp_ps, _mm256_castps_si256,
    _mm256_castsi256_ps
);
float_lanes!(
    /// 4 lanes of `f64` in a `__m256d`; its random words are a `u32x4`.
    D4, f64, __m256d, 4, Q4, u32x4, _mm256_add_pd, _mm256_sub_pd, _mm256_mul_pd, _mm256_div_pd,
    _mm256_sqrt_pd, _mm256_set1_pd, _mm256_setzero_pd, _mm256_cmp_pd, _mm256_castpd_si256,
    _mm256_castsi256_pd
);

/// The float in `[1, 2)` from a 32-bit word, per lane, for each float lane type (the scalar's
/// [`Lane::unit_from_u32`]: 1.0's bits with the word's high bits as the leading mantissa bits).
trait UnitFromU32<U> {
    fn make(u: U) -> Self;
}

impl UnitFromU32<U8> for F8 {
    #[inline(always)]
    fn make(u: U8) -> F8 {
        // f32: 23 mantissa bits, the word's top 23 (u >> 9).
        let frac = u >> (32 - f32::MANTISSA_DIGITS + 1);
        F8::from_bits(U8::splat_u64(u64::from(1f32.to_bits())) | frac)
    }
}

impl UnitFromU32<u32x4> for D4 {
    #[inline(always)]
    fn make(u: u32x4) -> D4 {
        // f64: 52 mantissa bits, the whole word at their top (u << 20, widened).
        let wide = Q4(avx!(_mm256_cvtepu32_epi64(cast::<u32x4, __m128i>(u))));
        let frac = wide << (f64::MANTISSA_DIGITS - 1 - 32);
        D4::from_bits(Q4::splat_u64(1f64.to_bits()) | frac)
    }
}
