//! Flow layers, composition and `Flow` (MATH.md §1): inverse∘forward = id, log-determinants
//! against finite-difference Jacobians, a 10-layer planar density that integrates to 1, agreement
//! of the two log-prob paths, lane-width/batch-size invariance, and the NaN-lane policy.

use flowscore::Error;
use flowscore::dist::{DiagonalNormal, StandardNormal, UniformBox};
use flowscore::flow::{Affine, Bijector, Flow, Planar, Radial};
use flowscore::rng::{Streams, mix64};
use wide::{f32x4, f32x8};

/// A small deterministic generator of test parameters (SplitMix64).
struct Params(u64);

impl Params {
    /// Uniform on [−1, 1).
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        (mix64(self.0) >> 11) as f64 / (1u64 << 52) as f64 - 1.0
    }
    fn arr<const D: usize>(&mut self, scale: f64) -> [f32; D] {
        core::array::from_fn(|_| (scale * self.next()) as f32)
    }
    fn point<const D: usize>(&mut self, scale: f64) -> [f64; D] {
        core::array::from_fn(|_| scale * self.next())
    }
}

/// A random planar layer: u, w uniform in [−s, s]ᴰ with s = scale·√(2/D), so that ‖u‖, ‖w‖ and
/// wᵀz have the same typical size in every dimension; b uniform in [−scale, scale].
fn planar<const D: usize>(p: &mut Params, scale: f64) -> Planar<D> {
    let s = scale * (2.0 / D as f64).sqrt();
    Planar::new(p.arr(s), p.arr(s), (scale * p.next()) as f32).unwrap()
}

fn radial<const D: usize>(p: &mut Params) -> Radial<D> {
    Radial::new(p.arr(1.5), (2.0 * p.next()) as f32, (2.0 * p.next()) as f32).unwrap()
}

fn affine<const D: usize>(p: &mut Params) -> Affine<D> {
    let scale = core::array::from_fn(|_| {
        let v = p.next();
        (if v < 0.0 { v - 0.3 } else { v + 0.3 } * 2.0) as f32
    });
    Affine::new(scale, p.arr(2.0)).unwrap()
}

fn planar_chain<const D: usize, const K: usize>(seed: u64, scale: f64) -> [Planar<D>; K] {
    let mut p = Params(seed);
    core::array::from_fn(|_| planar(&mut p, scale))
}

/// Max abs error of inverse(forward(z)) − z over `n` points with coordinates in [−3, 3], in f64
/// and in f32 (inputs rounded to f32), and max |log-det(forward) + log-det(inverse)| in f64.
fn round_trip<const D: usize, B: Bijector<D>>(layer: &B, seed: u64, n: usize) -> (f64, f64, f64) {
    let mut p = Params(seed);
    let (mut e64, mut e32, mut eld) = (0.0f64, 0.0f64, 0.0f64);
    for _ in 0..n {
        let z: [f64; D] = p.point(3.0);
        let (x, ld) = layer.forward(z);
        let (z2, ild) = layer.inverse(x).unwrap();
        for i in 0..D {
            e64 = e64.max((z2[i] - z[i]).abs());
        }
        eld = eld.max((ld + ild).abs());
        let z32: [f32; D] = core::array::from_fn(|i| z[i] as f32);
        let (x32, _) = layer.forward(z32);
        let (z32b, _) = layer.inverse(x32).unwrap();
        for i in 0..D {
            e32 = e32.max((z32b[i] - z32[i]).abs() as f64);
        }
    }
    (e64, e32, eld)
}

