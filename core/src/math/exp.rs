//! `exp` and `expm1`: Cody–Waite reduction by ln 2 and a short polynomial.
//!
//! `x = n·ln2 + r` with `n = round(x/ln2)` and `|r| ≤ ln2/2`; `ln2 = LN2_HI + LN2_LO` where
//! `LN2_HI` has enough trailing zero bits that `n·LN2_HI` and `x − n·LN2_HI` are exact for every
//! `n` the clamped input produces (Cody & Waite, *Software Manual for the Elementary Functions*,
//! 1980). On the reduced interval `e^r − 1 − r = r²·P(r)`: for `f32` the degree-5 minimax `P` of
//! Cephes `expf` (S. Moshier), for `f64` the Taylor series to `r¹³` (truncation error below
//! 5·10⁻¹⁸ on `|r| ≤ ln2/2`). The final `2^n` is applied in two exact steps ([`super::scale2`]) so
//! that subnormal results are rounded once. `expm1` recombines in the case split of fdlibm's
//! `s_expm1.c` so that no cancellation loses bits.

use super::{k, keep_nan, poly, round_small, scale2};
use crate::lane::{Lane, Mask, Scalar};

/// `ln 2` high part: 9 significant bits (`f32`), 32 bits (`f64`), so `n·LN2_HI` is exact.
const LN2_HI_F32: f32 = 0.693_359_375;
/// `ln 2 − LN2_HI_F32`.
const LN2_LO_F32: f32 = -2.121_944_4e-4;
/// `ln 2` high part for `f64` (fdlibm `ln2_hi`).
const LN2_HI_F64: f64 = 6.931_471_803_691_238_164_90e-1;
/// `ln 2 − LN2_HI_F64` (fdlibm `ln2_lo`).
const LN2_LO_F64: f64 = 1.908_214_929_270_587_700_02e-10;

/// `e^r − 1 − r = r²·P(r)` on `|r| ≤ ln2/2`: Cephes `expf` minimax coefficients.
const P_F32: [f32; 6] = [
    5.000_000_120_1e-1,
    1.666_666_545_9e-1,
    4.166_579_589_4e-2,
    8.333_451_907_3e-3,
    1.398_199_950_7e-3,
    1.987_569_150_0e-4,
];
/// The same for `f64`: Taylor coefficients `1/(k+2)!`, `k = 0..=11`.
const P_F64: [f64; 12] = [
    0.5,
    0.166_666_666_666_666_66,
    0.041_666_666_666_666_664,
    0.008_333_333_333_333_333,
    0.001_388_888_888_888_889,
    1.984_126_984_126_984e-4,
    2.480_158_730_158_73e-5,
    2.755_731_922_398_589_3e-6,
    2.755_731_922_398_589e-7,
    2.505_210_838_544_172e-8,
    2.087_675_698_786_81e-9,
    1.605_904_383_682_161_3e-10,
];

/// Clamp bounds: below the lower one `e^x` rounds to `+0` (`f32`: `e^−104 < 2^−150`), above the
/// upper one it overflows (`e^89 > f32::MAX`). Clamping keeps `n` inside [`super::scale2`]'s range.
const EXP_MIN_F32: f32 = -104.0;
/// See [`EXP_MIN_F32`].
const EXP_MAX_F32: f32 = 89.0;
/// `f64`: `e^−746 < 2^−1075` rounds to `+0`.
const EXP_MIN_F64: f64 = -746.0;
/// `f64`: `e^710 > f64::MAX`.
const EXP_MAX_F64: f64 = 710.0;

/// `expm1` lower clamp: below it `e^x − 1` rounds to `−1` (`e^−30 < 2^−26`, `e^−40 < 2^−55`).
const EXPM1_MIN_F32: f32 = -30.0;
/// See [`EXPM1_MIN_F32`].
const EXPM1_MIN_F64: f64 = -40.0;

