//! Transcendental functions over [`Lane`], written once from exact primitives.
//!
//! Every function here is built only from operations IEEE 754 makes exact on every target
//! (`+ − × ÷`, `sqrt`, comparisons with [`Lane::select`], bit casts, [`Lane::pow2i`],
//! [`Lane::frexp_normal`]), with no fused multiply-add and no per-lane branches: each lane of an
//! `f32x8` computes exactly the bits that an `f32` computes, on x86-64, on a Cortex-M4F and on a
//! RISC-V core. That is why these kernels are hand-written rather than taken from `libm`,
//! `num-traits` or `wide` (which call the platform libm or fuse multiply-adds where the target has
//! them): a sample's bits must not depend on where it was computed (DESIGN.md, "every number is a
//! lane").
//!
//! The only branches are per vector, never per lane: `exp`, `ln`, `ln_1p`, `tanh` and `sin_cos`
//! test once whether every lane of the vector is ordinary (no NaN, no overflow, underflow,
//! subnormal or out-of-domain case; for `tanh`, all lanes on the same side of its polynomial's
//! split; for `ln_1p`, all near 0 skips the split) and then
//! skip the clamps, the special-value selects and the half of the work that no lane needs. The
//! short path computes the same operations as the general one for the lanes it serves, so a
//! lane's bits never depend on its neighbours (tested in `short_and_general_paths_give_the_same_bits`),
//! and a scalar lane simply takes the branch it needs.
//!
//! Each family lives in its own file: [`exp`](exp()) and [`expm1`] in `exp.rs`, [`ln`] and
//! [`ln_1p`] in `log.rs`, [`tanh`] in `tanh.rs`, [`softplus`] and [`sigmoid`] in `softplus.rs`,
//! [`sin_cos`] in `trig.rs`. The polynomial is chosen by the mantissa width of the lane
//! ([`Scalar::MANTISSA_BITS`]: 23 for `f32`, 52 for `f64`), a constant branch that the compiler
//! folds away.
//!
//! Accuracy is tested in the manner of libm (`math/tests.rs`): for `f32` lanes, sweeps of more
//! than 2·10⁶ inputs per function (a stride over all 2³² bit patterns, a stride over the bit
//! patterns of the function's main domain, uniform random points, and the edge cases ±0,
//! subnormals, ±∞, NaN, the largest finite values) against the `f64` functions of the `libm`
//! crate, with the error measured in ulps of the `f32` result; for `f64` lanes, 128 points per
//! function against exact values computed with mpmath at 300 bits (`scripts/math_reference.py`)
//! and 3·10⁵ points against `libm`'s `f64` functions. Budgets asserted there, and the maxima
//! measured:
//!
//! | function     | `f32` budget | `f32` measured | `f64` budget (exact) | `f64` measured (exact) |
//! |--------------|-------------:|---------------:|---------------------:|-----------------------:|
//! | `exp`        | 1 ulp        | 0.88 ulp       | 1 ulp                | 0.74 ulp |
//! | `ln`         | 1 ulp        | 0.80 ulp       | 1 ulp                | 0.71 ulp |
//! | `expm1`      | 2 ulp        | 1.01 ulp       | 2 ulp                | 0.80 ulp |
//! | `ln_1p`      | 2 ulp        | 0.81 ulp       | 2 ulp                | 0.59 ulp |
//! | `tanh`       | 2 ulp        | 1.27 ulp       | 2 ulp                | 0.74 ulp |
//! | `softplus`   | 2 ulp        | 1.52 ulp       | 2 ulp                | 0.94 ulp |
//! | `sigmoid`    | 2 ulp        | 1.27 ulp       | 2 ulp                | 0.93 ulp |
//! | `sin`, `cos` | 2 ulp        | 0.81, 0.76 ulp | 2 ulp                | 0.92, 0.90 ulp |
//!
//! `sin_cos` is accurate for `|x| ≤ 2^15·π` (`f32`) and `|x| ≤ 2^19·π` (`f64`) and returns NaN
//! beyond. Every `f64` result is also within 2 ulp of `libm`'s.
//!
//! Special values follow IEEE 754 / C99 Annex F: NaN propagates in its own lane only, `exp`
//! overflows to `+∞` and underflows through the subnormals to `+0`, `ln(±0) = −∞`,
//! `ln(x < 0) = NaN`, `ln_1p(−1) = −∞`, `tanh(±∞) = ±1`, `sin_cos(±∞) = (NaN, NaN)`.