/// log|det J| of `layer.forward` at `z` from a central finite-difference Jacobian in f64: the
/// five-point stencil (−f(z+2h) + 8f(z+h) − 8f(z−h) + f(z−2h))/12h, truncation error O(h⁴).
fn fd_log_det<const D: usize, B: Bijector<D>>(layer: &B, z: [f64; D]) -> f64 {
    const H: f64 = 2e-4;
    let mut j = [[0.0f64; D]; D];
    for c in 0..D {
        let at = |k: f64| {
            let mut zk = z;
            zk[c] += k * H;
            layer.forward(zk).0
        };
        let (p2, p1, m1, m2) = (at(2.0), at(1.0), at(-1.0), at(-2.0));
        for r in 0..D {
            j[r][c] = (-p2[r] + 8.0 * p1[r] - 8.0 * m1[r] + m2[r]) / (12.0 * H);
        }
    }
    // LU with partial pivoting: log|det| = Σ log|pivot|.
    let mut log_det = 0.0;
    for k in 0..D {
        let piv = (k..D).max_by(|&a, &b| j[a][k].abs().total_cmp(&j[b][k].abs())).unwrap();
        j.swap(k, piv);
        let d = j[k][k];
        log_det += d.abs().ln();
        let pivot_row = j[k];
        for row in j.iter_mut().skip(k + 1) {
            let f = row[k] / d;
            for (v, &pv) in row.iter_mut().zip(&pivot_row).skip(k) {
                *v -= f * pv;
            }
        }
    }
    log_det
}

/// Max |analytic log-det − finite-difference log-det| over `n` points in [−2, 2]ᴰ.
fn log_det_error<const D: usize, B: Bijector<D>>(layer: &B, seed: u64, n: usize) -> f64 {
    let mut p = Params(seed);
    let mut err = 0.0f64;
    for _ in 0..n {
        let z: [f64; D] = p.point(2.0);
        let (_, ld) = layer.forward(z);
        err = err.max((ld - fd_log_det(layer, z)).abs());
    }
    err
}

/// Round trip of every layer, D = 2 and 5, 20 random layers each. Observed max abs errors
/// (f64 / f32): affine 8.9e-16 / 4.8e-7, planar 5.8e-15 / 4.8e-6, radial 8.9e-16 / 7.2e-7;
/// log-dets of forward and inverse cancel to ≤ 2.2e-14 (f64).
#[test]
fn inverse_of_forward_is_identity_for_every_layer() {
    fn check<const D: usize>(seed: u64) {
        let mut p = Params(seed);
        let mut worst = [[0.0f64; 3]; 3];
        for _ in 0..20 {
            let (a, pl, r) = (affine::<D>(&mut p), planar::<D>(&mut p, 1.5), radial::<D>(&mut p));
            for (k, (name, (e64, e32, eld))) in [
                ("affine", round_trip(&a, seed + 1, 200)),
                ("planar", round_trip(&pl, seed + 2, 200)),
                ("radial", round_trip(&r, seed + 3, 200)),
            ]
            .into_iter()
            .enumerate()
            {
                worst[k] = [worst[k][0].max(e64), worst[k][1].max(e32), worst[k][2].max(eld)];
                assert!(e64 <= 1e-13, "{name} D={D} f64 round trip {e64:e}");
                assert!(e32 <= 1e-5, "{name} D={D} f32 round trip {e32:e}");
                assert!(eld <= 1e-13, "{name} D={D} log-det {eld:e}");
            }
        }
        for (name, [e64, e32, eld]) in ["affine", "planar", "radial"].iter().zip(worst) {
            println!("D={D} {name}: f64 {e64:.2e}, f32 {e32:.2e}, log-det sum {eld:.2e}");
        }
    }
    check::<2>(1);
    check::<5>(2);
}