/// The reduction shared by `exp` and `expm1`: `(n, hi, lo)` with `x = n·ln2 + (hi − lo)`, `hi`
/// exact, and `|hi − lo| ≤ ln2/2` (plus rounding).
#[inline(always)]
fn reduce<L: Lane>(x: L) -> (L, L, L) {
    let n = round_small(x * L::from_f64(core::f64::consts::LOG2_E));
    let hi = x - n * k::<L>(LN2_HI_F32, LN2_HI_F64);
    let lo = n * k::<L>(LN2_LO_F32, LN2_LO_F64);
    (n, hi, lo)
}

/// `e^r − 1 − r` for `|r| ≤ ln2/2`.
#[inline(always)]
fn tail<L: Lane>(r: L) -> L {
    (r * r) * poly(r, &P_F32, &P_F64)
}

/// `exp`'s fast path covers `[EXP_FAST_MIN_F32, EXP_FAST_MAX_F32]`: there `n = round(x/ln2)`
/// lies in [`Lane::pow2i`]'s normal range (`−126..=127`) and `e^x` is a normal float, so one
/// exact scaling by `2^n` gives the bits of the two-step scaling of the general path.
const EXP_FAST_MIN_F32: f32 = -87.0;
/// See [`EXP_FAST_MIN_F32`] (`e^88 < f32::MAX`, `n ≤ 127`).
const EXP_FAST_MAX_F32: f32 = 88.0;
/// The same for `f64` (`e^−708` is normal, `n ≥ −1021`).
const EXP_FAST_MIN_F64: f64 = -708.0;
/// See [`EXP_FAST_MIN_F64`] (`e^709 < f64::MAX`, `n ≤ 1023`).
const EXP_FAST_MAX_F64: f64 = 709.0;

/// e^x for `x` inside `exp`'s fast range (or NaN-free callers who bound `x` there): the
/// reduction, the polynomial and one exact scaling, no clamps and no special cases. Bit for bit
/// the value of [`exp`] on that range.
#[inline(always)]
pub(super) fn exp_in_range<L: Lane>(x: L) -> L {
    let (n, hi, lo) = reduce(x);
    let r = hi - lo;
    let s = hi - (lo - tail(r));
    (L::from_f64(1.0) + s) * L::pow2i(n)
}

with_inlined! {
/// e^x, lane-wise.
///
/// Accuracy: `f32` lanes ≤ 1 ulp (measured max 0.88 ulp over 2.2·10⁶ points, subnormal results
/// included); `f64` lanes ≤ 1 ulp of the exact value (measured max 0.74 ulp over 128 mpmath
/// points) and ≤ 2 ulp from `libm::exp` (measured max 1 over 3.0·10⁵ points).
/// Overflow gives `+∞`, underflow goes through the subnormals to `+0`, `e^−∞ = 0`, NaN stays NaN.
pub fn exp / exp_inlined <L: Lane>(x: L) -> L {
    // One test per vector: when every lane is in the fast range (no NaN, no over- or underflow,
    // no subnormal result), the short path gives the same bits as the general one.
    let fast =
        x.ge(k(EXP_FAST_MIN_F32, EXP_FAST_MIN_F64)) & x.le(k(EXP_FAST_MAX_F32, EXP_FAST_MAX_F64));
    if fast.all() {
        return exp_in_range(x);
    }
    let (hi, _) = exp_parts(x);
    keep_nan(x, hi)
}
}

