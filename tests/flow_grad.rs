//! Gradients of the flow layers (MATH.md §7): every parameter of every trainable layer and of
//! composed stacks, in both directions each layer supports, against finite differences; input
//! cotangents against dual-number Jacobian-vector products; `f32` against `f32x8` lanes bit for
//! bit; the parameter round trip and the unconstrained parameterisation; and a Gaussian fitted by
//! maximum likelihood.
//!
//! ## How the finite differences reach 1e-6 relative
//! The parameters are `f32`, so a perturbation must be `f32`-representable, and a step of
//! ≈ 1e-4 would be rounded to a few significant bits. Instead the check is made exact in the
//! parameter space and smooth in the evaluation:
//! - the layer's parameters are first rounded to multiples of 2⁻¹² (a valid layer: the
//!   parameterisation is unconstrained) and the direction δ has entries that are multiples of
//!   2⁻⁸ in [−1, 1] (every coordinate axis, plus random directions); with the step h = 2⁻⁷ every
//!   perturbed parameter θ + jhδ, j ∈ {±1, ±2}, is an `f32` with ≤ 20 significant bits, i.e.
//!   exact (asserted), so the difference is taken exactly along δ;
//! - the model is evaluated on `f64` lanes, where every parameter-derived constant (2^ℓ, e^−ℓ,
//!   the planar û and wᵀû, the radial α and β) is held to ≈ 1e-15 (a sum of two `f32`s), so
//!   the loss L(θ) = ⟨a, out⟩ + c·logdet is smooth to ≈ 1e-16 relative;
//! - the derivative of L along δ is the 4-point Richardson stencil
//!   (−L(2h) + 8L(h) − 8L(−h) + L(−2h))/12h, truncation O(h⁴) ≈ 1e-9 relative at h = 2⁻⁷,
//!   rounding ≈ 1e-16/h ≈ 1e-14.
//!
//! It is compared with ⟨δ, θ̄⟩ from the backward (also in `f64`). The error measure is
//! |FD − ⟨δ, θ̄⟩| / max(|⟨δ, θ̄⟩|, 1e-6·Σ|δᵢθ̄ᵢ|, 1e-300): relative, except that a direction along
//! which L is flat (a masked MADE weight, whose gradient is exactly 0) is measured against the
//! gradient's scale instead of 0/0. Asserted ≤ 1e-6.
//!
//! Worst relative errors measured (run with `--nocapture` to print them), FD / ⟨u, Jv⟩:
//! - affine 2.6e-12 (inverse), 2.5e-11 (forward); ActNorm 2.2e-11, 3.6e-12; LU 5.4e-12,
//!   5.6e-12; diagonal scaling 8.1e-12, 4.6e-12; permutation exact (no parameters);
//!   affine+LU 1.4e-11, 7.4e-11; ActNorm+LU+permutation+affine 3.2e-11, 3.8e-11;
//! - additive coupling 2.8e-9, 2.7e-9; affine coupling 2.0e-9, 2.5e-10; MAF (inverse) 2.3e-9;
//!   RealNVP `[AffineCoupling; 4]` with `Mlp2` conditioners 3.5e-9, 5.7e-10; MAF+reverse+MAF
//!   7.1e-10;
//! - planar (forward) 9.5e-11, radial 7.6e-11, 10 planar layers 4.4e-10,
//!   affine+planar+radial+LU 1.3e-9;
//! - spline coupling 1.9e-8, 3.9e-8; `[SplineCoupling; 3]` 1.3e-7, 7.6e-7 (the spline is only
//!   C¹, so it uses a smaller step, h = 2⁻¹², where the FD's rounding noise ≈ 1e-16·|L|/h
//!   limits the smallest gradient components);
//! - ⟨u, Jv⟩ from the backward against `Dual<f64, 1>`: worst 2.5e-14 over all of the above
//!   (asserted ≤ 1e-12).
//!
//! The remaining FD error is the stencil's, not the backward's: it falls with the step until
//! the rounding noise takes over (RealNVP: 1.2e-6 at h = 2⁻⁹ with the 4-point stencil alone,
//! 1.9e-7 at 2⁻¹¹, 3.5e-9 with the extra Richardson step at 2⁻⁸).

#![allow(clippy::needless_range_loop)]