/// A random 10-layer planar chain in 2-D and 5-D, and a tuple (affine, planar, radial).
/// Observed max abs errors: 10-layer planar D = 2 f64 3.1e-14, f32 3.1e-5; D = 5 f64 2.2e-15,
/// f32 1.3e-6; tuple f64 2.9e-15, f32 2.2e-6.
#[test]
fn inverse_of_forward_is_identity_for_chains() {
    let chain2: [Planar<2>; 10] = planar_chain(7, 1.5);
    let chain5: [Planar<5>; 10] = planar_chain(8, 1.0);
    let mut p = Params(9);
    let tuple = (affine::<2>(&mut p), planar::<2>(&mut p, 1.5), radial::<2>(&mut p));
    for (name, (e64, e32, eld)) in [
        ("planar x10 D=2", round_trip(&chain2, 10, 2000)),
        ("tuple D=2", round_trip(&tuple, 11, 2000)),
    ] {
        println!("{name}: f64 {e64:.2e}, f32 {e32:.2e}, log-det sum {eld:.2e}");
        assert!(e64 <= 1e-12 && e32 <= 5e-5 && eld <= 1e-12, "{name}");
    }
    let (e64, e32, eld) = round_trip(&chain5, 12, 2000);
    println!("planar x10 D=5: f64 {e64:.2e}, f32 {e32:.2e}, log-det sum {eld:.2e}");
    assert!(e64 <= 1e-12 && e32 <= 5e-5 && eld <= 1e-12);
}

/// log|det J| against a central finite-difference Jacobian (h = 1e-5, f64) for every layer and
/// for chains, D = 2 and 5. Observed max differences: layers 3.3e-11 (D = 2), 1.1e-11 (D = 5);
/// 10-layer chains 1.1e-11 and 1.7e-11 (the stencil's truncation and rounding error).
#[test]
fn log_det_matches_finite_difference_jacobian() {
    fn check<const D: usize>(seed: u64) {
        let mut p = Params(seed);
        let mut worst = 0.0f64;
        for _ in 0..20 {
            let a = affine::<D>(&mut p);
            let pl = planar::<D>(&mut p, 1.5);
            let r = radial::<D>(&mut p);
            for (name, e) in [
                ("affine", log_det_error(&a, seed + 1, 50)),
                ("planar", log_det_error(&pl, seed + 2, 50)),
                ("radial", log_det_error(&r, seed + 3, 50)),
                ("tuple", log_det_error(&(a, pl, r), seed + 4, 50)),
            ] {
                worst = worst.max(e);
                assert!(e <= 1e-9, "{name} D={D}: {e:e}");
            }
        }
        println!("layers D={D}: {worst:.2e}");
        let chain: [Planar<D>; 10] = planar_chain(seed + 5, 1.5);
        let e = log_det_error(&chain, seed + 6, 200);
        println!("planar x10 D={D}: {e:.2e}");
        assert!(e <= 1e-9, "planar chain D={D}: {e:e}");
    }
    check::<2>(21);
    check::<5>(22);
}

/// The "10 planar transformations" flow of the tests: N(0, I) base, random u, w ~ U(−1.5, 1.5)²,
/// b ~ U(−1.5, 1.5).
fn planar_flow() -> Flow<StandardNormal, [Planar<2>; 10]> {
    Flow::new(StandardNormal, planar_chain(31, 1.5))
}

/// ∫ p(x) dx = 1 for the random 10-layer planar flow, midpoint rule in f64 on a square that holds
/// all but ≈ 1e-11 of the mass: every layer moves a point by at most ‖û‖, so x stays within
/// S = Σ‖ûₖ‖ of z, and |zᵢ| ≤ 7 holds with probability 1 − 2.6e-12 per coordinate.
/// Observed |∫ − 1| = 2.1e-13 (grid step 0.04, 794² points; peak density 0.350).
#[test]
fn planar_flow_density_integrates_to_one() {
    let flow = planar_flow();
    let shift: f64 = flow
        .bijector
        .iter()
        .map(|l| l.u_hat().iter().map(|&v| (v as f64).powi(2)).sum::<f64>().sqrt())
        .sum();
    // The layers are non-trivial: together they can move a point by more than a base std.
    assert!(shift > 3.0, "shift {shift}");
    let half = 7.0 + shift;
    let h = 0.04;
    let n = (2.0 * half / h).ceil() as usize;
    let mut total = 0.0f64;
    let mut peak = 0.0f64;
    for i in 0..n {
        let x0 = -half + (i as f64 + 0.5) * h;
        let mut row = 0.0;
        for j in 0..n {
            let x1 = -half + (j as f64 + 0.5) * h;
            let lp = flow.log_prob([x0, x1]).unwrap();
            let p = lp.exp();
            peak = peak.max(p);
            row += p;
        }
        total += row * h * h;
    }
    println!(
        "grid {n}x{n}, half-width {half:.2}, peak {peak:.3}, |integral - 1| {:.2e}",
        (total - 1.0).abs()
    );
    // The density is far from the base's (whose peak is 1/2π ≈ 0.159).
    assert!((peak - 1.0 / core::f64::consts::TAU).abs() > 0.02, "peak {peak}");
    assert!((total - 1.0).abs() < 1e-3, "integral {total}");
}

