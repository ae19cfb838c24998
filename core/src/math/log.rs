//! `ln` and `ln_1p`: exponent split and the `s = f/(2+f)` series of fdlibm.
//!
//! `x = 2^e·(1 + f)` with `1 + f ∈ [√2/2, √2)`; then `ln(1+f) = 2·atanh(s)`, `s = f/(2+f)`, and
//! `ln(1+f) = f − f²/2 + s·(f²/2 + R(s²))` where `R` is the minimax polynomial of fdlibm/musl
//! (`e_log.c`, `e_logf.c`, `s_log1p.c`, `s_log1pf.c`; 4 terms for `f32`, 7 for `f64`). The
//! exponent term is added as `e·LN2_HI` (exact) and `e·LN2_LO`. Subnormal inputs are scaled by
//! `2^25` (`2^54` for `f64`) before the split. `ln_1p` forms `u = 1 + x` and adds the first-order
//! correction `(1 + x − u)/u` that the rounding of `u` lost; near 0 it uses `f = x` directly.

use super::{k, keep_nan, poly};
use crate::lane::{Lane, Mask, Scalar, UintLanes};

/// `ln 2` high part with trailing zeros, so `e·LN2_HI` is exact (musl `logf`).
const LN2_HI_F32: f32 = 6.931_381_225_6e-1;
/// `ln 2 − LN2_HI_F32`.
const LN2_LO_F32: f32 = 9.058_000_614_5e-6;
/// `ln 2` high part for `f64` (fdlibm).
const LN2_HI_F64: f64 = 6.931_471_803_691_238_164_90e-1;
/// `ln 2 − LN2_HI_F64`.
const LN2_LO_F64: f64 = 1.908_214_929_270_587_700_02e-10;

/// Odd-indexed coefficients `Lg1, Lg3, …` of `R(z) = Lg1·z + Lg2·z² + …` (musl `logf`).
const LG_ODD_F32: [f32; 2] = [0.666_666_626_93, 0.284_987_866_88];
/// Even-indexed coefficients `Lg2, Lg4` (musl `logf`).
const LG_EVEN_F32: [f32; 2] = [0.400_009_721_52, 0.242_790_788_41];
/// `Lg1, Lg3, Lg5, Lg7` (fdlibm `e_log.c`).
const LG_ODD_F64: [f64; 4] = [
    6.666_666_666_666_735_130e-1,
    2.857_142_874_366_239_149e-1,
    1.818_357_216_161_805_012e-1,
    1.479_819_860_511_658_591e-1,
];
/// `Lg2, Lg4, Lg6` (fdlibm `e_log.c`).
const LG_EVEN_F64: [f64; 3] =
    [3.999_999_999_940_941_908e-1, 2.222_219_843_214_978_396e-1, 1.531_383_769_920_937_332e-1];

/// Reduction threshold: mantissas at or above √2 are halved (and the exponent raised) so that
/// `1 + f ∈ [√2/2, √2)`.
const SQRT2_F32: f32 = core::f32::consts::SQRT_2;
/// See [`SQRT2_F32`].
const SQRT2_F64: f64 = core::f64::consts::SQRT_2;

/// Subnormal inputs are multiplied by `2^SUBNORMAL_SHIFT` to become normal before the split.
const SUBNORMAL_SHIFT_F32: f32 = 25.0;
/// See [`SUBNORMAL_SHIFT_F32`].
const SUBNORMAL_SHIFT_F64: f64 = 54.0;

/// `ln(1+f) − f + f²/2 − e·ln2` pieces: returns `s·(f²/2 + R(s²))` and `f²/2`.
#[inline(always)]
fn series<L: Lane>(f: L) -> (L, L) {
    let s = f / (L::from_f64(2.0) + f);
    let z = s * s;
    let w = z * z;
    let t1 = w * poly(w, &LG_EVEN_F32, &LG_EVEN_F64);
    let t2 = z * poly(w, &LG_ODD_F32, &LG_ODD_F64);
    let hfsq = L::from_f64(0.5) * f * f;
    (s * (hfsq + (t2 + t1)), hfsq)
}

/// Split a positive normal `u` into `(f, e)` with `u = 2^e·(1 + f)`, `1 + f ∈ [√2/2, √2)`.
///
/// In the bits (musl `logf`): adding `bits(1) − bits(√2/2)` carries exactly the mantissas at or
/// above √2 into the next exponent, so the exponent field is `e` plus the bias and the mantissa
/// field, offset back by `bits(√2/2)`, is `1 + f`: no comparison and no select. (The same `f`
/// and `e` as halving the mantissas `≥ √2` after `frexp`.) Other inputs give meaningless parts;
/// the callers replace their results.
#[inline(always)]
fn split<L: Lane>(u: L) -> (L, L) {
    let m = L::Scalar::MANTISSA_BITS;
    let half_sqrt2 = k::<L>(SQRT2_F32 * 0.5, SQRT2_F64 * 0.5).to_bits();
    let offset = L::from_f64(1.0).to_bits().wrapping_sub(half_sqrt2);
    let ix = u.to_bits().wrapping_add(offset);
    let mant_mask = L::Bits::splat_u64((1u64 << m) - 1);
    let mant = L::from_bits((ix & mant_mask).wrapping_add(half_sqrt2));
    // The biased exponent as a float: placed in the low mantissa bits of 2^m, then 2^m removed.
    let magic = L::from_f64((1u64 << m) as f64);
    let biased = L::from_bits((ix >> m) | magic.to_bits()) - magic;
    // Both exact: `mant` is within a factor 2 of 1, the exponent a small integer.
    (mant - L::from_f64(1.0), biased - L::from_f64(L::Scalar::EXP_BIAS as f64))
}