use flowscore::dist::StandardNormal;
use flowscore::dual::Dual;
use flowscore::flow::actnorm::ActNorm;
use flowscore::flow::coupling::{AdditiveCoupling, AffineCoupling, BinaryMask, DiagonalScaling};
use flowscore::flow::lu::LuLinear;
use flowscore::flow::maf::Maf;
use flowscore::flow::permute::Permutation;
use flowscore::flow::spline::SplineCoupling;
use flowscore::flow::{Affine, Bijector, Flow, Planar, Radial, TrainableForward, TrainableInverse};
use flowscore::nn::{Activation, Dense, Mlp1, Mlp2};
use flowscore::params::Params;
use flowscore::rng::{LaneSource, Streams};
use wide::f32x8;

// ---------------------------------------------------------------------------------------------
// Helpers

/// A deterministic source of draws.
struct Draws(Streams<f32>);

impl Draws {
    fn new(seed: u64) -> Self {
        Self(Streams::new(seed, 0))
    }
    fn normal(&mut self) -> f64 {
        self.0.normal() as f64
    }
    fn array<const N: usize>(&mut self, std: f64) -> [f32; N] {
        core::array::from_fn(|_| (std * self.normal()) as f32)
    }
    fn point<const D: usize>(&mut self, std: f64) -> [f64; D] {
        core::array::from_fn(|_| std * self.normal())
    }
}

fn dense<const I: usize, const O: usize>(r: &mut Draws, std: f64) -> Dense<I, O> {
    let w = core::array::from_fn(|_| r.array::<I>(std));
    Dense::from_params(w, r.array::<O>(std)).unwrap()
}

fn mlp1<const I: usize, const H: usize, const O: usize>(seed: u64, std: f64) -> Mlp1<I, H, O> {
    let r = &mut Draws::new(seed);
    Mlp1::from_layers(Activation::Tanh, dense(r, std), dense(r, std))
}

fn mlp2<const I: usize, const H: usize, const O: usize>(
    seed: u64,
    std: f64,
    act: Activation,
) -> Mlp2<I, H, O> {
    let r = &mut Draws::new(seed);
    Mlp2::from_layers(act, dense(r, std), dense(r, std), dense(r, std))
}

fn params_of<P: Params>(p: &P) -> Vec<f32> {
    let mut v = vec![0.0f32; P::LEN];
    p.write_params(&mut v).unwrap();
    v
}

/// The layer with its parameters rounded to multiples of 2⁻¹² (see the module docs).
fn quantized<P: Params>(p: &P) -> P {
    let v: Vec<f32> = params_of(p).iter().map(|&t| (t * 4096.0).round() / 4096.0).collect();
    let mut q = *p;
    q.read_params(&v).unwrap();
    q
}

/// The directions of the FD check: every coordinate axis and `extra` random directions, entries
/// multiples of 2⁻⁸ in [−1, 1].
fn directions(n: usize, extra: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut dirs: Vec<Vec<f32>> = (0..n)
        .map(|i| {
            let mut d = vec![0.0f32; n];
            d[i] = 1.0;
            d
        })
        .collect();
    let r = &mut Draws::new(seed);
    for _ in 0..extra {
        dirs.push(
            (0..n)
                .map(|_| ((r.normal() * 0.5).clamp(-1.0, 1.0) * 256.0).round() as f32 / 256.0)
                .collect(),
        );
    }
    dirs
}

const FD_STEP: f64 = 1.0 / 256.0;

/// The spline's step: a rational-quadratic spline is only C¹ in its input and its knots (its
/// second derivative jumps where a knot passes a point), so the higher-order stencil gains
/// nothing across a knot and the step is kept small instead.
const SPLINE_FD_STEP: f64 = 1.0 / 4096.0;

/// Worst FD relative error of the gradient `grad` of `loss` at `layer` over `dirs`.
fn fd_worst<P: Params>(
    layer: &P,
    loss: &dyn Fn(&P) -> f64,
    grad: &[f64],
    dirs: &[Vec<f32>],
    step: f64,
) -> f64 {
    let theta = params_of(layer);
    let mut worst = 0.0f64;
    for dir in dirs {
        let at = |j: f64| {
            let p: Vec<f32> = theta
                .iter()
                .zip(dir)
                .map(|(&t, &d)| {
                    let v = t as f64 + j * step * d as f64;
                    assert_eq!(v as f32 as f64, v, "perturbation not exact in f32");
                    v as f32
                })
                .collect();
            let mut l = *layer;
            l.read_params(&p).unwrap();
            loss(&l)
        };
        // The 4-point stencil at h and h/2 (differences first, so that a flat direction gives
        // exactly 0), then one more Richardson step: truncation O(h⁶).
        let stencil = |s: f64| (8.0 * (at(s) - at(-s)) - (at(2.0 * s) - at(-2.0 * s))) / (12.0 * s);
        let (s1, s2) = (stencil(1.0), stencil(0.5));
        let fd = (16.0 * s2 - s1) / (15.0 * step);
        let gmax = grad.iter().fold(0.0f64, |m, g| m.max(g.abs()));
        let dmax = dir.iter().fold(0.0f64, |m, d| m.max(d.abs() as f64));
        let floor = (1e-10 * at(0.0).abs().max(1.0)).max(1e-4 * gmax * dmax);
        let an: f64 = grad.iter().zip(dir).map(|(&g, &d)| g * d as f64).sum();
        let scale: f64 = grad.iter().zip(dir).map(|(&g, &d)| (g * d as f64).abs()).sum();
        let denom = an.abs().max(1e-6 * scale).max(floor);
        let e = (fd - an).abs() / denom;
        worst = worst.max(e);
    }
    worst
}

