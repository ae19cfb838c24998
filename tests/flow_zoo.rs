//! The flow zoo's invariants: inverse ∘ forward = id, log-det = log|det| of a finite-difference
//! Jacobian (f64), 2-D densities that integrate to 1 on a grid (f64), MAF's one-pass density
//! equal to its D-pass sampler's, scalar f32 and f32x8 bit-identical, constructors that reject
//! bad parameters.
//!
//! Measured on the configurations below (f64; run with `--nocapture` to print them):
//! - round trip |z − f⁻¹(f(z))|/(1 + |z|) ≤ 1.8e-15, splines ≤ 1.2e-13 (spline coupling);
//!   |log-det forward + log-det inverse| ≤ 4.4e-16, splines ≤ 9.3e-14;
//! - log-det vs finite differences ≤ 4.6e-9, splines ≤ 5.5e-8 (the reference's own error);
//! - |∫p − 1| on the grid: ≤ 1.4e-4 per layer (affine coupling), 3.4e-4 for the elementwise
//!   spline; stacks: RealNVP 5e-7, MAF < 1e-7, spline 4.1e-4.

// Matrix and Jacobian checks read most clearly with explicit indices.
#![allow(clippy::needless_range_loop)]

use flowscore::Error;
use flowscore::dist::StandardNormal;
use flowscore::flow::actnorm::ActNorm;
use flowscore::flow::coupling::{AdditiveCoupling, AffineCoupling, BinaryMask, DiagonalScaling};
use flowscore::flow::lu::LuLinear;
use flowscore::flow::maf::Maf;
use flowscore::flow::permute::Permutation;
use flowscore::flow::spline::{RationalQuadraticSpline, SplineCoupling, SplineElementwise};
use flowscore::flow::{Bijector, Flow};
use flowscore::nn::{Activation, Dense, Mlp1, Mlp2};
use flowscore::rng::{LaneSource, Streams};
use wide::f32x8;

// ---------------------------------------------------------------------------------------------
// Helpers

/// A deterministic source of N(0, 1) draws as `f32`.
struct Draws(Streams<f32>);

impl Draws {
    fn new(seed: u64) -> Self {
        Self(Streams::new(seed, 0))
    }
    fn normal(&mut self) -> f32 {
        self.0.normal()
    }
    fn uniform(&mut self) -> f32 {
        self.0.uniform()
    }
    fn array<const N: usize>(&mut self, std: f32) -> [f32; N] {
        core::array::from_fn(|_| std * self.normal())
    }
}

fn dense<const I: usize, const O: usize>(r: &mut Draws, std: f32) -> Dense<I, O> {
    let w = core::array::from_fn(|_| r.array::<I>(std));
    Dense::from_params(w, r.array::<O>(std)).unwrap()
}

fn mlp1<const I: usize, const H: usize, const O: usize>(seed: u64, std: f32) -> Mlp1<I, H, O> {
    let r = &mut Draws::new(seed);
    Mlp1::from_layers(Activation::Tanh, dense(r, std), dense(r, std))
}

fn mlp2<const I: usize, const H: usize, const O: usize>(seed: u64, std: f32) -> Mlp2<I, H, O> {
    let r = &mut Draws::new(seed);
    Mlp2::from_layers(Activation::Tanh, dense(r, std), dense(r, std), dense(r, std))
}

/// `n` points with N(0, scale²) coordinates.
fn points<const D: usize>(seed: u64, n: usize, scale: f64) -> Vec<[f64; D]> {
    let r = &mut Draws::new(seed);
    (0..n).map(|_| core::array::from_fn(|_| scale * r.normal() as f64)).collect()
}

fn log_std_normal<const D: usize>(z: &[f64; D]) -> f64 {
    -0.5 * z.iter().map(|v| v * v).sum::<f64>()
        - 0.5 * D as f64 * (2.0 * core::f64::consts::PI).ln()
}

/// Max over `zs` of |z − f⁻¹(f(z))|∞ and |log|det ∂f| + log|det ∂f⁻¹||.
fn roundtrip_err<const D: usize, B: Bijector<D>>(b: &B, zs: &[[f64; D]]) -> (f64, f64) {
    let (mut ez, mut el) = (0.0f64, 0.0f64);
    for z in zs {
        let (x, lf) = b.forward(*z);
        let (z2, li) = b.inverse(x).unwrap();
        for i in 0..D {
            ez = ez.max((z2[i] - z[i]).abs() / (1.0 + z[i].abs()));
        }
        el = el.max((lf + li).abs());
        assert!(x.iter().all(|v| v.is_finite()) && lf.is_finite() && li.is_finite());
    }
    (ez, el)
}

