//! Accuracy and lane-identity tests of the math kernels, in the manner of libm.
//!
//! `f32` lanes: > 10⁶ points per function (a stride over all 2³² bit patterns, a stride over the
//! bit patterns of the function's main domain, uniform random points, and a list of edge
//! cases), each checked against the `f64` functions of the `libm` crate, with the error measured
//! in ulps of the `f32` result. `f64` lanes: 3·10⁵ points against `libm`'s `f64` functions (which
//! are within about 1 ulp themselves), measured as the distance in representable `f64` values,
//! and 128 points per function against exact values (mpmath, 300 bits; `reference_f64.rs`),
//! measured in fractional ulps.
//! Lane identity: `f32x4`, `f32x8` (and `f64x4`) give bit for bit the scalar results, NaN lanes
//! included.

extern crate std;

use super::*;
use std::vec;
use std::vec::Vec;
use wide::{f32x4, f32x8, f64x4};

/// Points in the whole-bit-pattern stride (a prime stride, so every exponent and sign is hit).
const FULL_STRIDE: u64 = 4099;
/// Points in the per-domain stride over bit patterns.
const DOMAIN_POINTS: u64 = 1_000_000;
/// Uniform random points per domain.
const RANDOM_POINTS: usize = 200_000;
/// Points of the `f64` sweeps.
const F64_POINTS: u64 = 100_000;

/// A small deterministic generator (SplitMix64) for the random points.
struct SplitMix(u64);
impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Monotone map from `f32` to integers (−0 and +0 adjacent), and back.
fn ord32(x: f32) -> i64 {
    let b = x.to_bits() as i32 as i64;
    if b < 0 { -(b & 0x7fff_ffff) - 1 } else { b }
}
fn unord32(o: i64) -> f32 {
    if o < 0 { f32::from_bits(((-(o + 1)) as u32) | 0x8000_0000) } else { f32::from_bits(o as u32) }
}
fn ord64(x: f64) -> i128 {
    let b = x.to_bits() as i64 as i128;
    if b < 0 { -(b & 0x7fff_ffff_ffff_ffff) - 1 } else { b }
}
fn unord64(o: i128) -> f64 {
    if o < 0 {
        f64::from_bits(((-(o + 1)) as u64) | 0x8000_0000_0000_0000)
    } else {
        f64::from_bits(o as u64)
    }
}

/// Edge cases every function sees.
fn edges32() -> Vec<f32> {
    let mut v = vec![
        0.0,
        f32::MIN_POSITIVE,
        f32::from_bits(1),
        f32::from_bits(0x007f_ffff),
        1e-40,
        1e-30,
        1e-10,
        2.980_232_2e-8,
        1e-7,
        1e-4,
        0.1,
        0.25,
        0.5,
        0.625,
        core::f32::consts::LN_2,
        1.0,
        core::f32::consts::SQRT_2,
        core::f32::consts::FRAC_PI_2,
        2.0,
        core::f32::consts::PI,
        10.0,
        20.0,
        87.0,
        88.72,
        88.722_83,
        88.722_84,
        89.0,
        103.0,
        103.97,
        104.0,
        1e4,
        102_943.7,
        1e6,
        1e30,
        f32::MAX,
        f32::INFINITY,
        f32::NAN,
    ];
    let neg: Vec<f32> = v.iter().map(|x| -x).collect();
    v.extend(neg);
    v.extend([-0.999_999_94, -0.5, -0.292_893_2, 0.414_213_5]);
    v
}

/// Sweep points for an `f32` function with main domain `[lo, hi]`.
fn points32(lo: f32, hi: f32, seed: u64) -> Vec<f32> {
    let mut v: Vec<f32> =
        (0..(1u64 << 32) / FULL_STRIDE).map(|i| f32::from_bits((i * FULL_STRIDE) as u32)).collect();
    let (a, b) = (ord32(lo), ord32(hi));
    let step = ((b - a) as u64 / DOMAIN_POINTS).max(1) as i64;
    let mut o = a;
    while o <= b {
        v.push(unord32(o));
        o += step;
    }
    let mut rng = SplitMix(seed);
    let (l, h) = (lo as f64, hi as f64);
    v.extend((0..RANDOM_POINTS).map(|_| (l + (h - l) * rng.unit()) as f32));
    v.extend(edges32());
    v
}

