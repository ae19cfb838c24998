//! `sin_cos`: Cody–Waite reduction by π/2 in five parts and the fdlibm/Cephes kernels.
//!
//! `x = n·π/2 + r`, `n = round(2x/π)`, `|r| ≤ π/4`, with `π/2 = P1 + … + P5` where
//! `P1..P4` carry 8 significant bits each for `f32` (33 for `f64`, as fdlibm's `pio2_1..3`), so
//! every `n·Pk` is exact while `|n| ≤ 2^16` (`2^20` for `f64`). That bounds the valid range:
//! `|x| ≤ 2^15·π` for `f32` lanes and `|x| ≤ 2^19·π` for `f64` lanes. Beyond it the result is NaN
//! (documented, never a wrong number). The last differences are kept as a two-term sum `r + c`
//! (TwoSum) and `c` enters the kernels to first order. On `[−π/4, π/4]`: `sin r = r + r³·S(r²)` and
//! `cos r = 1 − r²/2 + r⁴·C(r²)` with Cephes `sinf`/`cosf` (`f32`) or fdlibm `__sin`/`__cos`
//! (`f64`) minimax coefficients; `cos` adds `1 − r²/2` in fdlibm's compensated order.

use super::{k, keep_nan, poly};
use crate::lane::{Lane, Mask, UintLanes};

/// π/2 in five parts for `f32`: four with 8 significant bits (exact products with `|n| ≤ 2^16`)
/// and the rounded remainder (56 bits of π/2 in all).
const PIO2_F32: [f32; 5] = [
    1.570_312_5,
    4.825_592_041_015_625e-4,
    1.266_598_701_477_050_8e-6,
    9.895_302_355_289_46e-10,
    2.563_344_068_257_089_6e-12,
];
/// π/2 in five parts for `f64`: four with 33 significant bits (the first three are fdlibm's
/// `pio2_1..3`) and the rounded remainder.
const PIO2_F64: [f64; 5] = [
    1.570_796_326_734_125_614_17,
    6.077_100_506_303_965_976_60e-11,
    2.022_266_248_711_166_455_80e-21,
    8.478_427_660_348_229e-32,
    2.067_032_109_826_398_8e-43,
];
/// Largest `|x|` reduced exactly: `2^15·π` (`f32`), `2^19·π` (`f64`).
const MAX_ARG_F32: f32 = 102_943.71;
/// See [`MAX_ARG_F32`].
const MAX_ARG_F64: f64 = 1_647_099.329_165_285_5;

/// `sin r = r + r³·S(r²)` on `|r| ≤ π/4`: Cephes `sinf`.
const S_F32: [f32; 3] = [-1.666_665_461_1e-1, 8.332_160_873_6e-3, -1.951_529_589_1e-4];
/// fdlibm `__sin` `S1..S6`.
const S_F64: [f64; 6] = [
    -1.666_666_666_666_663_243_48e-1,
    8.333_333_333_322_489_461_24e-3,
    -1.984_126_982_985_794_931_34e-4,
    2.755_731_370_707_006_767_89e-6,
    -2.505_076_025_340_686_341_95e-8,
    1.589_690_995_211_550_102_21e-10,
];
/// `cos r = 1 − r²/2 + r⁴·C(r²)` on `|r| ≤ π/4`: Cephes `cosf`.
const C_F32: [f32; 3] =
    [4.166_664_568_298_827e-2, -1.388_731_625_493_765e-3, 2.443_315_711_809_948e-5];
/// fdlibm `__cos` `C1..C6`.
const C_F64: [f64; 6] = [
    4.166_666_666_666_660_190_37e-2,
    -1.388_888_888_887_410_957_49e-3,
    2.480_158_728_947_672_941_78e-5,
    -2.755_731_435_139_066_330_35e-7,
    2.087_572_321_298_174_827_90e-9,
    -1.135_964_755_778_819_482_65e-11,
];