/// log|det| of a D×D matrix by Gaussian elimination with partial pivoting.
fn log_abs_det<const D: usize>(mut a: [[f64; D]; D]) -> f64 {
    let mut acc = 0.0;
    for k in 0..D {
        let p = (k..D).max_by(|&i, &j| a[i][k].abs().total_cmp(&a[j][k].abs())).unwrap();
        a.swap(k, p);
        acc += a[k][k].abs().ln();
        for i in k + 1..D {
            let f = a[i][k] / a[k][k];
            for j in k..D {
                a[i][j] -= f * a[k][j];
            }
        }
    }
    acc
}

/// Finite-difference Jacobian of `f` at `z`: central differences with steps h and h/2 combined
/// by Richardson extrapolation, (4·D(h/2) − D(h))/3, truncation error O(h⁴) instead of O(h²).
/// h = 2e-6 keeps the rounding error near ε/h ≈ 1e-10 and rarely puts a spline knot (where
/// only the first derivative is continuous, so differences across it are O(h)) inside the
/// stencil. (Plain central differences with h = 1e-5 were off by up to 4e-6 in log-det on the
/// spline coupling, whose second derivative varies fast in narrow bins; that error shrank as h²
/// when h was reduced, i.e. it belonged to the reference; with h = 1e-4 and extrapolation,
/// stencils straddling knots in the 4-layer spline stack were off by 2e-2.)
fn fd_jacobian<const D: usize>(f: impl Fn([f64; D]) -> [f64; D], z: [f64; D]) -> [[f64; D]; D] {
    const H: f64 = 2e-6;
    let central = |h: f64| {
        let mut j = [[0.0; D]; D];
        for c in 0..D {
            let (mut zp, mut zm) = (z, z);
            zp[c] += h;
            zm[c] -= h;
            let (fp, fm) = (f(zp), f(zm));
            for r in 0..D {
                j[r][c] = (fp[r] - fm[r]) / (2.0 * h);
            }
        }
        j
    };
    let (a, b) = (central(H), central(H / 2.0));
    core::array::from_fn(|r| core::array::from_fn(|c| (4.0 * b[r][c] - a[r][c]) / 3.0))
}

/// Max over `zs` of |log-det − log|det J_fd||, forward at z and inverse at f(z).
fn fd_err<const D: usize, B: Bijector<D>>(b: &B, zs: &[[f64; D]]) -> f64 {
    let mut e = 0.0f64;
    for z in zs {
        let (x, lf) = b.forward(*z);
        let jf = fd_jacobian(|v| b.forward(v).0, *z);
        e = e.max((lf - log_abs_det(jf)).abs());
        let (_, li) = b.inverse(x).unwrap();
        let ji = fd_jacobian(|v| b.inverse(v).unwrap().0, x);
        e = e.max((li - log_abs_det(ji)).abs());
    }
    e
}

/// Grid half-width and cells per side for the density integrals: cells of 0.02 on [−12, 12]².
const GRID_HALF_WIDTH: f64 = 12.0;
const GRID_CELLS: usize = 1200;
/// Standard deviation of the random conditioner weights in the 2-D density tests: large enough
/// for log-scales of ±1 and shifts of ±1 across the plane, small enough that the density's mass
/// outside the grid stays far below the tolerance.
const COND_STD_2D: f32 = 0.4;
/// The same for the MADE's two hidden layers, whose outputs vary more: at 0.4 a MAF layer
/// (seed 8) scales x₁ by up to e^1.7 and puts 3.6 % of its mass outside [−12, 12]² (measured:
/// the mass on [−30, 30]² is 0.99999).
const MAF_STD_2D: f32 = 0.25;
/// Standard deviation of the random spline conditioner weights: raw outputs of std ≈ 1.5 give
/// bins from near the minimum width to several times the mean, derivatives from ≈ 0.1 to ≈ 5.
/// (At 1.0 the splines get bins of width ≈ 0.006 with derivative ratios ≈ 10³, where a central
/// difference with step 1e-5 across a knot is off by up to 0.1 in log-det: the reference, not
/// the layer, fails.)
const SPLINE_COND_STD: f32 = 0.5;
/// The same for the 2-D spline density tests, whose grid (cells of 0.02) must resolve the
/// density: at 0.5 some conditionals have spikes narrower than a cell (measured: the mass of the
/// conditional at x₀ = 2.5 is 1.39 / 0.86 / 0.98 with 1200 / 12000 / 120000 cells, so the grid,
/// not the layer, was off), at 0.25 bin sizes vary by ≈ e^{±1.5}.
const SPLINE_STD_2D: f32 = 0.25;
/// The bound on |∫p − 1|.
const MASS_TOL: f64 = 1e-3;