/// Error of `got` in ulps of the `f32` nearest to `want` (the exact value, to `f64` precision).
/// Subnormal results are measured in the subnormal spacing `2^−149`; `±∞` counts as `±2^128`.
fn ulps32(got: f32, want: f64) -> f64 {
    if want.is_nan() || got.is_nan() {
        return if want.is_nan() && got.is_nan() { 0.0 } else { f64::INFINITY };
    }
    if want.is_infinite() {
        return if got as f64 == want { 0.0 } else { f64::INFINITY };
    }
    let g = if got.is_infinite() { 2f64.powi(128).copysign(got as f64) } else { got as f64 };
    if g == want || (got.is_infinite() && want as f32 == got) {
        return 0.0;
    }
    let e = (((want.to_bits() >> 52) & 0x7ff) as i32 - 1023).clamp(-126, 127);
    (g - want).abs() / 2f64.powi(e - 23)
}

/// Distance of `got` from `want` in representable `f64` values.
fn ulps64(got: f64, want: f64) -> f64 {
    if want.is_nan() || got.is_nan() {
        return if want.is_nan() && got.is_nan() { 0.0 } else { f64::INFINITY };
    }
    (ord64(got) - ord64(want)).unsigned_abs() as f64
}

/// Measures the worst error of `f` against `reference` over `points` and asserts `budget`.
fn check32(
    name: &str,
    points: &[f32],
    f: impl Fn(f32) -> f32,
    reference: impl Fn(f64) -> f64,
    budget: f64,
) {
    let mut worst = (0.0f64, 0.0f32);
    for &x in points {
        let err = ulps32(f(x), reference(x as f64));
        if err > worst.0 {
            worst = (err, x);
        }
    }
    std::println!(
        "{name} f32: max {:.3} ulp at x = {:e} over {} points",
        worst.0,
        worst.1,
        points.len()
    );
    assert!(
        worst.0 <= budget,
        "{name}: {} ulp at x = {:e} (f32 bits {:#x}): got {:e}, want {:e}",
        worst.0,
        worst.1,
        worst.1.to_bits(),
        f(worst.1),
        reference(worst.1 as f64)
    );
}

/// `f64` sweep points: a stride over all 2⁶⁴ bit patterns, a bit stride over `[lo, hi]`,
/// random points in `[lo, hi]`, and the `f32` edge cases widened.
fn points64(lo: f64, hi: f64, seed: u64) -> Vec<f64> {
    let stride = u64::MAX / F64_POINTS;
    let mut v: Vec<f64> = (0..F64_POINTS).map(|i| f64::from_bits(i * stride)).collect();
    let (a, b) = (ord64(lo), ord64(hi));
    let step = ((b - a) / F64_POINTS as i128).max(1);
    let mut o = a;
    while o <= b {
        v.push(unord64(o));
        o += step;
    }
    let mut rng = SplitMix(seed);
    v.extend((0..F64_POINTS).map(|_| lo + (hi - lo) * rng.unit()));
    v.extend(edges32().iter().map(|&x| x as f64));
    v.extend([f64::MIN_POSITIVE, f64::from_bits(1), f64::MAX, -f64::MAX, 709.78, 709.79, -745.1]);
    v
}

/// As [`check32`] for `f64` lanes.
fn check64(
    name: &str,
    points: &[f64],
    f: impl Fn(f64) -> f64,
    reference: impl Fn(f64) -> f64,
    budget: f64,
) {
    let mut worst = (0.0f64, 0.0f64);
    for &x in points {
        let err = ulps64(f(x), reference(x));
        if err > worst.0 {
            worst = (err, x);
        }
    }
    std::println!(
        "{name} f64: max {:.0} ulp at x = {:e} over {} points",
        worst.0,
        worst.1,
        points.len()
    );
    assert!(
        worst.0 <= budget,
        "{name}: {} ulp at x = {:e}: got {:e}, want {:e}",
        worst.0,
        worst.1,
        f(worst.1),
        reference(worst.1)
    );
}

fn softplus_ref(x: f64) -> f64 {
    x.max(0.0) + libm::log1p(libm::exp(-x.abs()))
}
fn sigmoid_ref(x: f64) -> f64 {
    let t = libm::exp(-x.abs());
    if x < 0.0 { t / (1.0 + t) } else { 1.0 / (1.0 + t) }
}