/// log_prob(x) by the inverse pass equals the log-prob of `sample_and_log_prob` (forward pass).
/// Observed max differences over 10⁴ samples: f64 1.6e-14, f32 1.1e-5.
#[test]
fn log_prob_of_sample_matches_forward_log_prob() {
    let flow = planar_flow();
    let (mut e64, mut e32) = (0.0f64, 0.0f64);
    for i in 0..10_000u64 {
        let (x, lp): ([f64; 2], f64) = flow.sample_and_log_prob(&mut Streams::<f64>::new(5, i));
        e64 = e64.max((flow.log_prob(x).unwrap() - lp).abs());
        let (x, lp): ([f32; 2], f32) = flow.sample_and_log_prob(&mut Streams::<f32>::new(5, i));
        e32 = e32.max((flow.log_prob(x).unwrap() - lp).abs() as f64);
    }
    println!("log_prob vs sample_and_log_prob: f64 {e64:.2e}, f32 {e32:.2e}");
    assert!(e64 < 1e-11, "f64 {e64:e}");
    assert!(e32 < 2e-4, "f32 {e32:e}");
}

/// Samples and log-probs are bit-identical for scalar f32, f32x4 and f32x8 lanes, whatever the
/// batch size and offset.
#[test]
fn lanes_and_batch_sizes_give_identical_bits() {
    let flow = planar_flow();
    let seed = 77;
    for (first, n) in [(0u64, 1usize), (3, 7), (8, 8), (5, 13), (1000, 100)] {
        let mut xs = vec![[0.0f32; 2]; n];
        let mut lps = vec![0.0f32; n];
        flow.sample_and_log_prob_batch(seed, first, &mut xs, &mut lps).unwrap();
        let mut only_x = vec![[0.0f32; 2]; n];
        flow.sample_batch(seed, first, &mut only_x);
        let mut scored = vec![0.0f32; n];
        flow.log_prob_batch(&xs, &mut scored).unwrap();
        for i in 0..n {
            let idx = first + i as u64;
            // Scalar f32.
            let (x, lp): ([f32; 2], f32) = flow.sample_and_log_prob(&mut Streams::new(seed, idx));
            assert_eq!(x.map(f32::to_bits), xs[i].map(f32::to_bits), "x, n={n} i={i}");
            assert_eq!(lp.to_bits(), lps[i].to_bits(), "lp, n={n} i={i}");
            assert_eq!(x.map(f32::to_bits), only_x[i].map(f32::to_bits));
            let back = flow.log_prob(x).unwrap();
            assert_eq!(back.to_bits(), scored[i].to_bits());
            // f32x4 lanes, with this sample in lane i % 4.
            let j = i % 4;
            let base = idx - j as u64;
            let (x4, lp4): ([f32x4; 2], f32x4) =
                flow.sample_and_log_prob(&mut Streams::new(seed, base));
            assert_eq!(x4[0].to_array()[j].to_bits(), x[0].to_bits());
            assert_eq!(x4[1].to_array()[j].to_bits(), x[1].to_bits());
            assert_eq!(lp4.to_array()[j].to_bits(), lp.to_bits());
            let back4 = flow.log_prob(x4).unwrap();
            assert_eq!(back4.to_array()[j].to_bits(), back.to_bits());
        }
        // A batch split into two pieces gives the same bits as in one piece.
        if n > 1 {
            let cut = n / 2 + 1;
            let (mut a, mut b) = (vec![[0.0f32; 2]; cut], vec![[0.0f32; 2]; n - cut]);
            flow.sample_batch(seed, first, &mut a);
            flow.sample_batch(seed, first + cut as u64, &mut b);
            a.extend_from_slice(&b);
            assert_eq!(a, xs);
        }
    }
    // Mismatched lengths are an error, not a panic.
    let mut xs = [[0.0f32; 2]; 3];
    let mut lps = [0.0f32; 2];
    assert!(matches!(
        flow.sample_and_log_prob_batch(1, 0, &mut xs, &mut lps),
        Err(Error::InvalidParameter { .. })
    ));
    assert!(matches!(flow.log_prob_batch(&xs, &mut lps), Err(Error::InvalidParameter { .. })));
}