/// ∫ p over the grid (midpoint rule), p(x) = N(f⁻¹(x)) · |det ∂f⁻¹/∂x|.
fn mass_2d<B: Bijector<2>>(b: &B) -> f64 {
    let h = 2.0 * GRID_HALF_WIDTH / GRID_CELLS as f64;
    let mut sum = 0.0;
    for i in 0..GRID_CELLS {
        let x0 = -GRID_HALF_WIDTH + (i as f64 + 0.5) * h;
        for j in 0..GRID_CELLS {
            let x1 = -GRID_HALF_WIDTH + (j as f64 + 0.5) * h;
            let (z, ld) = b.inverse([x0, x1]).unwrap();
            sum += (log_std_normal(&z) + ld).exp();
        }
    }
    sum * h * h
}

/// Forward and inverse on 8 points: scalar f32 per point vs one f32x8, bit for bit.
fn assert_lanes_bitwise<const D: usize, B: Bijector<D>>(b: &B, pts: &[[f32; D]; 8]) {
    let wide: [f32x8; D] = core::array::from_fn(|i| f32x8::from(pts.map(|p| p[i])));
    let (xw, lw) = b.forward(wide);
    let (zw, liw) = b.inverse(wide).unwrap();
    for (j, p) in pts.iter().enumerate() {
        let (xs, ls) = b.forward(*p);
        let (zs, lis) = b.inverse(*p).unwrap();
        for i in 0..D {
            assert_eq!(xs[i].to_bits(), xw[i].to_array()[j].to_bits(), "forward lane {j}");
            assert_eq!(zs[i].to_bits(), zw[i].to_array()[j].to_bits(), "inverse lane {j}");
        }
        assert_eq!(ls.to_bits(), lw.to_array()[j].to_bits(), "forward log-det lane {j}");
        assert_eq!(lis.to_bits(), liw.to_array()[j].to_bits(), "inverse log-det lane {j}");
    }
}

fn f32_points<const D: usize>(seed: u64, scale: f32) -> [[f32; D]; 8] {
    let r = &mut Draws::new(seed);
    core::array::from_fn(|_| r.array::<D>(scale))
}

/// Round-trip tolerance (relative) for layers with closed-form inverses: a few f64 ulps times
/// the layer's condition number, which stays below 10⁴ for the scales used here.
const ROUNDTRIP_TOL: f64 = 1e-12;
/// Round-trip tolerance for splines: the inverse's error is ≈ ε/g′ and g′ can be as small as
/// SPLINE_MIN_DERIVATIVE-scaled slopes (≈ 1e-3), so up to ~10⁶ ulps.
const SPLINE_ROUNDTRIP_TOL: f64 = 1e-9;

/// The standard battery for one layer: round trip, finite-difference log-det, lane bits.
fn battery<const D: usize, B: Bijector<D>>(name: &str, b: &B, scale: f64) {
    battery_tol(name, b, scale, ROUNDTRIP_TOL)
}

fn battery_tol<const D: usize, B: Bijector<D>>(name: &str, b: &B, scale: f64, tol: f64) {
    let zs = points::<D>(11, 200, scale);
    let (ez, el) = roundtrip_err(b, &zs);
    let efd = fd_err(b, &zs[..50]);
    println!("{name}: round trip {ez:.1e}, log-det sum {el:.1e}, fd {efd:.1e}");
    assert!(ez < tol, "{name}: round trip {ez}");
    assert!(el < tol, "{name}: log-dets {el}");
    assert!(efd < 1e-7, "{name}: log-det vs finite differences {efd}");
    assert_lanes_bitwise(b, &f32_points::<D>(12, scale as f32));
}

fn check_mass<B: Bijector<2>>(name: &str, b: &B) {
    let m = mass_2d(b);
    println!("{name}: mass {m:.7}");
    assert!((m - 1.0).abs() < MASS_TOL, "{name}: ∫p = {m}");
}

// ---------------------------------------------------------------------------------------------
// Layers

fn mask3() -> BinaryMask<3> {
    BinaryMask::new([true, false, true]).unwrap()
}

fn additive3() -> AdditiveCoupling<3, 1, Mlp1<3, 8, 1>> {
    AdditiveCoupling::new(mask3(), mlp1(1, 0.8)).unwrap()
}

fn affine3() -> AffineCoupling<3, 4, Mlp1<3, 8, 4>> {
    let mask = BinaryMask::new([false, true, false]).unwrap();
    AffineCoupling::new(mask, mlp1(2, 0.8)).unwrap()
}

fn lu3() -> LuLinear<3> {
    LuLinear::from_params(
        [2, 0, 1],
        [[0.0, 0.0, 0.0], [0.7, 0.0, 0.0], [-0.4, 1.3, 0.0]],
        [[0.0, 0.5, -1.1], [0.0, 0.0, 0.3], [0.0, 0.0, 0.0]],
        [1.5, -0.6, 0.9],
    )
    .unwrap()
}