/// e^x as an unevaluated sum `hi + lo` (`|lo| ≤ ulp(hi)/2`, except where scaling into the
/// subnormals rounds `lo` away); `hi` is the value [`exp`] returns for non-NaN `x`. Callers that
/// divide by `1 + e^x` use `lo` to keep the relative error of the quotient near ½ ulp.
#[inline(always)]
pub(super) fn exp_parts<L: Lane>(x: L) -> (L, L) {
    let xc = x.max(k(EXP_MIN_F32, EXP_MIN_F64)).min(k(EXP_MAX_F32, EXP_MAX_F64));
    let (n, hi, lo) = reduce(xc);
    let r = hi - lo;
    // 1 + (hi − (lo − r²P)): the exact `hi` is added last but one, so the rounding of `r`
    // does not reach the result (fdlibm `e_exp.c`).
    let s = hi - (lo - tail(r));
    let one = L::from_f64(1.0);
    let y = one + s;
    // The rounding error of the last addition, exactly (Fast2Sum: |s| < 1).
    let y_lo = (one - y) + s;
    // Both parts scaled by the same two exact steps; (y + y_lo)·2^n rounds to y·2^n.
    let n1 = round_small(n * L::from_f64(0.5));
    let (a, b) = (L::pow2i(n1), L::pow2i(n - n1));
    ((y * a) * b, (y_lo * a) * b)
}

with_inlined! {
/// e^x − 1, lane-wise, accurate near 0.
///
/// Accuracy: `f32` lanes ≤ 2 ulp (measured max 1.01 ulp over 2.2·10⁶ points);
/// `f64` lanes ≤ 2 ulp of the exact value (measured max 0.80 ulp over 128 mpmath points) and
/// ≤ 2 ulp from `libm::expm1` (measured max 1 over 3.0·10⁵ points).
/// `expm1(±0) = ±0`, `expm1(−∞) = −1`, overflow gives `+∞`, NaN stays NaN.
pub fn expm1 / expm1_inlined <L: Lane>(x: L) -> L {
    let one = L::from_f64(1.0);
    let half = L::from_f64(0.5);
    let xc = x.max(k(EXPM1_MIN_F32, EXPM1_MIN_F64)).min(k(EXP_MAX_F32, EXP_MAX_F64));
    let (n, hi, lo) = reduce(xc);
    let r = hi - lo;
    // The rounding error of r, so that r + c is the reduced argument to twice the precision.
    let c = (hi - r) - lo;
    let e0 = tail(r);
    // expm1(r + c) = r + e with e = e0 + c·e^r (to first order in c).
    let e = e0 + c * (one + r);
    let u = r + e;
    let mant = L::Scalar::MANTISSA_BITS as f64;

    // n ≤ −2: e^x − 1 = (1 + u)·2^n − 1, the result lies in (−1, −0.64].
    let neg = scale2(one + u, n) - one;
    // 2 ≤ n ≤ p: (1 − 2^−n) is exact and absorbs the −1 before scaling. (2^−n is capped at
    // 2^−(2p+4), far below the last bit of 1 + u, to stay in pow2i's normal range.)
    let two_m = L::pow2i(-(n.min(L::from_f64(2.0 * mant + 4.0))));
    let mid = one - two_m + u;
    // n > p: 2^−n only touches the last bits of u.
    let big = (u - two_m) + one;
    let pos = scale2(L::select(n.le(L::from_f64(mant)), mid, big), n);
    // n = ±1: exact recombinations (fdlibm) that avoid cancelling against 1.
    // For r < −1/4, r + 1/2 is exact (Sterbenz), so the only rounding left is the last one.
    let minus_quarter = L::from_f64(-0.25);
    let two = L::from_f64(2.0);
    let p1 = L::select(r.lt(minus_quarter), two * ((r + half) + e), one + two * u);
    let m1 = half * u - half;

    let mut res = L::select(n.ge(two), pos, neg);
    res = L::select(n.eq(one), p1, res);
    res = L::select(n.eq(-one), m1, res);
    res = L::select(n.eq(L::default()), u, res);
    // Below 2^−(p+2) the result rounds to x itself; this also keeps the sign of ±0.
    let tiny = k::<L>(2.980_232_2e-8, 5.551_115_123_125_783e-17);
    res = L::select(x.abs().lt(tiny), x, res);
    keep_nan(x, res)
}
}