#[test]
fn exp_f32_within_1ulp() {
    check32("exp", &points32(-104.0, 89.0, 1), exp, libm::exp, 1.0);
}
#[test]
fn expm1_f32_within_2ulp() {
    check32("expm1", &points32(-30.0, 89.0, 2), expm1, libm::expm1, 2.0);
}
#[test]
fn ln_f32_within_1ulp() {
    let mut p = points32(0.0, f32::MAX, 3);
    p.extend(points32(0.5, 2.0, 4));
    check32("ln", &p, ln, libm::log, 1.0);
}
#[test]
fn ln_1p_f32_within_2ulp() {
    let mut p = points32(-1.0, f32::MAX, 5);
    p.extend(points32(-0.5, 1.0, 6));
    check32("ln_1p", &p, ln_1p, libm::log1p, 2.0);
}
#[test]
fn tanh_f32_within_2ulp() {
    check32("tanh", &points32(-10.0, 10.0, 7), tanh, libm::tanh, 2.0);
}
#[test]
fn softplus_f32_within_2ulp() {
    check32("softplus", &points32(-110.0, 110.0, 8), softplus, softplus_ref, 2.0);
}
#[test]
fn sigmoid_f32_within_2ulp() {
    check32("sigmoid", &points32(-110.0, 110.0, 9), sigmoid, sigmoid_ref, 2.0);
}
#[test]
fn sin_cos_f32_within_2ulp() {
    let max = 102_943.7f32;
    let mut p = points32(-max, max, 10);
    p.extend(points32(-10.0, 10.0, 11));
    let in_range = |x: f64| if x.abs() <= max as f64 { x } else { f64::NAN };
    check32("sin", &p, |x| sin_cos(x).0, |x| libm::sin(in_range(x)), 2.0);
    check32("cos", &p, |x| sin_cos(x).1, |x| libm::cos(in_range(x)), 2.0);
}

#[test]
fn f64_lanes_within_2ulp_of_libm() {
    check64("exp", &points64(-746.0, 710.0, 21), exp, libm::exp, 2.0);
    check64("expm1", &points64(-40.0, 710.0, 22), expm1, libm::expm1, 2.0);
    check64("ln", &points64(0.0, f64::MAX, 23), ln, libm::log, 2.0);
    check64("ln near 1", &points64(0.5, 2.0, 24), ln, libm::log, 2.0);
    check64("ln_1p", &points64(-1.0, f64::MAX, 25), ln_1p, libm::log1p, 2.0);
    check64("ln_1p near 0", &points64(-0.5, 1.0, 26), ln_1p, libm::log1p, 2.0);
    check64("tanh", &points64(-25.0, 25.0, 27), tanh, libm::tanh, 2.0);
    check64("softplus", &points64(-750.0, 750.0, 28), softplus, softplus_ref, 2.0);
    check64("sigmoid", &points64(-750.0, 750.0, 29), sigmoid, sigmoid_ref, 2.0);
    let max = 1_647_099.0;
    let in_range = |x: f64| if x.abs() <= max { x } else { f64::NAN };
    let p = points64(-max, max, 30);
    check64("sin", &p, |x| sin_cos(x).0, |x| libm::sin(in_range(x)), 2.0);
    check64("cos", &p, |x| sin_cos(x).1, |x| libm::cos(in_range(x)), 2.0);
    let p = points64(-10.0, 10.0, 31);
    check64("sin near 0", &p, |x| sin_cos(x).0, |x| libm::sin(in_range(x)), 2.0);
    check64("cos near 0", &p, |x| sin_cos(x).1, |x| libm::cos(in_range(x)), 2.0);
}