/// A random loss L = ⟨a, out⟩ + c·logdet: (a, c).
fn random_loss<const D: usize>(seed: u64) -> ([f64; D], f64) {
    let r = &mut Draws::new(seed);
    (r.point(1.0), r.normal())
}

fn dot<const D: usize>(a: &[f64; D], b: &[f64; D]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The FD relative error of the inverse's parameter gradient (worst over `pts`), and of the
/// input cotangent against dual numbers.
fn check_inverse<const D: usize, B: TrainableInverse<D> + Copy>(
    name: &str,
    layer: &B,
    pts: &[[f64; D]],
    extra_dirs: usize,
    step: f64,
) -> (f64, f64) {
    let layer = quantized(layer);
    let dirs = directions(B::LEN, extra_dirs, 7);
    let mut worst_fd = 0.0f64;
    let mut worst_jvp = 0.0f64;
    for (k, x) in pts.iter().enumerate() {
        let (a, c) = random_loss::<D>(100 + k as u64);
        let loss = |l: &B| {
            let (z, ld) = l.inverse(*x).unwrap();
            dot(&a, &z) + c * ld
        };
        let mut grad = vec![0.0f64; B::LEN];
        let (_, _, tape) = layer.inverse_tape(*x).unwrap();
        let xbar = layer.inverse_backward(x, &tape, &a, c, &mut grad[..]);
        worst_fd = worst_fd.max(fd_worst(&layer, &loss, &grad, &dirs, step));
        // ⟨x̄, v⟩ against the dual tangent of L along v.
        let v: [f64; D] = Draws::new(200 + k as u64).point(1.0);
        let xd: [Dual<f64, 1>; D] = core::array::from_fn(|i| Dual::new(x[i], [v[i]]));
        let (zd, ldd) = layer.inverse(xd).unwrap();
        let tangent: f64 = (0..D).map(|i| a[i] * zd[i].eps[0]).sum::<f64>() + c * ldd.eps[0];
        let back = dot(&xbar, &v);
        worst_jvp =
            worst_jvp.max((tangent - back).abs() / tangent.abs().max(back.abs()).max(1e-300));
    }
    println!(
        "{name} inverse: FD worst relative {worst_fd:.2e}, ⟨u, Jv⟩ worst relative {worst_jvp:.2e}"
    );
    assert!(worst_fd <= 1e-6, "{name} inverse: FD {worst_fd:e}");
    assert!(worst_jvp <= 1e-12, "{name} inverse: JVP {worst_jvp:e}");
    (worst_fd, worst_jvp)
}

/// As [`check_inverse`] for the forward pass.
fn check_forward<const D: usize, B: TrainableForward<D> + Copy>(
    name: &str,
    layer: &B,
    pts: &[[f64; D]],
    extra_dirs: usize,
    step: f64,
) -> (f64, f64) {
    let layer = quantized(layer);
    let dirs = directions(B::LEN, extra_dirs, 8);
    let mut worst_fd = 0.0f64;
    let mut worst_jvp = 0.0f64;
    for (k, z) in pts.iter().enumerate() {
        let (a, c) = random_loss::<D>(300 + k as u64);
        let loss = |l: &B| {
            let (x, ld) = l.forward(*z);
            dot(&a, &x) + c * ld
        };
        let mut grad = vec![0.0f64; B::LEN];
        let (_, _, tape) = layer.forward_tape(*z);
        let zbar = layer.forward_backward(z, &tape, &a, c, &mut grad[..]);
        worst_fd = worst_fd.max(fd_worst(&layer, &loss, &grad, &dirs, step));
        let v: [f64; D] = Draws::new(400 + k as u64).point(1.0);
        let zd: [Dual<f64, 1>; D] = core::array::from_fn(|i| Dual::new(z[i], [v[i]]));
        let (xd, ldd) = layer.forward(zd);
        let tangent: f64 = (0..D).map(|i| a[i] * xd[i].eps[0]).sum::<f64>() + c * ldd.eps[0];
        let back = dot(&zbar, &v);
        worst_jvp =
            worst_jvp.max((tangent - back).abs() / tangent.abs().max(back.abs()).max(1e-300));
    }
    println!(
        "{name} forward: FD worst relative {worst_fd:.2e}, ⟨u, Jv⟩ worst relative {worst_jvp:.2e}"
    );
    assert!(worst_fd <= 1e-6, "{name} forward: FD {worst_fd:e}");
    assert!(worst_jvp <= 1e-12, "{name} forward: JVP {worst_jvp:e}");
    (worst_fd, worst_jvp)
}

fn pts<const D: usize>(seed: u64, n: usize, std: f64) -> Vec<[f64; D]> {
    let r = &mut Draws::new(seed);
    (0..n).map(|_| r.point(std)).collect()
}

/// Gather lane j of 8 points.
fn gather<const D: usize>(p: &[[f32; D]; 8]) -> [f32x8; D] {
    core::array::from_fn(|i| f32x8::from(core::array::from_fn::<f32, 8, _>(|j| p[j][i])))
}

/// Lane j of the f32x8 gradient (and input cotangent) equals the scalar f32 ones of sample j,
/// bit for bit, in the inverse direction.
fn lanes_inverse<const D: usize, B: TrainableInverse<D>>(name: &str, b: &B, seed: u64) {
    let r = &mut Draws::new(seed);
    let p: [[f32; D]; 8] = core::array::from_fn(|_| r.array::<D>(1.0));
    let cot: [[f32; D]; 8] = core::array::from_fn(|_| r.array::<D>(1.0));
    let lbar: [f32; 8] = r.array::<8>(1.0);
    let x = gather(&p);
    let (zt, lt, tape) = b.inverse_tape(x).unwrap();
    let (z, l) = b.inverse(x).unwrap();
    assert_eq!(lt.to_array().map(f32::to_bits), l.to_array().map(f32::to_bits), "{name}: tape l");
    for i in 0..D {
        assert_eq!(zt[i].to_array().map(f32::to_bits), z[i].to_array().map(f32::to_bits), "{name}");
    }
    let mut gw = vec![f32x8::ZERO; B::LEN];
    let xbw = b.inverse_backward(&x, &tape, &gather(&cot), f32x8::from(lbar), &mut gw[..]);
    for j in 0..8 {
        let (_, _, t) = b.inverse_tape(p[j]).unwrap();
        let mut g = vec![0.0f32; B::LEN];
        let xb = b.inverse_backward(&p[j], &t, &cot[j], lbar[j], &mut g[..]);
        for (k, (gs, gv)) in g.iter().zip(&gw).enumerate() {
            assert_eq!(gs.to_bits(), gv.to_array()[j].to_bits(), "{name}: param {k}, lane {j}");
        }
        for i in 0..D {
            assert_eq!(xb[i].to_bits(), xbw[i].to_array()[j].to_bits(), "{name}: x̄ {i}, lane {j}");
        }
    }
}

/// As [`lanes_inverse`] for the forward direction.
fn lanes_forward<const D: usize, B: TrainableForward<D>>(name: &str, b: &B, seed: u64) {
    let r = &mut Draws::new(seed);
    let p: [[f32; D]; 8] = core::array::from_fn(|_| r.array::<D>(1.0));
    let cot: [[f32; D]; 8] = core::array::from_fn(|_| r.array::<D>(1.0));
    let lbar: [f32; 8] = r.array::<8>(1.0);
    let z = gather(&p);
    let (xt, lt, tape) = b.forward_tape(z);
    let (x, l) = b.forward(z);
    assert_eq!(lt.to_array().map(f32::to_bits), l.to_array().map(f32::to_bits), "{name}: tape l");
    for i in 0..D {
        assert_eq!(xt[i].to_array().map(f32::to_bits), x[i].to_array().map(f32::to_bits), "{name}");
    }
    let mut gw = vec![f32x8::ZERO; B::LEN];
    let zbw = b.forward_backward(&z, &tape, &gather(&cot), f32x8::from(lbar), &mut gw[..]);
    for j in 0..8 {
        let (_, _, t) = b.forward_tape(p[j]);
        let mut g = vec![0.0f32; B::LEN];
        let zb = b.forward_backward(&p[j], &t, &cot[j], lbar[j], &mut g[..]);
        for (k, (gs, gv)) in g.iter().zip(&gw).enumerate() {
            assert_eq!(gs.to_bits(), gv.to_array()[j].to_bits(), "{name}: param {k}, lane {j}");
        }
        for i in 0..D {
            assert_eq!(zb[i].to_bits(), zbw[i].to_array()[j].to_bits(), "{name}: z̄ {i}, lane {j}");
        }
    }
}

/// `read_params(write_params())` is the identity, and any finite vector (here N(0, 2²) entries)
/// reads back as a valid layer whose inverse∘forward is the identity to 1e-9 in f64, except the
/// vectors `may_fail` names (documented limits), which may be rejected.
fn check_params_except<const D: usize, B: Bijector<D> + Params + PartialEq + core::fmt::Debug>(
    name: &str,
    b: &B,
    seed: u64,
    may_fail: &dyn Fn(&[f32]) -> bool,
) {
    let theta = params_of(b);
    let mut c = *b;
    c.read_params(&theta).unwrap();
    assert_eq!(&c, b, "{name}: read(write) changed the layer");
    assert_eq!(params_of(&c), theta, "{name}: write(read(write)) changed the parameters");
    let r = &mut Draws::new(seed);
    for _ in 0..20 {
        let v: Vec<f32> = (0..B::LEN).map(|_| (2.0 * r.normal()) as f32).collect();
        let mut l = *b;
        match l.read_params(&v) {
            Ok(()) => {}
            Err(_) if may_fail(&v) => continue,
            Err(e) => panic!("{name}: finite parameters rejected: {e}"),
        }
        for _ in 0..5 {
            let z: [f64; D] = r.point(1.0);
            let (x, _) = l.forward(z);
            let (z2, _) = l.inverse(x).unwrap();
            let scale = x.iter().chain(z.iter()).fold(1.0f64, |m, v| m.max(v.abs()));
            for i in 0..D {
                assert!((z2[i] - z[i]).abs() <= 1e-9 * scale, "{name}: round trip {z:?} → {z2:?}");
            }
        }
    }
    // A wrong length or a non-finite entry is an error and leaves the layer unchanged.
    let mut l = *b;
    assert!(l.read_params(&theta[..B::LEN.saturating_sub(1)]).is_err() || B::LEN == 0);
    if B::LEN > 0 {
        let mut bad = theta.clone();
        bad[0] = f32::NAN;
        assert!(l.read_params(&bad).is_err(), "{name}: NaN accepted");
    }
    assert_eq!(&l, b, "{name}: a failed read changed the layer");
}

fn check_params<const D: usize, B: Bijector<D> + Params + PartialEq + core::fmt::Debug>(
    name: &str,
    b: &B,
    seed: u64,
) {
    check_params_except(name, b, seed, &|_| false)
}

// ---------------------------------------------------------------------------------------------
// Layers

fn affine3() -> Affine<3> {
    Affine::new([1.5, -0.7, 0.4], [0.3, -1.2, 0.8]).unwrap()
}

fn actnorm3() -> ActNorm<3> {
    ActNorm::new([0.2, -0.5, 0.9], [0.3, -0.4, 0.1]).unwrap()
}

fn lu3() -> LuLinear<3> {
    LuLinear::from_params(
        [2, 0, 1],
        [[0.0, 0.0, 0.0], [0.4, 0.0, 0.0], [-0.3, 0.6, 0.0]],
        [[0.0, 0.5, -0.2], [0.0, 0.0, 0.7], [0.0, 0.0, 0.0]],
        [1.3, -0.8, 0.6],
    )
    .unwrap()
}

fn mask3() -> BinaryMask<3> {
    BinaryMask::new([true, false, true]).unwrap()
}

fn additive3() -> AdditiveCoupling<3, 1, Mlp1<3, 8, 1>> {
    AdditiveCoupling::new(mask3(), mlp1(21, 0.7)).unwrap()
}

fn affine_coupling3() -> AffineCoupling<3, 2, Mlp2<3, 8, 2>> {
    AffineCoupling::new(mask3(), mlp2(22, 0.7, Activation::Tanh)).unwrap()
}

fn maf3() -> Maf<3, 8, 6> {
    Maf::new(mlp2(23, 0.6, Activation::Tanh))
}

fn planar3(seed: u64) -> Planar<3> {
    let r = &mut Draws::new(seed);
    Planar::new(r.array(0.8), r.array(0.8), (0.5 * r.normal()) as f32).unwrap()
}

fn radial3(seed: u64) -> Radial<3> {
    let r = &mut Draws::new(seed);
    Radial::new(r.array(0.8), (r.normal()) as f32, (r.normal()) as f32).unwrap()
}

fn spline3() -> SplineCoupling<3, 4, 11, Mlp1<3, 8, 11>> {
    SplineCoupling::new(mask3(), 3.0, mlp1(25, 0.8)).unwrap()
}

type SplineStack = [SplineCoupling<2, 4, 11, Mlp1<2, 8, 11>>; 3];

fn spline_stack() -> SplineStack {
    core::array::from_fn(|k| {
        let mask = BinaryMask::alternating(k % 2).unwrap();
        SplineCoupling::new(mask, 3.0, mlp1(80 + k as u64, 0.8)).unwrap()
    })
}

type RealNvp = [AffineCoupling<2, 2, Mlp2<2, 8, 2>>; 4];

fn realnvp() -> RealNvp {
    core::array::from_fn(|k| {
        let net = mlp2(30 + k as u64, 0.6, Activation::Tanh);
        AffineCoupling::new(BinaryMask::alternating(k % 2).unwrap(), net).unwrap()
    })
}

#[test]
fn linear_layers_gradients() {
    let p = pts::<3>(1, 6, 1.0);
    check_inverse("affine", &affine3(), &p, 4, FD_STEP);
    check_forward("affine", &affine3(), &p, 4, FD_STEP);
    check_inverse("actnorm", &actnorm3(), &p, 4, FD_STEP);
    check_forward("actnorm", &actnorm3(), &p, 4, FD_STEP);
    check_inverse("lu", &lu3(), &p, 4, FD_STEP);
    check_forward("lu", &lu3(), &p, 4, FD_STEP);
    check_inverse(
        "diagonal scaling",
        &DiagonalScaling::new([0.3f32, -0.2, 0.5]).unwrap(),
        &p,
        4,
        FD_STEP,
    );
    check_forward(
        "diagonal scaling",
        &DiagonalScaling::new([0.3f32, -0.2, 0.5]).unwrap(),
        &p,
        4,
        FD_STEP,
    );
    let perm = Permutation::<3>::new([2, 0, 1]).unwrap();
    check_inverse("permutation", &perm, &p, 0, FD_STEP);
    check_forward("permutation", &perm, &p, 0, FD_STEP);
    let stack = (affine3(), lu3());
    check_inverse("affine+lu", &stack, &p, 4, FD_STEP);
    check_forward("affine+lu", &stack, &p, 4, FD_STEP);
    let stack = (actnorm3(), lu3(), perm, affine3());
    check_inverse("actnorm+lu+perm+affine", &stack, &p, 4, FD_STEP);
    check_forward("actnorm+lu+perm+affine", &stack, &p, 4, FD_STEP);
}

#[test]
fn coupling_and_maf_gradients() {
    let p = pts::<3>(2, 4, 1.0);
    check_inverse("additive coupling", &additive3(), &p, 4, FD_STEP);
    check_forward("additive coupling", &additive3(), &p, 4, FD_STEP);
    check_inverse("affine coupling", &affine_coupling3(), &p, 4, FD_STEP);
    check_forward("affine coupling", &affine_coupling3(), &p, 4, FD_STEP);
    check_inverse("maf", &maf3(), &p, 4, FD_STEP);
    let p2 = pts::<2>(3, 3, 1.0);
    check_inverse("realnvp [AffineCoupling; 4]", &realnvp(), &p2, 4, FD_STEP);
    check_forward("realnvp [AffineCoupling; 4]", &realnvp(), &p2, 4, FD_STEP);
    let maf_stack =
        (maf3(), Permutation::<3>::reverse(), Maf::<3, 8, 6>::new(mlp2(24, 0.6, Activation::Tanh)));
    check_inverse("maf+reverse+maf", &maf_stack, &p, 4, FD_STEP);
}

#[test]
fn planar_and_radial_gradients() {
    let p = pts::<3>(4, 6, 1.0);
    for s in 0..4 {
        check_forward("planar", &planar3(40 + s), &p, 4, FD_STEP);
        check_forward("radial", &radial3(50 + s), &p, 4, FD_STEP);
    }
    let chain: [Planar<2>; 10] = core::array::from_fn(|k| {
        let r = &mut Draws::new(60 + k as u64);
        Planar::new(r.array(0.8), r.array(0.8), (0.5 * r.normal()) as f32).unwrap()
    });
    check_forward("10 planar", &chain, &pts::<2>(5, 4, 1.0), 4, FD_STEP);
    let mixed = (affine3(), planar3(70), radial3(71), lu3());
    check_forward("affine+planar+radial+lu", &mixed, &p, 4, FD_STEP);
}

#[test]
fn spline_gradients() {
    // Points mostly inside [−3, 3]ᴰ, a few on the identity tails.
    let p = pts::<3>(6, 8, 1.5);
    check_inverse("spline coupling", &spline3(), &p, 4, SPLINE_FD_STEP);
    check_forward("spline coupling", &spline3(), &p, 4, SPLINE_FD_STEP);
    let p2 = pts::<2>(7, 6, 1.5);
    check_inverse("spline stack [SplineCoupling; 3]", &spline_stack(), &p2, 4, SPLINE_FD_STEP);
    check_forward("spline stack [SplineCoupling; 3]", &spline_stack(), &p2, 4, SPLINE_FD_STEP);
}

#[test]
fn lanes_are_bit_identical() {
    lanes_inverse("spline", &spline3(), 17);
    lanes_forward("spline", &spline3(), 18);
    lanes_inverse("spline stack", &spline_stack(), 19);
    lanes_inverse("affine", &affine3(), 1);
    lanes_forward("affine", &affine3(), 2);
    lanes_inverse("actnorm", &actnorm3(), 3);
    lanes_forward("actnorm", &actnorm3(), 4);
    lanes_inverse("lu", &lu3(), 5);
    lanes_forward("lu", &lu3(), 6);
    lanes_inverse("additive", &additive3(), 7);
    lanes_forward("additive", &additive3(), 8);
    lanes_inverse("affine coupling", &affine_coupling3(), 9);
    lanes_forward("affine coupling", &affine_coupling3(), 10);
    lanes_inverse("maf", &maf3(), 11);
    lanes_forward("planar", &planar3(1), 12);
    lanes_forward("radial", &radial3(1), 13);
    lanes_inverse("realnvp", &realnvp(), 14);
    lanes_forward("realnvp", &realnvp(), 15);
    lanes_inverse("actnorm+lu", &(actnorm3(), lu3()), 16);
}

#[test]
fn params_round_trip_and_are_unconstrained() {
    check_params("affine", &affine3(), 1);
    check_params("actnorm", &actnorm3(), 2);
    check_params("lu", &lu3(), 3);
    check_params("diagonal scaling", &DiagonalScaling::new([0.3f32, -0.2, 0.5]).unwrap(), 4);
    check_params("permutation", &Permutation::<3>::reverse(), 5);
    check_params("additive", &additive3(), 6);
    check_params("affine coupling", &affine_coupling3(), 7);
    check_params("maf", &maf3(), 8);
    // Planar's one documented limit: wᵀu ≲ −17, where wᵀû = −1 + softplus(wᵀu) rounds to −1
    // in f32 (Planar::new).
    let wu = |v: &[f32]| (0..3).map(|i| v[i] as f64 * v[3 + i] as f64).sum::<f64>();
    check_params_except("planar", &planar3(3), 9, &|v| wu(v) < -16.0);
    check_params("radial", &radial3(3), 10);
    check_params("realnvp", &realnvp(), 11);
    check_params("spline coupling", &spline3(), 13);
    check_params("affine+lu", &(affine3(), lu3()), 12);
}

/// The MADE's masked weights stay zero whatever `read_params` is given.
#[test]
fn maf_read_params_keeps_the_masks() {
    let m = maf3();
    let ones = vec![1.0f32; <Maf<3, 8, 6> as Params>::LEN];
    let mut l = m;
    l.read_params(&ones).unwrap();
    // Output 0 (μ₀) may depend on nothing: its row of the output layer is all zero.
    assert!(l.made().output.weight()[0].iter().all(|&w| w == 0.0));
    // The density of coordinate 0 ignores x₁, x₂: z₀ does not change when they do.
    let (a, _) = l.inverse([0.3f64, 1.0, -1.0]).unwrap();
    let (b, _) = l.inverse([0.3f64, -2.0, 5.0]).unwrap();
    assert_eq!(a[0], b[0]);
}

// ---------------------------------------------------------------------------------------------
// Maximum likelihood

/// A flow (Affine, LuLinear) on ℝ², x = W(a⊙z + b), fitted by full-batch Adam on the NLL of
/// N = 4000 draws of N(μ, Σ), recovers the Gaussian: its mean W b and covariance W diag(a²) Wᵀ
/// equal the sample mean and covariance (the exact maximum-likelihood estimate, which the family
/// contains) to 2e-3, hence μ and Σ within the sampling error: asserted within 4 standard
/// errors (SE of a mean √(Σₖₖ/N) ≈ 0.022, of a covariance entry √((ΣₖₖΣₗₗ + Σₖₗ²)/N) ≈ 0.03).
#[test]
fn gaussian_recovered_by_maximum_likelihood() {
    const N: usize = 4000;
    let mu = [1.0f64, -2.0];
    let sigma = [[2.0f64, 0.8], [0.8, 1.0]];
    let l00 = sigma[0][0].sqrt();
    let l10 = sigma[1][0] / l00;
    let l11 = (sigma[1][1] - l10 * l10).sqrt();
    let r = &mut Draws::new(99);
    let xs: Vec<[f64; 2]> = (0..N)
        .map(|_| {
            let (e0, e1) = (r.normal(), r.normal());
            [mu[0] + l00 * e0, mu[1] + l10 * e0 + l11 * e1]
        })
        .collect();
    let mut m = [0.0f64; 2];
    for x in &xs {
        m[0] += x[0] / N as f64;
        m[1] += x[1] / N as f64;
    }
    let mut c = [[0.0f64; 2]; 2];
    for x in &xs {
        for i in 0..2 {
            for j in 0..2 {
                c[i][j] += (x[i] - m[i]) * (x[j] - m[j]) / N as f64;
            }
        }
    }

    let z = [[0.0f32; 2]; 2];
    let mut flow = Flow::new(
        StandardNormal,
        (
            Affine::new([1.0, 1.0], [0.0, 0.0]).unwrap(),
            LuLinear::from_params([0, 1], z, z, [1.0, 1.0]).unwrap(),
        ),
    );
    let len = <(Affine<2>, LuLinear<2>) as Params>::LEN;
    let mut theta = params_of(&flow.bijector);
    let (mut m1, mut m2) = (vec![0.0f64; len], vec![0.0f64; len]);
    let (b1, b2) = (0.9f64, 0.999f64);
    let mut nll = 0.0;
    for step in 1..=3000 {
        let mut grad = vec![0.0f64; len];
        nll = 0.0;
        for x in &xs {
            nll += flow.nll_backward(*x, &mut grad[..]).unwrap() / N as f64;
        }
        let lr = 0.05 * (1.0 - step as f64 / 3000.0).max(0.02);
        for k in 0..len {
            let g = grad[k] / N as f64;
            m1[k] = b1 * m1[k] + (1.0 - b1) * g;
            m2[k] = b2 * m2[k] + (1.0 - b2) * g * g;
            let mh = m1[k] / (1.0 - b1.powi(step));
            let vh = m2[k] / (1.0 - b2.powi(step));
            theta[k] = (theta[k] as f64 - lr * mh / (vh.sqrt() + 1e-12)) as f32;
        }
        flow.bijector.read_params(&theta).unwrap();
    }
    // The model's mean f(0) and covariance Σᵢ (f(eᵢ) − f(0))(f(eᵢ) − f(0))ᵀ.
    let f0 = flow.bijector.forward([0.0f64, 0.0]).0;
    let cols = [flow.bijector.forward([1.0f64, 0.0]).0, flow.bijector.forward([0.0f64, 1.0]).0];
    let mut cov = [[0.0f64; 2]; 2];
    for col in &cols {
        for i in 0..2 {
            for j in 0..2 {
                cov[i][j] += (col[i] - f0[i]) * (col[j] - f0[j]);
            }
        }
    }
    // The exact maximum-likelihood NLL: ½ ln det(2πC) + 1.
    let det = c[0][0] * c[1][1] - c[0][1] * c[1][0];
    let nll_mle = 0.5 * ((2.0 * core::f64::consts::PI).powi(2) * det).ln() + 1.0;
    println!("mean {f0:?} (sample {m:?}), cov {cov:?} (sample {c:?}), NLL {nll} (MLE {nll_mle})");
    for i in 0..2 {
        assert!((f0[i] - m[i]).abs() < 2e-3, "mean {i}: {} vs {}", f0[i], m[i]);
        assert!((f0[i] - mu[i]).abs() < 4.0 * (sigma[i][i] / N as f64).sqrt());
        for j in 0..2 {
            assert!((cov[i][j] - c[i][j]).abs() < 2e-3, "cov {i}{j}: {} vs {}", cov[i][j], c[i][j]);
            let se = ((sigma[i][i] * sigma[j][j] + sigma[i][j].powi(2)) / N as f64).sqrt();
            assert!((cov[i][j] - sigma[i][j]).abs() < 4.0 * se, "cov {i}{j} vs truth");
        }
    }
    assert!(nll - nll_mle < 1e-5, "NLL {nll} vs MLE {nll_mle}");
    // The NLL of `nll_backward` is −log_prob, bit for bit.
    let mut g = vec![0.0f64; len];
    assert_eq!(flow.nll_backward(xs[0], &mut g[..]).unwrap(), -flow.log_prob(xs[0]).unwrap());
}