/// A NaN in one lane of an `f32x8` gives NaN in that lane only (forward, inverse, log_prob), and
/// the other lanes are bit-identical to evaluating their points alone.
#[test]
fn nan_lane_stays_in_its_lane() {
    fn check<B: Bijector<2>>(name: &str, layer: B) {
        let flow = Flow::new(StandardNormal, layer);
        let mut p = Params(41);
        let pts: [[f32; 2]; 8] = core::array::from_fn(|_| {
            let q: [f64; 2] = p.point(2.0);
            q.map(|v| v as f32)
        });
        let nan_lane = 3;
        let lanes: [f32x8; 2] = core::array::from_fn(|d| {
            f32x8::from(core::array::from_fn::<f32, 8, _>(|j| {
                if j == nan_lane && d == 0 { f32::NAN } else { pts[j][d] }
            }))
        });
        let (fx, fld) = flow.bijector.forward(lanes);
        let (ix, ild) = flow.bijector.inverse(lanes).unwrap();
        let lp = flow.log_prob(lanes).unwrap();
        assert!(fx[0].to_array()[nan_lane].is_nan(), "{name} forward");
        assert!(ix[0].to_array()[nan_lane].is_nan(), "{name} inverse");
        assert!(lp.to_array()[nan_lane].is_nan(), "{name} log_prob");
        for (j, pt) in pts.iter().enumerate().filter(|&(j, _)| j != nan_lane) {
            let (sx, sld) = flow.bijector.forward(*pt);
            let (si, sild) = flow.bijector.inverse(*pt).unwrap();
            let slp = flow.log_prob(*pt).unwrap();
            for d in 0..2 {
                assert_eq!(fx[d].to_array()[j].to_bits(), sx[d].to_bits(), "{name}");
                assert_eq!(ix[d].to_array()[j].to_bits(), si[d].to_bits(), "{name}");
            }
            assert_eq!(fld.to_array()[j].to_bits(), sld.to_bits(), "{name}");
            assert_eq!(ild.to_array()[j].to_bits(), sild.to_bits(), "{name}");
            assert_eq!(lp.to_array()[j].to_bits(), slp.to_bits(), "{name}");
        }
    }
    let mut p = Params(40);
    check("planar", planar::<2>(&mut p, 1.5));
    check("radial", radial::<2>(&mut p));
    check("affine", affine::<2>(&mut p));
    check("planar x10", planar_chain::<2, 10>(42, 1.5));
}