#[test]
fn special_values() {
    let (inf, nan) = (f32::INFINITY, f32::NAN);
    assert_eq!(exp(0.0f32), 1.0);
    assert_eq!(exp(-inf), 0.0);
    assert_eq!(exp(inf), inf);
    assert_eq!(exp(89.0f32), inf);
    assert_eq!(exp(-104.0f32), 0.0);
    assert_eq!(exp(-103.0f32), libm::exp(-103.0) as f32, "subnormal result");
    assert_eq!(exp(1000.0f64), f64::INFINITY);
    assert_eq!(exp(-1000.0f64), 0.0);
    assert_eq!(expm1(-inf), -1.0);
    assert_eq!(expm1(inf), inf);
    assert_eq!(expm1(-0.0f32).to_bits(), (-0.0f32).to_bits());
    assert_eq!(ln(1.0f32).to_bits(), 0);
    assert_eq!(ln(0.0f32), -inf);
    assert_eq!(ln(-0.0f32), -inf);
    assert_eq!(ln(inf), inf);
    assert!(ln(-1.0f32).is_nan());
    assert!(ln(-inf).is_nan());
    assert_eq!(ln(f32::from_bits(1)), libm::log(f32::from_bits(1) as f64) as f32);
    assert_eq!(ln(0.0f64), f64::NEG_INFINITY);
    assert!(ln(-1e-300f64).is_nan());
    assert_eq!(ln_1p(-1.0f32), -inf);
    assert!(ln_1p(-1.5f32).is_nan());
    assert_eq!(ln_1p(inf), inf);
    assert_eq!(ln_1p(-0.0f32).to_bits(), (-0.0f32).to_bits());
    assert_eq!(ln_1p(-1.0f64), f64::NEG_INFINITY);
    assert_eq!(tanh(inf), 1.0);
    assert_eq!(tanh(-inf), -1.0);
    assert_eq!(tanh(30.0f32), 1.0);
    assert_eq!(tanh(-0.0f32).to_bits(), (-0.0f32).to_bits());
    assert_eq!(tanh(1e3f64), 1.0);
    assert_eq!(softplus(inf), inf);
    assert_eq!(softplus(-inf), 0.0);
    assert_eq!(softplus(1e30f32), 1e30);
    assert_eq!(softplus(-100.0f32), libm::exp(-100.0) as f32);
    assert_eq!(sigmoid(inf), 1.0);
    assert_eq!(sigmoid(-inf), 0.0);
    assert_eq!(sigmoid(0.0f32), 0.5);
    assert_eq!(sigmoid(-100.0f32), libm::exp(-100.0) as f32);
    let (s, c) = sin_cos(-0.0f32);
    assert_eq!((s.to_bits(), c), ((-0.0f32).to_bits(), 1.0));
    let (s, c) = sin_cos(inf);
    assert!(s.is_nan() && c.is_nan());
    let (s, c) = sin_cos(2e5f32);
    assert!(s.is_nan() && c.is_nan(), "outside the valid range");
    for f in
        [exp::<f32>, expm1, ln, ln_1p, tanh, softplus, sigmoid, |x| sin_cos(x).0, |x| sin_cos(x).1]
    {
        assert!(f(nan).is_nan());
    }
}

/// All functions as `f32x8` → `f32x8` closures, to compare lane widths.
macro_rules! all_fns {
    ($m:ident) => {
        $m!(exp);
        $m!(expm1);
        $m!(ln);
        $m!(ln_1p);
        $m!(tanh);
        $m!(softplus);
        $m!(sigmoid);
    };
}

/// Compares the bits of `f` on scalar lanes with `f` on `f32x4` and `f32x8` lanes.
fn same_bits_f32(
    name: &str,
    xs: &[f32],
    f1: impl Fn(f32) -> f32,
    f4: impl Fn(f32x4) -> f32x4,
    f8: impl Fn(f32x8) -> f32x8,
    f_duo: impl Fn(crate::lane::Duo<f32x4>) -> crate::lane::Duo<f32x4>,
) {
    for chunk in xs.chunks_exact(8) {
        let v8 = f8(f32x8::new(chunk.try_into().unwrap())).to_array();
        // The same function on a `Duo` of two `f32x4` (its halves are the chunk's halves).
        let duo = f_duo(crate::lane::Duo(
            f32x4::new(chunk[..4].try_into().unwrap()),
            f32x4::new(chunk[4..].try_into().unwrap()),
        ));
        let lo = f4(f32x4::new(chunk[..4].try_into().unwrap())).to_array();
        let hi = f4(f32x4::new(chunk[4..].try_into().unwrap())).to_array();
        for i in 0..8 {
            let s = f1(chunk[i]).to_bits();
            assert_eq!(s, v8[i].to_bits(), "{name} f32x8 lane {i} x = {:e}", chunk[i]);
            let v4 = if i < 4 { lo[i] } else { hi[i - 4] };
            assert_eq!(s, v4.to_bits(), "{name} f32x4 lane {i} x = {:e}", chunk[i]);
            let d = crate::lane::Lane::extract(duo, i);
            assert_eq!(s, d.to_bits(), "{name} Duo<f32x4> lane {i} x = {:e}", chunk[i]);
        }
    }
}