/// A spline through random knots: bin widths and heights uniform in [0.2, 1.2] scaled to
/// [−B, B], interior derivatives in [0.3, 3].
fn random_spline<const K: usize>(seed: u64, bound: f32) -> RationalQuadraticSpline<K> {
    let r = &mut Draws::new(seed);
    let knots = |r: &mut Draws| {
        let w: Vec<f64> = (0..K).map(|_| 0.2 + r.uniform() as f64).collect();
        let total: f64 = w.iter().sum();
        let mut acc = 0.0;
        let mut v = vec![-bound];
        for wk in &w[..K - 1] {
            acc += wk;
            v.push((-(bound as f64) + 2.0 * bound as f64 * acc / total) as f32);
        }
        v.push(bound);
        v
    };
    let xs = knots(r);
    let ys = knots(r);
    let mut ds = vec![1.0f32];
    ds.extend((0..K - 1).map(|_| 0.3 + 2.7 * r.uniform()));
    ds.push(1.0);
    RationalQuadraticSpline::from_knots(&xs, &ys, &ds).unwrap()
}

type SplineCoupling3 = SplineCoupling<3, 8, 46, Mlp1<3, 16, 46>>;

fn spline_coupling3() -> SplineCoupling3 {
    let mask = BinaryMask::new([false, true, false]).unwrap();
    SplineCoupling::new(mask, 3.0, mlp1(5, SPLINE_COND_STD)).unwrap()
}

#[test]
fn additive_coupling() {
    battery("additive", &additive3(), 1.5);
    let b = AdditiveCoupling::<2, 1, _>::new(
        BinaryMask::alternating(0).unwrap(),
        mlp1::<2, 8, 1>(21, COND_STD_2D),
    )
    .unwrap();
    check_mass("additive 2-D", &b);
}

#[test]
fn affine_coupling() {
    battery("affine", &affine3(), 1.5);
    let b = AffineCoupling::<2, 2, _>::new(
        BinaryMask::alternating(1).unwrap(),
        mlp1::<2, 8, 2>(22, COND_STD_2D),
    )
    .unwrap();
    check_mass("affine 2-D", &b);
}

#[test]
fn affine_log_scale_is_bounded() {
    // Raw log-scales of ±1e4 (output bias) must give scales e^{±3} exactly at the bound, finite.
    for sign in [1.0f32, -1.0] {
        let net = Mlp1::from_layers(
            Activation::Tanh,
            Dense::<2, 1>::from_params([[0.0, 0.0]], [0.0]).unwrap(),
            Dense::<1, 2>::from_params([[0.0], [0.0]], [sign * 1e4, 0.0]).unwrap(),
        );
        let b = AffineCoupling::<2, 2, _>::new(BinaryMask::alternating(0).unwrap(), net).unwrap();
        let (x, ld) = b.forward([0.5f64, 2.0]);
        assert_eq!(ld, sign as f64 * flowscore::flow::coupling::LOG_SCALE_BOUND);
        assert!((x[1] - 2.0 * (sign as f64 * 3.0).exp()).abs() < 1e-12);
    }
}

#[test]
fn diagonal_scaling() {
    let b = DiagonalScaling::new([0.4f32, -0.9, 1.3]).unwrap();
    battery("diagonal scaling", &b, 1.5);
    check_mass("diagonal scaling 2-D", &DiagonalScaling::new([0.4f32, -0.9]).unwrap());
}

#[test]
fn actnorm() {
    let b = ActNorm::new([0.3f32, -1.2, 0.8], [0.5, -0.7, 0.2]).unwrap();
    battery("actnorm", &b, 1.5);
    check_mass("actnorm 2-D", &ActNorm::new([0.3f32, -1.2], [0.5, -0.7]).unwrap());
}

#[test]
fn actnorm_data_init_standardises_the_batch() {
    let r = &mut Draws::new(31);
    let batch: Vec<[f32; 2]> =
        (0..4000).map(|_| [3.0 + 0.5 * r.normal(), -7.0 + 4.0 * r.normal()]).collect();
    let a = ActNorm::init_from_data(&batch).unwrap();
    let zs: Vec<[f64; 2]> =
        batch.iter().map(|x| a.inverse([x[0] as f64, x[1] as f64]).unwrap().0).collect();
    for i in 0..2 {
        let m = zs.iter().map(|z| z[i]).sum::<f64>() / zs.len() as f64;
        let v = zs.iter().map(|z| (z[i] - m).powi(2)).sum::<f64>() / zs.len() as f64;
        // Exact up to the f32 rounding of μ and ℓ.
        assert!(m.abs() < 1e-5 && (v - 1.0).abs() < 1e-5, "coordinate {i}: mean {m}, var {v}");
    }
}