// Coefficients are quoted with the digits of their published sources (Cephes, fdlibm, musl);
// the compiler rounds each to the nearest lane value, which is the value those sources use.
#![allow(clippy::excessive_precision)]

/// Defines a kernel twice from one body: `$name`, `#[inline]` (the compiler decides, as for any
/// function), and `$inlined`, `#[inline(always)]`, for lanes with [`Lane::INLINE_KERNELS`]
/// (two functions rather than a wrapper: an inlined wrapper around an always-inlined body would
/// put the whole kernel at every call site on every lane type).
macro_rules! with_inlined {
    ($(#[$m:meta])* $vis:vis fn $name:ident / $inlined:ident $($rest:tt)*) => {
        $(#[$m])*
        #[inline]
        $vis fn $name $($rest)*

        #[doc = concat!("`", stringify!($name), "`, inlined at every call (for lanes with ")]
        #[doc = "[`Lane::INLINE_KERNELS`](crate::lane::Lane::INLINE_KERNELS))."]
        #[inline(always)]
        $vis fn $inlined $($rest)*
    };
}
pub(crate) use with_inlined;

mod exp;
mod log;
mod softplus;
mod tanh;
mod trig;

#[cfg(test)]
#[rustfmt::skip] // generated by scripts/math_reference.py
mod reference_f64;
#[cfg(test)]
mod tests;

pub use exp::{exp, exp_inlined, expm1, expm1_inlined};
pub use log::{ln, ln_1p, ln_1p_inlined, ln_inlined};
pub use softplus::{sigmoid, sigmoid_inlined, softplus, softplus_inlined};
pub use tanh::{tanh, tanh_inlined};
pub use trig::{sin_cos, sin_cos_inlined};

use crate::lane::{Lane, Scalar};

/// True for `f32` lanes (23 mantissa bits), false for `f64` lanes: selects the coefficient set.
/// A constant per type, so every branch on it is folded away at compile time.
#[inline(always)]
fn single<L: Lane>() -> bool {
    L::Scalar::MANTISSA_BITS < 32
}

/// A constant of the lane's precision: `s` (exact) for `f32` lanes, `d` for `f64` lanes.
#[inline(always)]
fn k<L: Lane>(s: f32, d: f64) -> L {
    if single::<L>() { L::from_f32(s) } else { L::from_f64(d) }
}

/// Horner evaluation of `c[0] + x·(c[1] + x·(c[2] + …))`, coefficients in the lane precision.
#[inline(always)]
fn horner<L: Lane, T: Copy>(x: L, c: &[T], conv: impl Fn(T) -> L) -> L {
    let Some((&last, rest)) = c.split_last() else {
        return L::default();
    };
    let mut acc = conv(last);
    for &ci in rest.iter().rev() {
        acc = acc * x + conv(ci);
    }
    acc
}

/// The polynomial `c[0] + c[1]·x + …` with the `f32` set `s` or the `f64` set `d`.
#[inline(always)]
fn poly<L: Lane>(x: L, s: &[f32], d: &[f64]) -> L {
    if single::<L>() { horner(x, s, L::from_f32) } else { horner(x, d, L::from_f64) }
}

/// Round to the nearest integer (ties to even) for `|x| < 2^(p−1)` (p = mantissa bits): adding
/// and subtracting `1.5·2^p` leaves the integer part in the low mantissa bits. Cheaper than
/// [`Lane::round`]; every caller bounds its argument first.
#[inline(always)]
fn round_small<L: Lane>(x: L) -> L {
    let magic = k::<L>(12_582_912.0, 6_755_399_441_055_744.0);
    (x + magic) - magic
}

/// `y · 2^n` for an integer-valued `n` with `|n| ≤ 2·(exponent range)`, in two exact steps so
/// that results in the subnormal range are rounded once and results past the largest finite
/// value overflow to ±∞.
#[inline(always)]
fn scale2<L: Lane>(y: L, n: L) -> L {
    let n1 = round_small(n * L::from_f64(0.5));
    let n2 = n - n1;
    (y * L::pow2i(n1)) * L::pow2i(n2)
}

/// NaN inputs pass through unchanged (their payload too), lane by lane.
#[inline(always)]
fn keep_nan<L: Lane>(x: L, result: L) -> L {
    L::select(x.is_nan(), x, result)
}