#[test]
fn wide_lanes_bit_identical_to_scalar() {
    // Mix every kind of value into the same vectors: the full-bit stride interleaves NaNs,
    // infinities, subnormals and normals of both signs; a shuffled copy of the domain points
    // and edge cases follows.
    let mut xs = points32(-110.0, 110.0, 40);
    let mut rng = SplitMix(41);
    for i in (1..xs.len()).rev() {
        xs.swap(i, (rng.next() % (i as u64 + 1)) as usize);
    }
    xs.truncate(xs.len() / 8 * 8);
    macro_rules! cmp {
        ($f:ident) => {
            same_bits_f32(stringify!($f), &xs, $f::<f32>, $f::<f32x4>, $f::<f32x8>, $f)
        };
    }
    all_fns!(cmp);
    fn sin<L: Lane>(x: L) -> L {
        sin_cos(x).0
    }
    fn cos<L: Lane>(x: L) -> L {
        sin_cos(x).1
    }
    macro_rules! cmp_trig {
        ($f:ident) => {
            same_bits_f32(stringify!($f), &xs, $f::<f32>, $f::<f32x4>, $f::<f32x8>, $f)
        };
    }
    cmp_trig!(sin);
    cmp_trig!(cos);

    let mut ys = points64(-750.0, 750.0, 42);
    ys.truncate(ys.len() / 4 * 4);
    macro_rules! cmp64 {
        ($f:ident) => {
            for c in ys.chunks_exact(4) {
                let v = $f(f64x4::new(c.try_into().unwrap())).to_array();
                for i in 0..4 {
                    assert_eq!(
                        $f(c[i]).to_bits(),
                        v[i].to_bits(),
                        "{} f64x4 x = {:e}",
                        stringify!($f),
                        c[i]
                    );
                }
            }
        };
    }
    all_fns!(cmp64);
    for c in ys.chunks_exact(4) {
        let (s, co) = sin_cos(f64x4::new(c.try_into().unwrap()));
        for (i, &xi) in c.iter().enumerate() {
            let (s1, c1) = sin_cos(xi);
            assert_eq!(
                (s1.to_bits(), c1.to_bits()),
                (s.to_array()[i].to_bits(), co.to_array()[i].to_bits())
            );
        }
    }
}

/// Each kernel takes a short path when every lane of a vector is ordinary (exp: no over- or
/// underflow; ln, ln_1p: inside the domain; tanh: all below or all above the polynomial's split;
/// sin_cos: inside its valid range) and the general path otherwise. A lane's bits must not depend on which one its neighbours
/// chose: every input is computed on its own (a scalar, which takes the short path wherever it
/// can) and beside a NaN, a small and a large value that force the general path, in `f32x8` and
/// `f64x4` lanes, over the kernels' whole ranges with their path boundaries swept densely.
#[test]
fn short_and_general_paths_give_the_same_bits() {
    let mut xs = points32(-110.0, 110.0, 43);
    // Around the short paths' bounds: exp's −87 and 88, tanh's 0.625, ln's smallest normal,
    // and ln_1p's −1, each over 2¹⁶ consecutive floats.
    for c in [-87.0f32, 88.0, 0.625, -0.625, 44.0, f32::MIN_POSITIVE, -1.0, 0.0] {
        let o = ord32(c);
        xs.extend((o - (1 << 15)..o + (1 << 15)).map(unord32));
    }
    macro_rules! cmp32 {
        ($f:ident) => {
            for &x in &xs {
                let v = $f(f32x8::new([x, x, x, x, x, f32::NAN, 0.1, 5.0])).to_array();
                assert_eq!(v[0].to_bits(), $f(x).to_bits(), "{} f32 x = {:e}", stringify!($f), x);
            }
        };
    }
    all_fns!(cmp32);
    let mut ts = points32(-2e5, 2e5, 45);
    for c in [102_943.71f32, -102_943.71, 0.0, core::f32::consts::FRAC_PI_4] {
        let o = ord32(c);
        ts.extend((o - (1 << 15)..o + (1 << 15)).map(unord32));
    }
    for &x in &ts {
        let (s, c) = sin_cos(f32x8::new([x, x, x, x, x, f32::NAN, 0.1, 5.0]));
        let (s1, c1) = sin_cos(x);
        assert_eq!(s.to_array()[0].to_bits(), s1.to_bits(), "sin f32 x = {x:e}");
        assert_eq!(c.to_array()[0].to_bits(), c1.to_bits(), "cos f32 x = {x:e}");
    }
    let mut ys = points64(-750.0, 750.0, 44);
    for c in [-708.0f64, 709.0, 0.625, 354.5, f64::MIN_POSITIVE, -1.0] {
        let o = ord64(c);
        ys.extend((o - (1 << 12)..o + (1 << 12)).map(unord64));
    }
    macro_rules! cmp64 {
        ($f:ident) => {
            for &y in &ys {
                let v = $f(f64x4::new([y, f64::NAN, 0.1, 5.0])).to_array();
                assert_eq!(v[0].to_bits(), $f(y).to_bits(), "{} f64 x = {:e}", stringify!($f), y);
            }
        };
    }
    all_fns!(cmp64);
    let mut ts = points64(-2e6, 2e6, 46);
    let o = ord64(1_647_099.329_165_285_5);
    ts.extend((o - (1 << 12)..o + (1 << 12)).map(unord64));
    for &y in &ts {
        let (s, c) = sin_cos(f64x4::new([y, f64::NAN, 0.1, 5.0]));
        let (s1, c1) = sin_cos(y);
        assert_eq!(s.to_array()[0].to_bits(), s1.to_bits(), "sin f64 x = {y:e}");
        assert_eq!(c.to_array()[0].to_bits(), c1.to_bits(), "cos f64 x = {y:e}");
    }
}

