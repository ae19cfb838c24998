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
//! Each family lives in its own file: [`exp`](exp()) and [`expm1`] in `exp.rs`, [`ln`] and
//! [`ln_1p`] in `log.rs`, [`tanh`] in `tanh.rs`, [`softplus`] and [`sigmoid`] in `softplus.rs`,
//! [`sin_cos`] in `trig.rs`. The polynomial is chosen by the mantissa width of the lane
//! ([`Scalar::MANTISSA_BITS`]: 23 for `f32`, 52 for `f64`), a constant branch that the compiler
//! folds away.
//!
//! Accuracy is tested in the manner of libm (`math/tests.rs`): sweeps of more than 10⁶ `f32`
//! inputs (a stride over all bit patterns of the domain, random points, and the edge cases ±0,
//! subnormals, ±∞, NaN, the largest finite values) against the `f64` functions of the `libm`
//! crate, with the error measured in units in the last place of the `f32` result. Budgets
//! asserted there, and the maxima measured (stated on each function):
//!
//! | function  | f32 budget | f64 budget (vs `libm` f64) |
//! |-----------|-----------:|---------------------------:|
//! | `exp`     | 1 ulp      | 2 ulp |
//! | `ln`      | 1 ulp      | 2 ulp |
//! | `expm1`   | 2 ulp      | 2 ulp |
//! | `ln_1p`   | 2 ulp      | 2 ulp |
//! | `tanh`    | 2 ulp      | 2 ulp |
//! | `softplus`| 2 ulp      | 2 ulp |
//! | `sigmoid` | 2 ulp      | 2 ulp |
//! | `sin`, `cos` | 2 ulp (for `|x| ≤ 2^15·π`) | 2 ulp (for `|x| ≤ 2^19·π`) |
//!
//! Special values follow IEEE 754 / C99 Annex F: NaN propagates in its own lane only, `exp`
//! overflows to `+∞` and underflows through the subnormals to `+0`, `ln(±0) = −∞`,
//! `ln(x < 0) = NaN`, `ln_1p(−1) = −∞`, `tanh(±∞) = ±1`, `sin_cos(±∞) = (NaN, NaN)`.

// Coefficients are quoted with the digits of their published sources (Cephes, fdlibm, musl);
// the compiler rounds each to the nearest lane value, which is the value those sources use.
#![allow(clippy::excessive_precision)]

mod exp;
mod log;
mod softplus;
mod tanh;
mod trig;

#[cfg(test)]
mod tests;

pub use exp::{exp, expm1};
pub use log::{ln, ln_1p};
pub use softplus::{sigmoid, softplus};
pub use tanh::tanh;
pub use trig::sin_cos;

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