#[test]
fn lu_linear() {
    battery("lu", &lu3(), 1.5);
    let b = LuLinear::from_params(
        [1, 0],
        [[0.0, 0.0], [0.8, 0.0]],
        [[0.0, -0.5], [0.0, 0.0]],
        [1.4, -0.7],
    )
    .unwrap();
    check_mass("lu 2-D", &b);
}

#[test]
fn lu_random_rotation_is_orthogonal() {
    let b = LuLinear::<4>::random_rotation(5).unwrap();
    battery("lu rotation", &b, 1.5);
    // Columns of W = images of the unit vectors.
    let cols: [[f64; 4]; 4] = core::array::from_fn(|j| {
        b.forward(core::array::from_fn(|i| if i == j { 1.0 } else { 0.0 })).0
    });
    for a in 0..4 {
        for c in 0..4 {
            let dot: f64 = (0..4).map(|i| cols[a][i] * cols[c][i]).sum();
            let want = if a == c { 1.0 } else { 0.0 };
            // f32 factors: WᵀW = I to a few f32 ulps.
            assert!((dot - want).abs() < 1e-6, "WᵀW[{a}][{c}] = {dot}");
        }
    }
    assert!(b.forward([0.0f64; 4]).1.abs() < 1e-6);
    assert_ne!(
        LuLinear::<4>::random_rotation(5).unwrap(),
        LuLinear::<4>::random_rotation(6).unwrap()
    );
}

#[test]
fn permutations() {
    let rev = Permutation::<5>::reverse();
    assert_eq!(rev.forward([1.0f64, 2.0, 3.0, 4.0, 5.0]).0, [5.0, 4.0, 3.0, 2.0, 1.0]);
    let p = Permutation::<5>::seeded(3);
    assert_eq!(p, Permutation::<5>::seeded(3));
    let mut sorted = *p.indices();
    sorted.sort();
    assert_eq!(sorted, [0, 1, 2, 3, 4]);
    let (x, _) = p.forward([10.0f64, 11.0, 12.0, 13.0, 14.0]);
    for i in 0..5 {
        assert_eq!(x[i], 10.0 + p.indices()[i] as f64);
    }
    battery("reverse", &rev, 1.5);
    battery("seeded permutation", &p, 1.5);
    check_mass("reverse 2-D", &Permutation::<2>::reverse());
}

#[test]
fn maf() {
    let b = Maf::<3, 16, 6>::new(mlp2(7, 0.6));
    battery("maf", &b, 1.5);
    check_mass("maf 2-D", &Maf::<2, 16, 4>::new(mlp2(8, MAF_STD_2D)));
}

#[test]
fn maf_is_autoregressive_and_one_pass_density_equals_sampler() {
    let b = Maf::<4, 16, 8>::new(mlp2(9, 0.6));
    for z in points::<4>(13, 100, 1.0) {
        // D-pass sampler: x and log|det ∂x/∂z|.
        let (x, ld_f) = b.forward(z);
        let lp_sampler = log_std_normal(&z) - ld_f;
        // One-pass density.
        let (z2, ld_i) = b.inverse(x).unwrap();
        let lp_density = log_std_normal(&z2) + ld_i;
        assert!((lp_sampler - lp_density).abs() < 1e-12, "{lp_sampler} vs {lp_density}");
        // ∂zᵢ/∂xⱼ = 0 for j > i: the inverse Jacobian is lower triangular with diagonal e^{−αᵢ}.
        let j = fd_jacobian(|v| b.inverse(v).unwrap().0, x);
        for r in 0..4 {
            for c in r + 1..4 {
                assert_eq!(j[r][c], 0.0, "∂z{r}/∂x{c}");
            }
        }
    }
}

#[test]
fn spline_elementwise() {
    let b = SplineElementwise::new([
        random_spline::<6>(1, 3.0),
        random_spline(2, 3.0),
        random_spline(3, 2.0),
    ]);
    battery_tol("spline elementwise", &b, 2.0, SPLINE_ROUNDTRIP_TOL);
    check_mass(
        "spline elementwise 2-D",
        &SplineElementwise::new([random_spline::<6>(4, 3.0), random_spline(5, 3.0)]),
    );
}

#[test]
fn spline_coupling() {
    battery_tol("spline coupling", &spline_coupling3(), 2.0, SPLINE_ROUNDTRIP_TOL);
    let b = SplineCoupling::<2, 8, 23, _>::new(
        BinaryMask::alternating(0).unwrap(),
        3.0,
        mlp1::<2, 16, 23>(6, SPLINE_STD_2D),
    )
    .unwrap();
    check_mass("spline coupling 2-D", &b);
}