#[test]
fn nan_lane_leaves_other_lanes_alone() {
    let base = [0.3f32, -2.0, 50.0, 1e-20, -0.0, 7.5, -88.0, 3.0];
    for lane in 0..8 {
        let mut with_nan = base;
        with_nan[lane] = f32::NAN;
        macro_rules! chk {
            ($f:ident) => {
                let v = $f(f32x8::new(with_nan)).to_array();
                for (i, (&vi, &bi)) in v.iter().zip(base.iter()).enumerate() {
                    if i == lane {
                        assert!(vi.is_nan(), "{} NaN lane", stringify!($f));
                    } else {
                        assert_eq!(vi.to_bits(), $f(bi).to_bits(), "{}", stringify!($f));
                    }
                }
            };
        }
        all_fns!(chk);
        let (s, c) = sin_cos(f32x8::new(with_nan));
        for (i, &xi) in with_nan.iter().enumerate() {
            let (s1, c1) = sin_cos(xi);
            assert_eq!(s.to_array()[i].to_bits(), s1.to_bits());
            assert_eq!(c.to_array()[i].to_bits(), c1.to_bits());
        }
    }
}

/// Error of `got` in ulps of the exact value `hi + lo` (subnormal results in units of `2^−1074`).
fn ulps_exact64(got: f64, hi: f64, lo: f64) -> f64 {
    if got.is_nan() || got.is_infinite() {
        return if got == hi { 0.0 } else { f64::INFINITY };
    }
    let e = (((hi.to_bits() >> 52) & 0x7ff) as i32 - 1023).clamp(-1022, 1023);
    ((got - hi) - lo).abs() / pow2_f64(e - 52)
}

/// 2^k for `−1074 ≤ k ≤ 1023`, from bits (`powi` loses the subnormal powers).
fn pow2_f64(k: i32) -> f64 {
    if k >= -1022 {
        f64::from_bits(((k + 1023) as u64) << 52)
    } else {
        f64::from_bits(1u64 << (k + 1074))
    }
}

/// A function, its exact-value table, the kernel and the ulp budget.
type ExactCase = (&'static str, &'static [[u64; 3]], fn(f64) -> f64, f64);

#[test]
fn f64_lanes_against_exact_values() {
    use super::reference_f64 as r;
    // The same budgets as for f32 lanes, now in fractional ulps of the exact (300-bit) value.
    let cases: [ExactCase; 9] = [
        ("exp", &r::EXP, exp, 1.0),
        ("expm1", &r::EXPM1, expm1, 2.0),
        ("ln", &r::LN, ln, 1.0),
        ("ln_1p", &r::LN_1P, ln_1p, 2.0),
        ("tanh", &r::TANH, tanh, 2.0),
        ("softplus", &r::SOFTPLUS, softplus, 2.0),
        ("sigmoid", &r::SIGMOID, sigmoid, 2.0),
        ("sin", &r::SIN, |x| sin_cos(x).0, 2.0),
        ("cos", &r::COS, |x| sin_cos(x).1, 2.0),
    ];
    for (name, table, f, budget) in cases {
        let mut worst = (0.0f64, 0.0f64);
        for row in table {
            let x = f64::from_bits(row[0]);
            let err = ulps_exact64(f(x), f64::from_bits(row[1]), f64::from_bits(row[2]));
            if err > worst.0 {
                worst = (err, x);
            }
        }
        std::println!(
            "{name} f64 vs exact: max {:.3} ulp at x = {:e} over {} points",
            worst.0,
            worst.1,
            table.len()
        );
        assert!(worst.0 <= budget, "{name}: {} ulp at x = {:e}", worst.0, worst.1);
    }
}