/// `ln(2^e·(1 + f)) = e·ln2 + ln(1 + f)`, the exponent term in two parts (the high one exact).
#[inline(always)]
fn ln_parts<L: Lane>(f: L, e: L) -> L {
    let (sr, hfsq) = series(f);
    sr + e * k(LN2_LO_F32, LN2_LO_F64) - hfsq + f + e * k(LN2_HI_F32, LN2_HI_F64)
}

with_inlined! {
/// Natural logarithm, lane-wise.
///
/// Accuracy: `f32` lanes ≤ 1 ulp (measured max 0.80 ulp over 4.5·10⁶ points, subnormal inputs
/// included); `f64` lanes ≤ 1 ulp of the exact value (measured max 0.71 ulp over 128 mpmath
/// points) and ≤ 2 ulp from `libm::log` (measured max 0 over 3.0·10⁵ points: both follow
/// fdlibm's algorithm).
/// `ln(±0) = −∞`, `ln(x < 0) = NaN`, `ln(+∞) = +∞`, `ln(1) = +0`, NaN stays NaN.
pub fn ln / ln_inlined <L: Lane>(x: L) -> L {
    let min_normal = L::from_f64(if super::single::<L>() {
        f32::MIN_POSITIVE as f64
    } else {
        f64::MIN_POSITIVE
    });
    let inf = L::from_f64(f64::INFINITY);
    // One test per vector: when every lane is positive, normal and finite, no lane needs the
    // subnormal scaling or a special value, and the short path gives the same bits.
    if (x.ge(min_normal) & x.lt(inf)).all() {
        let (f, e) = split(x);
        return ln_parts(f, e);
    }
    let shift = k::<L>(SUBNORMAL_SHIFT_F32, SUBNORMAL_SHIFT_F64);
    let sub = x.lt(min_normal);
    let xs = L::select(sub, x * L::pow2i(shift), x);
    let (f, e) = split(xs);
    let e = L::select(sub, e - shift, e);
    let res = ln_parts(f, e);
    let zero = L::default();
    let res = L::select(x.eq(inf), inf, res);
    let res = L::select(x.eq(zero), -inf, res);
    let res = L::select(x.lt(zero), L::from_f64(f64::NAN), res);
    keep_nan(x, res)
}
}

with_inlined! {
/// ln(1 + x), lane-wise, accurate near 0.
///
/// Accuracy: `f32` lanes ≤ 2 ulp (measured max 0.81 ulp over 4.5·10⁶ points);
/// `f64` lanes ≤ 2 ulp of the exact value (measured max 0.59 ulp over 128 mpmath points) and
/// ≤ 2 ulp from `libm::log1p` (measured max 0 over 3.0·10⁵ points: fdlibm's algorithm too).
/// `ln_1p(±0) = ±0`, `ln_1p(−1) = −∞`, `ln_1p(x < −1) = NaN`, `ln_1p(+∞) = +∞`, NaN stays NaN.
pub fn ln_1p / ln_1p_inlined <L: Lane>(x: L) -> L {
    let one = L::from_f64(1.0);
    let inf = L::from_f64(f64::INFINITY);
    let res = ln_1p_finite(x);
    // One test per vector: when every lane is in (−1, +∞) (no NaN), no special value applies.
    if (x.gt(-one) & x.lt(inf)).all() {
        return res;
    }
    let res = L::select(x.eq(inf), inf, res);
    let res = L::select(x.eq(-one), -inf, res);
    let res = L::select(x.lt(-one), L::from_f64(f64::NAN), res);
    keep_nan(x, res)
}
}

/// `ln(1 + x)` for `x ∈ (−1, +∞)`; other inputs give meaningless values.
#[inline(always)]
fn ln_1p_finite<L: Lane>(x: L) -> L {
    let one = L::from_f64(1.0);
    let zero = L::default();
    let mant = L::Scalar::MANTISSA_BITS as f64;
    // Near 0, where 1 + x ∈ [√2/2, √2), take f = x itself: no rounding at all, and (one test
    // per vector) no split and no correction when every lane is there.
    let near = x.lt(k(SQRT2_F32 - 1.0, SQRT2_F64 - 1.0))
        & x.ge(k(SQRT2_F32 * 0.5 - 1.0, SQRT2_F64 * 0.5 - 1.0));
    let (f, c, e) = if near.all() {
        (x, zero, zero)
    } else {
        let u = one + x;
        let (fu, eu) = split(u);
        // (1 + x − u)/u: what rounding u lost, exactly recovered (Sterbenz in either branch).
        let c = L::select(eu.ge(L::from_f64(2.0)), one - (u - x), x - (u - one)) / u;
        // Past 2^(p+2) the correction is below the last bit of the result (and x − u may be
        // ±∞).
        let c = L::select(eu.lt(L::from_f64(mant + 2.0)), c, zero);
        (L::select(near, x, fu), L::select(near, zero, c), L::select(near, zero, eu))
    };
    let (sr, hfsq) = series(f);
    let res = sr + (e * k(LN2_LO_F32, LN2_LO_F64) + c) - hfsq + f + e * k(LN2_HI_F32, LN2_HI_F64);
    // Below 2^−(p+1), ln(1 + x) rounds to x; this keeps ±0 and subnormals exact.
    let tiny = L::pow2i(L::from_f64(-(mant + 1.0)));
    L::select(x.abs().lt(tiny), x, res)
}