#[test]
fn spline_interpolates_knots_and_is_finite_everywhere() {
    const K: usize = 5;
    let bound = 2.5f32;
    let s = random_spline::<K>(8, bound);
    // Rebuild the knots the same way as `random_spline` to test against them.
    let r = &mut Draws::new(8);
    let knots = |r: &mut Draws| {
        let w: Vec<f64> = (0..K).map(|_| 0.2 + r.uniform() as f64).collect();
        let total: f64 = w.iter().sum();
        let mut acc = 0.0;
        let mut v = vec![-bound];
        for wk in &w[..K - 1] {
            acc += wk;
            v.push((-(bound as f64) + 2.0 * bound as f64 * acc / total) as f32);
        }
        v.push(bound);
        v
    };
    let xs = knots(r);
    let ys = knots(r);
    let mut ds = vec![1.0f32];
    ds.extend((0..K - 1).map(|_| 0.3 + 2.7 * r.uniform()));
    ds.push(1.0);
    for k in 0..=K {
        // On a knot: g(x_k) = y_k exactly, log g'(x_k) = ln δ_k; the inverse maps y_k to x_k.
        let (y, ld) = s.forward(xs[k] as f64);
        assert_eq!(y, ys[k] as f64, "knot {k}");
        assert!((ld - (ds[k] as f64).ln()).abs() < 1e-14, "knot {k}: {ld}");
        let (x, li) = s.inverse(ys[k] as f64);
        assert!((x - xs[k] as f64).abs() < 1e-14, "knot {k}: {x}");
        assert!((li + (ds[k] as f64).ln()).abs() < 1e-14);
        // Round trips from the knots in both directions, in f32 and f64.
        let (y32, l32) = s.forward(xs[k]);
        let (x32, li32) = s.inverse(y32);
        assert!((x32 - xs[k]).abs() <= 1e-6 * (1.0 + xs[k].abs()) && (l32 + li32).abs() < 1e-6);
        let (x64, _) = s.inverse(ys[k] as f64);
        assert!((s.forward(x64).0 - ys[k] as f64).abs() < 1e-14);
    }
    // Far outside, at ±10·B and beyond: the identity with log-det 0.
    for v in [-10.0 * bound, 10.0 * bound, -1e30, 1e30, f32::MAX, -f32::MAX] {
        assert_eq!(s.forward(v), (v, 0.0));
        assert_eq!(s.inverse(v), (v, 0.0));
    }
    assert_eq!(s.forward(f32::INFINITY), (f32::INFINITY, 0.0));
    assert_eq!(s.inverse(f32::NEG_INFINITY), (f32::NEG_INFINITY, 0.0));
    // A NaN lane stays NaN and leaves the other lanes untouched.
    let mut lanes = [0.3f32, -1.0, 7.0, f32::NAN, 2.5, -2.5, 0.0, 1e20];
    let w = s.forward(f32x8::from(lanes));
    for (j, &v) in lanes.iter().enumerate() {
        let (y, ld) = s.forward(v);
        assert_eq!(y.to_bits(), w.0.to_array()[j].to_bits());
        assert_eq!(ld.to_bits(), w.1.to_array()[j].to_bits());
    }
    assert!(w.0.to_array()[3].is_nan() && w.1.to_array()[3].is_nan());
    lanes[3] = 0.0;
    assert!(s.forward(f32x8::from(lanes)).0.to_array().iter().all(|v| v.is_finite()));
}

#[test]
fn spline_coupling_far_outside_and_on_the_bound() {
    let b = spline_coupling3();
    let big = 30.0; // 10·B
    let pts: [[f64; 3]; 6] = [
        [big, big, -big],
        [-big, 0.3, big],
        [3.0, -3.0, 3.0],
        [-3.0, 1.0, -3.0],
        [0.0, 0.0, 0.0],
        [1e10, -1e10, 2.9999999],
    ];
    for z in pts {
        let (x, ld) = b.forward(z);
        assert!(x.iter().all(|v| v.is_finite()) && ld.is_finite());
        let (z2, li) = b.inverse(x).unwrap();
        for i in 0..3 {
            assert!(
                (z2[i] - z[i]).abs() <= SPLINE_ROUNDTRIP_TOL * (1.0 + z[i].abs()),
                "{z:?} → {z2:?}"
            );
        }
        assert!((ld + li).abs() < SPLINE_ROUNDTRIP_TOL);
        // Transformed coordinates outside [−B, B] pass unchanged.
        for i in [0, 2] {
            if z[i].abs() > 3.0 {
                assert_eq!(x[i], z[i]);
            }
        }
    }
    let f: [[f32; 3]; 8] = [
        [30.0, 1.0, -30.0],
        [3.0, -3.0, -3.0],
        [0.0; 3],
        [1e30, 0.5, f32::MAX],
        [-2.9, 2.9, 0.1],
        [1.0, -1.0, 2.0],
        [-1.5, 0.5, -0.25],
        [2.999, 0.0, -2.999],
    ];
    assert_lanes_bitwise(&b, &f);
}

// ---------------------------------------------------------------------------------------------
// Stacks