/// Infinite inputs are not "unconverged": the planar inverse returns (non-finite values), it does
/// not fail, and far-away finite points still invert.
#[test]
fn planar_inverse_handles_extreme_inputs() {
    let chain: [Planar<2>; 10] = planar_chain(50, 1.5);
    let (z, _) = chain.inverse([f32::INFINITY, 0.0]).unwrap();
    assert!(!z[0].is_finite() || !z[1].is_finite());
    let far = [1e6f64, -3e5];
    let (x, _) = chain.forward(far);
    let (back, _) = chain.inverse(x).unwrap();
    assert!((back[0] - far[0]).abs() < 1e-8 && (back[1] - far[1]).abs() < 1e-8);
    // Nearly non-invertible layer: wᵀu = −16, wᵀû = −1 + softplus(−16) = −1 + 1.1e-7. The
    // solve still converges; the round-trip error reflects the map's conditioning.
    // Observed: f64 1.7e-10, f32 3.5e-3.
    let hard = Planar::<2>::new([-8.0, 0.0], [2.0, 0.0], 0.3).unwrap();
    assert!(hard.w_dot_u_hat() < -0.9999);
    let (e64, e32, _) = round_trip(&hard, 51, 2000);
    println!("near-singular planar: f64 {e64:.2e}, f32 {e32:.2e}");
    assert!(e64 < 1e-9, "{e64:e}");
}

/// Every constructor rejects NaN and infinite parameters, and structurally invalid ones.
#[test]
fn constructors_reject_bad_parameters() {
    let (nan, inf) = (f32::NAN, f32::INFINITY);
    assert_eq!(Planar::<2>::new([nan, 0.0], [1.0, 0.0], 0.0), Err(Error::NonFinite("u")));
    assert_eq!(Planar::<2>::new([0.0, 0.0], [inf, 0.0], 0.0), Err(Error::NonFinite("w")));
    assert_eq!(Planar::<2>::new([0.0, 0.0], [1.0, 0.0], nan), Err(Error::NonFinite("b")));
    assert_eq!(Radial::<2>::new([nan, 0.0], 0.0, 0.0), Err(Error::NonFinite("z0")));
    assert_eq!(Radial::<2>::new([0.0, 0.0], -inf, 0.0), Err(Error::NonFinite("alpha_raw")));
    assert_eq!(Radial::<2>::new([0.0, 0.0], 0.0, nan), Err(Error::NonFinite("beta_raw")));
    assert!(matches!(Radial::<2>::new([0.0; 2], -200.0, 0.0), Err(Error::InvalidParameter { .. })));
    assert_eq!(Affine::<2>::new([1.0, nan], [0.0; 2]), Err(Error::NonFinite("scale")));
    assert_eq!(Affine::<2>::new([1.0, 1.0], [inf, 0.0]), Err(Error::NonFinite("shift")));
    assert!(matches!(Affine::<2>::new([1.0, 0.0], [0.0; 2]), Err(Error::InvalidParameter { .. })));
    assert_eq!(DiagonalNormal::<2>::new([0.0; 2], [1.0, nan]), Err(Error::NonFinite("std")));
    assert_eq!(UniformBox::<2>::new([0.0, -inf], [1.0; 2]), Err(Error::NonFinite("lo")));
    // wᵀu ≪ 0: m(wᵀu) rounds to −1 in f32, so the layer would not be invertible.
    assert!(matches!(
        Planar::<2>::new([-30.0, 0.0], [1.0, 0.0], 0.0),
        Err(Error::InvalidParameter { .. })
    ));
    // ‖w‖ = 0: û = u, the layer is a shift by u·tanh(b).
    let shift = Planar::<2>::new([1.0, 2.0], [0.0, 0.0], 0.5).unwrap();
    assert_eq!(shift.u_hat(), [1.0, 2.0]);
    let (x, ld) = shift.forward([0.0f64, 0.0]);
    assert!((x[0] - 0.5f64.tanh()).abs() < 1e-15 && ld == 0.0);
}

/// The affine layer of the notes: x = 2z + 1 on a U[0, 1] base has density 1/2 on [1, 3].
#[test]
fn affine_on_uniform_matches_the_notes() {
    let flow =
        Flow::new(UniformBox::new([0.0f32], [1.0]).unwrap(), Affine::new([2.0], [1.0]).unwrap());
    for x in [1.0f64, 1.5, 2.9] {
        assert!((flow.log_prob([x]).unwrap() - 0.5f64.ln()).abs() < 1e-14);
    }
    assert_eq!(flow.log_prob([3.5f64]).unwrap(), f64::NEG_INFINITY);
}