with_inlined! {
/// (sin x, cos x), lane-wise, from one shared reduction.
///
/// Accuracy, for `|x| ≤ 2^15·π` (`f32`) / `2^19·π` (`f64`): `f32` lanes ≤ 2 ulp (measured max
/// sin 0.81 ulp, cos 0.76 ulp over 4.5·10⁶ points); `f64` lanes ≤ 2 ulp of the exact value
/// (measured max sin 0.92, cos 0.90 ulp over 128 mpmath points) and ≤ 2 ulp from
/// `libm::sin`/`libm::cos` (measured max 1 over 3.0·10⁵ points).
/// `sin(±0) = ±0`, `cos(±0) = 1`. Outside the valid range, at ±∞ and for NaN both results are
/// NaN.
pub fn sin_cos / sin_cos_inlined <L: Lane>(x: L) -> (L, L) {
    let max = k::<L>(MAX_ARG_F32, MAX_ARG_F64);
    let zero = L::default();
    // One test per vector: when every lane is in the valid range (so none is NaN or ±∞), the
    // clamp and the special-value selects are skipped; the same bits either way.
    if x.abs().le(max).all() {
        let (s, c) = reduced(x, x);
        // sin(±0) = ±0: the reduction turns −0 into +0.
        return (L::select(x.eq(zero), x, s), c);
    }
    let (s, c) = reduced(x, x.min(max).max(-max));
    let s = L::select(x.eq(zero), x, s);
    let out = x.abs().gt(max);
    let nan = L::from_f64(f64::NAN);
    let s = L::select(out, nan, keep_nan(x, s));
    let c = L::select(out, nan, keep_nan(x, c));
    (s, c)
}
}

/// `(sin x, cos x)` with the quadrant `n` taken from `xc` (`x` clamped to the valid range, or
/// `x` itself when it is in range).
#[inline(always)]
fn reduced<L: Lane>(x: L, xc: L) -> (L, L) {
    // n = round(2x/π) by the 1.5·2^p shift (as `round_small`); `t` keeps n in its low bits.
    let magic = k::<L>(12_582_912.0, 6_755_399_441_055_744.0);
    let t = xc * L::from_f64(core::f64::consts::FRAC_2_PI) + magic;
    let n = t - magic;
    let np = |i: usize| n * k::<L>(PIO2_F32[i], PIO2_F64[i]);
    // x − n·P1 − n·P2 is exact (Cody–Waite: each product is exact and each difference cancels
    // the leading bits). The next two differences may round, so they are taken exactly as
    // two-term sums (Knuth's TwoSum) and r + c carries the reduced argument to about twice the
    // lane precision, also when r is tiny (x near a multiple of π/2).
    let b = (x - np(0)) - np(1);
    let (s1, e1) = two_diff(b, np(2));
    let (s2, e2) = two_diff(s1, np(3));
    let c = (e1 + e2) - np(4);
    let r = s2 + c;
    let c = c - (r - s2);
    let z = r * r;
    let one = L::from_f64(1.0);
    let hz = L::from_f64(0.5) * z;
    // sin(r + c) = sin r + c·cos r, cos(r + c) = cos r − c·sin r, to first order in c.
    let sin_r = r + ((r * z) * poly(z, &S_F32, &S_F64) + c * (one - hz));
    let w = one - hz;
    let cos_r = w + (((one - w) - hz) + ((z * z) * poly(z, &C_F32, &C_F64) - r * c));

    // Quadrant q = n mod 4, the two low bits of `t` (two's complement, so also for n < 0):
    // sin x = (s, c, −s, −c)[q], cos x = (c, −s, −c, s)[q]. Bit 0 swaps the two kernels (a
    // blend by an all-ones mask), bit 1 negates sin, bit 0 ⊕ bit 1 negates cos (sign flips).
    let tb = t.to_bits();
    let bit = L::Bits::splat_u64(1);
    let sign = L::Bits::WIDTH - 1;
    let b0 = tb & bit;
    let b1 = (tb >> 1) & bit;
    let swap = L::Bits::splat_u64(0).wrapping_sub(b0);
    let (sb, cb) = (sin_r.to_bits(), cos_r.to_bits());
    let diff = (sb ^ cb) & swap;
    let s = L::from_bits((sb ^ diff) ^ (b1 << sign));
    let c = L::from_bits((cb ^ diff) ^ ((b0 ^ b1) << sign));
    (s, c)
}

/// `(s, e)` with `s = fl(a − b)` and `a − b = s + e` exactly (Knuth's TwoSum; 6 exact operations,
/// no ordering of `|a|`, `|b|` needed).
#[inline(always)]
fn two_diff<L: Lane>(a: L, b: L) -> (L, L) {
    let s = a - b;
    let bb = s - a;
    (s, (a - (s - bb)) - (b + bb))
}