type Coupling2 = AffineCoupling<2, 2, Mlp1<2, 8, 2>>;

fn coupling2(seed: u64, parity: usize) -> Coupling2 {
    AffineCoupling::new(BinaryMask::alternating(parity).unwrap(), mlp1(seed, COND_STD_2D)).unwrap()
}

/// ActNorm → coupling → reverse → coupling → LU → coupling → permutation → coupling → ActNorm,
/// composed as nested tuples (no heap).
#[allow(clippy::type_complexity)]
fn realnvp_stack() -> impl Bijector<2> {
    (
        (
            ActNorm::new([0.2f32, -0.3], [0.1, -0.2]).unwrap(),
            coupling2(41, 0),
            Permutation::<2>::reverse(),
            coupling2(42, 0),
        ),
        (
            LuLinear::<2>::random_rotation(43).unwrap(),
            coupling2(44, 1),
            Permutation::<2>::seeded(45),
            coupling2(46, 0),
            ActNorm::new([-0.1f32, 0.4], [0.3, 0.05]).unwrap(),
        ),
    )
}

/// MAF → reverse → MAF → ActNorm.
fn maf_stack() -> impl Bijector<2> {
    (
        Maf::<2, 16, 4>::new(mlp2(51, MAF_STD_2D)),
        Permutation::<2>::reverse(),
        Maf::<2, 16, 4>::new(mlp2(52, MAF_STD_2D)),
        ActNorm::new([0.1f32, 0.2], [-0.2, 0.1]).unwrap(),
    )
}

/// Four spline couplings with alternating masks, as an array `[_; 4]`.
fn spline_stack() -> impl Bijector<2> {
    let layer = |seed, parity| {
        SplineCoupling::<2, 8, 23, _>::new(
            BinaryMask::alternating(parity).unwrap(),
            3.0,
            mlp1::<2, 16, 23>(seed, SPLINE_STD_2D),
        )
        .unwrap()
    };
    [layer(61, 0), layer(62, 1), layer(63, 0), layer(64, 1)]
}

/// `Flow::log_prob_batch` (f32x8 chunks + f32 tail) equals the scalar `Flow::log_prob` bit for
/// bit, and the f64 log-density equals log N(f⁻¹(x)) + log|det ∂f⁻¹/∂x| computed here.
fn check_flow<B: Bijector<2>>(b: B) {
    let flow = Flow::new(StandardNormal, b);
    let xs: Vec<[f32; 2]> =
        points::<2>(71, 21, 1.5).iter().map(|p| [p[0] as f32, p[1] as f32]).collect();
    let mut out = vec![0.0f32; xs.len()];
    flow.log_prob_batch(&xs, &mut out).unwrap();
    for (x, lp) in xs.iter().zip(out.iter()) {
        assert_eq!(flow.log_prob(*x).unwrap().to_bits(), lp.to_bits());
        let x64 = [x[0] as f64, x[1] as f64];
        let (z, ld) = flow.bijector.inverse(x64).unwrap();
        let want = log_std_normal(&z) + ld;
        assert!((flow.log_prob(x64).unwrap() - want).abs() < 1e-13);
    }
}

#[test]
fn realnvp_stack_invariants() {
    let b = realnvp_stack();
    battery("realnvp stack", &b, 1.5);
    check_mass("realnvp stack", &b);
    check_flow(b);
}

#[test]
fn maf_stack_invariants() {
    let b = maf_stack();
    battery("maf stack", &b, 1.5);
    check_mass("maf stack", &b);
    check_flow(b);
}

#[test]
fn spline_stack_invariants() {
    let b = spline_stack();
    battery_tol("spline stack", &b, 2.0, SPLINE_ROUNDTRIP_TOL);
    check_mass("spline stack", &b);
    let zs: Vec<[f64; 2]> = vec![[30.0, -30.0], [-30.0, 0.5], [3.0, 3.0], [-3.0, 3.0], [1e8, 1e-8]];
    let (ez, el) = roundtrip_err(&b, &zs);
    assert!(ez < SPLINE_ROUNDTRIP_TOL && el < SPLINE_ROUNDTRIP_TOL, "{ez} {el}");
    check_flow(b);
}

// ---------------------------------------------------------------------------------------------
// Constructors reject bad parameters

fn invalid<T: core::fmt::Debug>(r: Result<T, Error>, name: &str) {
    match r {
        Err(Error::InvalidParameter { name: n, .. }) => assert_eq!(n, name),
        other => panic!("expected InvalidParameter({name}), got {other:?}"),
    }
}

#[test]
fn constructors_reject_bad_parameters() {
    // Masks.
    invalid(BinaryMask::new([true, true, true]), "mask");
    invalid(BinaryMask::new([false, false]), "mask");
    invalid(BinaryMask::<1>::alternating(0), "mask");
    // The mask transforms 2 coordinates, the conditioner serves 1 (affine: O = 2T).
    let two = BinaryMask::new([false, true, false]).unwrap();
    invalid(AffineCoupling::<3, 2, _>::new(two, mlp1::<3, 4, 2>(1, 1.0)), "mask");
    invalid(AdditiveCoupling::<3, 1, _>::new(two, mlp1::<3, 4, 1>(1, 1.0)), "mask");
    invalid(SplineCoupling::<3, 4, 11, _>::new(two, 3.0, mlp1::<3, 4, 11>(1, 1.0)), "mask");
    let one = BinaryMask::alternating(0).unwrap();
    invalid(SplineCoupling::<2, 4, 11, _>::new(one, 0.0, mlp1::<2, 4, 11>(1, 1.0)), "bound");
    assert_eq!(
        SplineCoupling::<2, 4, 11, _>::new(one, f32::NAN, mlp1::<2, 4, 11>(1, 1.0)).unwrap_err(),
        Error::NonFinite("bound")
    );
    // Scalings.
    assert_eq!(
        DiagonalScaling::new([0.0f32, f32::NAN]).unwrap_err(),
        Error::NonFinite("log_scale")
    );
    invalid(DiagonalScaling::new([0.0f32, 100.0]), "log_scale");
    assert_eq!(ActNorm::new([f32::INFINITY], [0.0]).unwrap_err(), Error::NonFinite("shift"));
    assert_eq!(ActNorm::new([0.0], [f32::NAN]).unwrap_err(), Error::NonFinite("log_scale"));
    invalid(ActNorm::new([0.0], [90.0]), "log_scale");
    invalid(ActNorm::<2>::init_from_data(&[]), "batch");
    assert_eq!(ActNorm::init_from_data(&[[0.0, f32::NAN]]).unwrap_err(), Error::NonFinite("batch"));
    // LU.
    let z = [[0.0f32; 2]; 2];
    invalid(LuLinear::from_params([0, 1], z, z, [1.0, 0.0]), "diag");
    invalid(LuLinear::from_params([0, 1], [[0.0, 0.5], [0.0, 0.0]], z, [1.0, 1.0]), "lower");
    invalid(LuLinear::from_params([0, 1], [[1.0, 0.0], [0.0, 0.0]], z, [1.0, 1.0]), "lower");
    invalid(LuLinear::from_params([0, 1], z, [[0.0, 0.0], [0.5, 0.0]], [1.0, 1.0]), "upper");
    invalid(LuLinear::from_params([0, 0], z, z, [1.0, 1.0]), "perm");
    assert_eq!(
        LuLinear::from_params([0, 1], z, z, [1.0, f32::NAN]).unwrap_err(),
        Error::NonFinite("diag")
    );
    // Permutations.
    invalid(Permutation::new([0, 2]), "perm");
    invalid(Permutation::new([1, 1, 0]), "perm");
    // Splines: lengths, ends, knots, derivatives.
    let xs = [-2.0f32, -0.5, 0.5, 2.0];
    let ds = [1.0f32, 0.5, 2.0, 1.0];
    assert!(RationalQuadraticSpline::<3>::from_knots(&xs, &xs, &ds).is_ok());
    invalid(RationalQuadraticSpline::<3>::from_knots(&xs[..3], &xs, &ds), "knots");
    invalid(RationalQuadraticSpline::<3>::from_knots(&[-2.0, 0.5, -0.5, 2.0], &xs, &ds), "xs");
    invalid(RationalQuadraticSpline::<3>::from_knots(&[-2.0, 0.5, 0.5, 2.0], &xs, &ds), "xs");
    invalid(RationalQuadraticSpline::<3>::from_knots(&xs, &[-2.0, 1.0, 1.0, 2.0], &ds), "ys");
    invalid(RationalQuadraticSpline::<3>::from_knots(&xs, &xs, &[1.0, 0.0, 2.0, 1.0]), "ds");
    invalid(RationalQuadraticSpline::<3>::from_knots(&xs, &xs, &[1.0, -1.0, 2.0, 1.0]), "ds");
    invalid(RationalQuadraticSpline::<3>::from_knots(&xs, &xs, &[2.0, 1.0, 2.0, 1.0]), "ds");
    invalid(RationalQuadraticSpline::<3>::from_knots(&[-2.0, -0.5, 0.5, 3.0], &xs, &ds), "knots");
    invalid(RationalQuadraticSpline::<3>::from_knots(&[2.0, -0.5, 0.5, -2.0], &xs, &ds), "knots");
    assert_eq!(
        RationalQuadraticSpline::<3>::from_knots(&xs, &[-2.0, f32::NAN, 0.5, 2.0], &ds)
            .unwrap_err(),
        Error::NonFinite("ys")
    );
}
