//! Learning in the core: parameter gradients of the MLPs, the score network and every
//! score-matching loss against finite differences, the Hyvärinen identity, the sliced loss's
//! expectation, and bit-identical chunk gradients across lane widths.
//!
//! Finite differences: the parameters are `f32`, the loss is evaluated in `f64` (exact in the
//! `f32` parameters); the central difference uses the *representable* perturbed parameters
//! θ± = f32(θ ± h) with their actual difference as the denominator, h = 1e-3·max(1, |θ|), and one
//! Richardson step (4·D(h/2) − D(h))/3. Relative error: |g − fd| / max(|g|, |fd|, 1e-3·‖g‖∞).
//! Measured worst over all checks: printed with `--nocapture`; asserted ≤ 1e-6.

#![allow(clippy::needless_range_loop)]

use flowscore::dual::Dual;
use flowscore::flow::coupling::{AffineCoupling, BinaryMask};
use flowscore::flow::lu::LuLinear;
use flowscore::flow::{Affine, Bijector, Planar};
use flowscore::loss::energy::{LogDensity, TestEnergy};
use flowscore::loss::{
    Dsm, DsmLevels, ExplicitSm, Ism, Loss, Projection, Scratch, Ssm, Weighting, Workspace,
    chunk_gradient, record_len,
};
use flowscore::loss::{FlowNll, ReverseKl};
use flowscore::nn::{
    Activation, Dense, Mlp, Network, TimeEmbedding, TimeFeature, TrainableNetwork,
};
use flowscore::params::Params;
use flowscore::rng::{LaneSource, Streams};
use flowscore::score::{LinearScore, NoiseLevel, OutputScale, ScoreModel, ScoreNet, SdeTime};
use flowscore::sde::{SubVp, Ve, Vp};
use flowscore::{Lane, Real};
use wide::{f32x4, f32x8};

/// Bound on every finite-difference relative error.
const FD_TOL: f64 = 1e-6;

fn params_of<M: Params>(m: &M) -> Vec<f32> {
    let mut p = vec![0.0f32; M::LEN];
    m.write_params(&mut p).unwrap();
    p
}

fn with_params<M: Params>(m: &M, p: &[f32]) -> M {
    let mut n = *m;
    n.read_params(p).unwrap();
    n
}

/// A copy of `m` with every parameter replaced by N(0, std²) draws (biases included).
fn randomized<M: Params>(m: &M, std: f32, seed: u64) -> M {
    let mut r = Streams::<f32>::new(seed, 99);
    let p: Vec<f32> = (0..M::LEN).map(|_| std * r.normal()).collect();
    with_params(m, &p)
}

/// The worst relative error of `grad` against Richardson-extrapolated central differences of
/// `loss` over every parameter.
fn fd_worst<M: Params>(m: &M, grad: &[f64], loss: impl Fn(&M) -> f64) -> f64 {
    let p0 = params_of(m);
    let gmax = grad.iter().fold(0.0f64, |a, g| a.max(g.abs()));
    let mut worst = 0.0f64;
    let mut p = p0.clone();
    for k in 0..M::LEN {
        let th = p0[k] as f64;
        let central = |h: f64, p: &mut Vec<f32>| {
            let plus = (th + h) as f32;
            let minus = (th - h) as f32;
            p[k] = plus;
            let lp = loss(&with_params(m, p));
            p[k] = minus;
            let lm = loss(&with_params(m, p));
            p[k] = p0[k];
            (lp - lm) / (plus as f64 - minus as f64)
        };
        let h = 1e-3 * th.abs().max(1.0);
        let fd = (4.0 * central(h / 2.0, &mut p) - central(h, &mut p)) / 3.0;
        let g = grad[k];
        let rel = (g - fd).abs() / g.abs().max(fd.abs()).max(1e-3 * gmax).max(1e-300);
        worst = worst.max(rel);
    }
    worst
}

/// Data points for the checks.
fn points<const D: usize>(n: usize, seed: u64) -> Vec<[f64; D]> {
    let mut r = Streams::<f64>::new(seed, 7);
    (0..n).map(|_| core::array::from_fn(|_| 1.5 * r.normal())).collect()
}

/// The summed loss over `xs` (sample i on stream (seed, i)) and its gradient, in f64.
fn loss_and_grad<const D: usize, M: Params, Lo: Loss<D, M>>(
    loss: &Lo,
    m: &M,
    xs: &[[f64; D]],
    seed: u64,
) -> (f64, Vec<f64>) {
    let mut grad = vec![0.0f64; M::LEN];
    let mut dual = vec![Dual::<f64, 1>::constant(0.0); M::LEN];
    let mut flat = vec![0.0f64; M::LEN];
    let mut scratch = Scratch { dual: &mut dual, flat: &mut flat };
    let mut total = 0.0;
    for (i, x) in xs.iter().enumerate() {
        let mut rng = Streams::<f64>::new(seed, i as u64);
        total += loss.loss_grad(m, x, &mut rng, &mut grad[..], &mut scratch);
    }
    (total, grad)
}

fn check_loss<const D: usize, M: Params, Lo: Loss<D, M>>(name: &str, loss: &Lo, m: &M) -> f64 {
    let xs = points::<D>(3, 11);
    let (_, grad) = loss_and_grad(loss, m, &xs, 5);
    let worst = fd_worst(m, &grad, |mm| loss_and_grad(loss, mm, &xs, 5).0);
    println!("{name}: worst relative FD error {worst:.2e} over {} parameters", M::LEN);
    assert!(worst <= FD_TOL, "{name}: {worst:e}");
    worst
}

type VpNet = ScoreNet<SdeTime<Vp>, 2, 4, 10, 8, 1>;

fn vp_net(act: Activation, seed: u64) -> VpNet {
    let emb = TimeEmbedding::fourier(4.0, TimeFeature::Time { scale: 1.0 }, seed).unwrap();
    let net = ScoreNet::init(act, emb, SdeTime(Vp::default()), OutputScale::InverseSigma, seed);
    randomized(&net, 0.4, seed)
}

#[test]
fn mlp_gradients_match_finite_differences() {
    fn check<const EXTRA: usize>(act: Activation) -> f64 {
        let net = randomized(&Mlp::<3, 6, 2, EXTRA>::init(act, 1), 0.5, 3);
        let xs = points::<3>(4, 2);
        let u = [0.7f64, -1.3];
        let value = |m: &Mlp<3, 6, 2, EXTRA>| -> f64 {
            xs.iter()
                .map(|x| {
                    let y = m.forward(x);
                    u[0] * y[0] + u[1] * y[1]
                })
                .sum()
        };
        let mut grad = vec![0.0f64; <Mlp<3, 6, 2, EXTRA> as Params>::LEN];
        for x in &xs {
            let (y, tape) = net.forward_tape(x);
            assert_eq!(y, net.forward(x), "forward_tape must equal forward");
            net.backward_params(x, &tape, &u, &mut grad[..]);
        }
        let worst = fd_worst(&net, &grad, value);
        println!("mlp {act:?} EXTRA={EXTRA}: {worst:.2e}");
        assert!(worst <= FD_TOL, "{act:?} {EXTRA}: {worst:e}");
        worst
    }
    for act in [Activation::Tanh, Activation::Relu, Activation::Silu, Activation::Softplus] {
        check::<0>(act);
        check::<1>(act);
        check::<2>(act);
    }
}

#[test]
fn mlp_backward_is_the_transpose_of_the_dual_jacobian() {
    // ⟨u, J v⟩ by the backward (x̄ = Jᵀu, then ·v) and by a dual (J v, then ·u).
    let net = randomized(&Mlp::<4, 7, 3, 1>::init(Activation::Silu, 4), 0.6, 8);
    let mut r = Streams::<f64>::new(3, 0);
    let mut worst = 0.0f64;
    for _ in 0..20 {
        let x: [f64; 4] = r.normal_array();
        let v: [f64; 4] = r.normal_array();
        let u: [f64; 3] = r.normal_array();
        let (_, tape) = net.forward_tape(&x);
        let mut g = vec![0.0; <Mlp<4, 7, 3, 1> as Params>::LEN];
        let xbar = net.backward(&x, &tape, &u, &mut g[..]);
        let by_backward: f64 = (0..4).map(|i| xbar[i] * v[i]).sum();
        let xd: [Dual<f64, 1>; 4] = core::array::from_fn(|i| Dual::new(x[i], [v[i]]));
        let yd = net.forward(&xd);
        let by_dual: f64 = (0..3).map(|o| u[o] * yd[o].eps[0]).sum();
        worst = worst.max((by_backward - by_dual).abs() / by_dual.abs().max(1e-12));
    }
    println!("<u, Jv>: backward vs dual, worst relative {worst:.2e}");
    assert!(worst < 1e-12, "{worst:e}");
}

/// A Gaussian score s*(x) = −(x − μ)/s² for the explicit loss.
struct GaussScore {
    mu: [f64; 2],
    s2: f64,
}

impl ScoreModel<2> for GaussScore {
    fn score<R: Real>(&self, x: &[R; 2], _t: R) -> [R; 2] {
        core::array::from_fn(|i| (R::from_f64(self.mu[i]) - x[i]) / R::from_f64(self.s2))
    }
}

#[test]
fn score_losses_gradients_match_finite_differences() {
    let mut worst = 0.0f64;
    for (k, act) in
        [Activation::Silu, Activation::Tanh, Activation::Softplus].into_iter().enumerate()
    {
        let net = vp_net(act, 10 + k as u64);
        worst = worst.max(check_loss("dsm vp σ²", &Dsm::standard(Vp::default()), &net));
        let lik = Dsm::new(Vp::default(), 1e-5, Weighting::Likelihood).unwrap();
        worst = worst.max(check_loss("dsm vp g²", &lik, &net));
    }
    // VE with τ = ln σ_t Fourier features, sub-VP with the sinusoidal embedding.
    let emb = TimeEmbedding::fourier(16.0, TimeFeature::LogSigma, 3).unwrap();
    let ve = ScoreNet::<_, 2, 4, 10, 8, 1>::init(
        Activation::Silu,
        emb,
        SdeTime(Ve::default()),
        OutputScale::InverseSigma,
        3,
    );
    let ve = randomized(&ve, 0.4, 4);
    worst = worst.max(check_loss("dsm ve σ²", &Dsm::standard(Ve::default()), &ve));
    let lik = Dsm::new(Ve::default(), 1e-5, Weighting::Likelihood).unwrap();
    worst = worst.max(check_loss("dsm ve g²", &lik, &ve));
    let sub = ScoreNet::<_, 2, 4, 10, 8, 0>::init(
        Activation::Tanh,
        TimeEmbedding::sinusoidal(),
        SdeTime(SubVp::default()),
        OutputScale::Unscaled,
        5,
    );
    let sub = randomized(&sub, 0.4, 6);
    worst = worst.max(check_loss("dsm subvp σ²", &Dsm::standard(SubVp::default()), &sub));
    // NCSN: noise-conditional network, discrete levels.
    let emb = TimeEmbedding::fourier(1.0, TimeFeature::LogSigma, 7).unwrap();
    let ncsn = ScoreNet::<_, 2, 4, 10, 8, 1>::init(
        Activation::Softplus,
        emb,
        NoiseLevel,
        OutputScale::InverseSigma,
        7,
    );
    let ncsn = randomized(&ncsn, 0.4, 8);
    worst = worst.max(check_loss("dsm levels", &DsmLevels::new(1.0, 0.01, 10).unwrap(), &ncsn));
    // Explicit, sliced (both projections, both forms) and implicit at a fixed time.
    let net = vp_net(Activation::Silu, 20);
    let target = GaussScore { mu: [0.5, -1.0], s2: 2.0 };
    worst = worst.max(check_loss("esm", &ExplicitSm::new(&target, 0.3), &net));
    for proj in [Projection::Rademacher, Projection::Gaussian] {
        for vr in [false, true] {
            let ssm = Ssm::new(proj, vr, 0.3).unwrap();
            worst = worst.max(check_loss(&format!("ssm {proj:?} vr={vr}"), &ssm, &net));
        }
    }
    worst = worst.max(check_loss("ism", &Ism::new(0.3).unwrap(), &net));
    println!("score losses: worst relative FD error {worst:.2e}");
}

/// A two-component isotropic mixture in f64: density and score.
struct Mix2 {
    w: [f64; 2],
    mu: [[f64; 2]; 2],
    s: [f64; 2],
}

impl Mix2 {
    fn density(&self, x: &[f64; 2]) -> f64 {
        (0..2)
            .map(|k| {
                let d2 = (x[0] - self.mu[k][0]).powi(2) + (x[1] - self.mu[k][1]).powi(2);
                self.w[k] * (-0.5 * d2 / self.s[k].powi(2)).exp()
                    / (std::f64::consts::TAU * self.s[k].powi(2))
            })
            .sum()
    }
}

impl ScoreModel<2> for Mix2 {
    fn score<R: Real>(&self, x: &[R; 2], _t: R) -> [R; 2] {
        let mut num = [R::zero(); 2];
        let mut den = R::zero();
        for k in 0..2 {
            let s2 = R::from_f64(self.s[k] * self.s[k]);
            let d: [R; 2] = core::array::from_fn(|i| x[i] - R::from_f64(self.mu[k][i]));
            let p = R::from_f64(self.w[k] / (std::f64::consts::TAU * self.s[k] * self.s[k]))
                * (-(d[0] * d[0] + d[1] * d[1]) / (R::from_f64(2.0) * s2)).exp();
            for i in 0..2 {
                num[i] -= p * d[i] / s2;
            }
            den += p;
        }
        [num[0] / den, num[1] / den]
    }
}

#[test]
fn hyvarinen_identity_holds_by_quadrature() {
    // ½·E‖s_θ − s*‖² = E[½‖s_θ‖² + tr ∂s_θ] + ½·E‖s*‖², so ISM(θ) − ½·ESM(θ) = −½·E‖s*‖² for
    // every θ. Expectations by the midpoint rule on [−8, 8]² (spacing 0.04: spectrally
    // accurate for these smooth, Gaussian-decaying integrands).
    let data = Mix2 { w: [0.6, 0.4], mu: [[1.0, 0.0], [-1.0, 1.0]], s: [0.5, 0.8] };
    let n = 400;
    let h = 16.0 / n as f64;
    let grid: Vec<([f64; 2], f64)> = (0..n * n)
        .map(|k| {
            let x = [-8.0 + h * ((k % n) as f64 + 0.5), -8.0 + h * ((k / n) as f64 + 0.5)];
            let w = data.density(&x) * h * h;
            (x, w)
        })
        .collect();
    let mass: f64 = grid.iter().map(|g| g.1).sum();
    assert!((mass - 1.0).abs() < 1e-12, "quadrature mass {mass}");
    let fisher: f64 = grid
        .iter()
        .map(|(x, w)| {
            let s = data.score(x, 0.0);
            w * (s[0] * s[0] + s[1] * s[1])
        })
        .sum();
    let constant = -0.5 * fisher;
    let ism = Ism::new(1.0).unwrap();
    let esm = ExplicitSm::new(&data, 1.0);
    let mut diffs = vec![];
    for seed in 0..4u64 {
        let emb = TimeEmbedding::fourier(1.0, TimeFeature::LogSigma, seed).unwrap();
        let net = ScoreNet::<_, 2, 2, 6, 16, 1>::init(
            Activation::Tanh,
            emb,
            NoiseLevel,
            OutputScale::Unscaled,
            seed,
        );
        let net = randomized(&net, 0.5, 100 + seed);
        let mut g = vec![0.0f64; <ScoreNet<NoiseLevel, 2, 2, 6, 16, 1> as Params>::LEN];
        let mut dual = vec![Dual::<f64, 1>::constant(0.0); g.len()];
        let mut flat = vec![0.0f64; g.len()];
        let mut sc = Scratch { dual: &mut dual, flat: &mut flat };
        let mut rng = Streams::<f64>::new(0, 0);
        let (mut ei, mut ee) = (0.0, 0.0);
        for (x, w) in &grid {
            ei += w * ism.loss_grad(&net, x, &mut rng, &mut g[..], &mut sc);
            ee += w * esm.loss_grad(&net, x, &mut rng, &mut g[..], &mut sc);
        }
        diffs.push((ei, ee, ei - 0.5 * ee));
    }
    for (ei, ee, d) in &diffs {
        println!("ISM {ei:.9} ESM {ee:.9} ISM − ESM/2 {d:.12} (−½E‖s*‖² = {constant:.12})");
        assert!((d - constant).abs() <= 1e-6 * constant.abs(), "{d} vs {constant}");
    }
    // The losses themselves differ between parameter values: the identity is not vacuous.
    assert!((diffs[0].0 - diffs[1].0).abs() > 1e-2);
}

#[test]
fn sliced_loss_is_unbiased_for_the_implicit_loss() {
    // For each of 4 points, the mean of N sliced losses (fresh projections) against the implicit
    // loss: z = (mean − ism)/(sd/√N). |z| < 4.5 has two-sided p = 6.8e-6 per check; 16 checks of
    // the value and 16·3 of gradient coordinates: family-wise p < 4.4e-4.
    let net = vp_net(Activation::Silu, 30);
    let ism = Ism::new(0.3).unwrap();
    let p = VpNet::LEN;
    let n = 20_000;
    for x in points::<2>(4, 31) {
        let mut gi = vec![0.0; p];
        let mut dual = vec![Dual::<f64, 1>::constant(0.0); p];
        let mut flat = vec![0.0f64; p];
        let mut sc = Scratch { dual: &mut dual, flat: &mut flat };
        let li = ism.loss_grad(&net, &x, &mut Streams::<f64>::new(0, 0), &mut gi[..], &mut sc);
        for proj in [Projection::Rademacher, Projection::Gaussian] {
            for vr in [false, true] {
                let ssm = Ssm::new(proj, vr, 0.3).unwrap();
                let coords = [0usize, p / 2, p - 1];
                let mut vals = vec![];
                let mut grads: Vec<Vec<f64>> = vec![vec![]; coords.len()];
                for i in 0..n {
                    let mut g = vec![0.0; p];
                    let mut rng = Streams::<f64>::new(77, i as u64);
                    vals.push(ssm.loss_grad(&net, &x, &mut rng, &mut g[..], &mut sc));
                    for (c, &k) in coords.iter().enumerate() {
                        grads[c].push(g[k]);
                    }
                }
                let z = |v: &[f64], target: f64| {
                    let m = v.iter().sum::<f64>() / v.len() as f64;
                    let var = v.iter().map(|a| (a - m).powi(2)).sum::<f64>() / (v.len() - 1) as f64;
                    // A coordinate that does not depend on the projection has zero variance:
                    // then only rounding may separate the mean from the target.
                    let se = (var / v.len() as f64).sqrt().max(1e-12 * target.abs().max(1.0));
                    (m - target) / se
                };
                let zv = z(&vals, li);
                assert!(zv.abs() < 4.5, "{proj:?} vr={vr}: value z = {zv}");
                for (c, &k) in coords.iter().enumerate() {
                    let zg = z(&grads[c], gi[k]);
                    assert!(zg.abs() < 4.5, "{proj:?} vr={vr}: grad[{k}] z = {zg}");
                }
            }
        }
    }
}

/// Buffers for [`chunk_gradient`] on lane `L`.
struct Bufs<L: Lane> {
    slots: Vec<L>,
    record: Vec<L>,
    dual: Vec<Dual<L, 1>>,
    flat: Vec<L>,
    dual_s: Vec<Dual<f32, 1>>,
    flat_s: Vec<f32>,
}

impl<L: Lane<Scalar = f32>> Bufs<L> {
    fn new<const D: usize, M: Params, Lo: Loss<D, M>>(loss: &Lo, m: &M) -> Self {
        let p = M::LEN;
        let z = <L as Real>::zero();
        let mut b = Self {
            slots: vec![z; p * (8 / L::LANES)],
            record: vec![],
            dual: vec![Dual::constant(z); p],
            flat: vec![z; p],
            dual_s: vec![Dual::constant(0.0); p],
            flat_s: vec![0.0; p],
        };
        let n = record_len::<L, D, M, Lo>(
            loss,
            m,
            &mut Scratch { dual: &mut b.dual, flat: &mut b.flat },
        );
        b.record = vec![z; n];
        b
    }
    fn run<const D: usize, M: Params, Lo: Loss<D, M>>(
        &mut self,
        loss: &Lo,
        m: &M,
        data: &[[f32; D]],
        seed: u64,
        out: &mut [f32],
    ) -> Result<f64, flowscore::Error> {
        let mut ws = Workspace {
            slots: &mut self.slots,
            record: &mut self.record,
            scratch: Scratch { dual: &mut self.dual, flat: &mut self.flat },
            scratch_scalar: Scratch { dual: &mut self.dual_s, flat: &mut self.flat_s },
        };
        chunk_gradient::<L, D, M, Lo>(loss, m, data, seed, 1000, &mut ws, out)
    }
}

/// The chunk gradient on lane `L` for `data`.
fn chunk_on<L: Lane<Scalar = f32>, const D: usize, M: Params, Lo: Loss<D, M>>(
    loss: &Lo,
    m: &M,
    data: &[[f32; D]],
) -> (f64, Vec<u32>) {
    let mut out = vec![0.0f32; M::LEN];
    let l = Bufs::<L>::new(loss, m).run(loss, m, data, 9, &mut out).unwrap();
    (l, out.iter().map(|v| v.to_bits()).collect())
}

/// The plain sum of per-sample f32 gradients (no blocking): the blocked sum must agree with it
/// to rounding.
fn plain_sum<const D: usize, M: Params, Lo: Loss<D, M>>(
    loss: &Lo,
    m: &M,
    data: &[[f32; D]],
) -> Vec<f64> {
    let p = M::LEN;
    let mut total = vec![0.0f64; p];
    let mut dual = vec![Dual::<f32, 1>::constant(0.0); p];
    let mut flat = vec![0.0f32; p];
    for (i, x) in data.iter().enumerate() {
        let mut g = vec![0.0f32; p];
        let mut rng = Streams::<f32>::new(9, 1000 + i as u64);
        let mut sc = Scratch { dual: &mut dual, flat: &mut flat };
        loss.loss_grad(m, x, &mut rng, &mut g[..], &mut sc);
        for (t, v) in total.iter_mut().zip(g) {
            *t += v as f64;
        }
    }
    total
}

fn check_lanes<const D: usize, M: Params, Lo: Loss<D, M>>(name: &str, loss: &Lo, m: &M) {
    for n in [1usize, 7, 8, 13, 100] {
        let data: Vec<[f32; D]> =
            points::<D>(n, 40 + n as u64).iter().map(|x| x.map(|v| v as f32)).collect();
        let a = chunk_on::<f32, D, M, Lo>(loss, m, &data);
        let b = chunk_on::<f32x4, D, M, Lo>(loss, m, &data);
        let c = chunk_on::<f32x8, D, M, Lo>(loss, m, &data);
        assert_eq!(a.1, b.1, "{name} n={n}: f32 vs f32x4 gradient bits");
        assert_eq!(a.1, c.1, "{name} n={n}: f32 vs f32x8 gradient bits");
        assert_eq!(a.0.to_bits(), c.0.to_bits(), "{name} n={n}: loss sums");
        assert!(a.1.iter().any(|&g| g != 0), "{name}: a zero gradient proves nothing");
        // The blocked reduction sums the same terms: it equals the plain sum to f32 rounding.
        let plain = plain_sum(loss, m, &data);
        let scale = plain.iter().fold(0.0f64, |a, v| a.max(v.abs()));
        for (k, (&bits, &want)) in c.1.iter().zip(plain.iter()).enumerate() {
            let got = f32::from_bits(bits) as f64;
            assert!(
                (got - want).abs() <= 1e-5 * scale.max(1e-30),
                "{name} n={n} [{k}]: {got} vs {want}"
            );
        }
    }
}

#[test]
fn chunk_gradients_are_bit_identical_across_lane_widths() {
    let net = vp_net(Activation::Silu, 50);
    check_lanes("dsm vp", &Dsm::standard(Vp::default()), &net);
    check_lanes("ssm", &Ssm::new(Projection::Rademacher, true, 0.3).unwrap(), &net);
    check_lanes("ism", &Ism::new(0.3).unwrap(), &net);
    let emb = TimeEmbedding::fourier(1.0, TimeFeature::LogSigma, 7).unwrap();
    let ncsn = ScoreNet::<_, 2, 4, 10, 8, 1>::init(
        Activation::Relu,
        emb,
        NoiseLevel,
        OutputScale::InverseSigma,
        7,
    );
    check_lanes("dsm levels", &DsmLevels::new(1.0, 0.01, 10).unwrap(), &ncsn);
}

#[test]
fn chunk_gradient_rejects_bad_buffers() {
    let net = vp_net(Activation::Silu, 50);
    let loss = Dsm::standard(Vp::default());
    let mut out = vec![0.0f32; VpNet::LEN];
    let mut b = Bufs::<f32x8>::new(&loss, &net);
    b.slots.pop();
    assert!(b.run(&loss, &net, &[[0.0f32; 2]; 16], 0, &mut out).is_err());
    let mut b = Bufs::<f32x8>::new(&loss, &net);
    b.record.truncate(b.record.len() / 2);
    assert!(b.run(&loss, &net, &[[0.0f32; 2]; 64], 0, &mut out).is_err());
    assert!(b.run(&loss, &net, &[[0.0f32; 2]; 64], 0, &mut out[1..]).is_err());
    // A non-finite data point gives a non-finite loss and gradient: reported (the loss is
    // checked first), not returned as Ok.
    let mut b = Bufs::<f32x8>::new(&loss, &net);
    let mut data = [[0.5f32; 2]; 16];
    data[3][0] = f32::NAN;
    assert_eq!(b.run(&loss, &net, &data, 0, &mut out), Err(flowscore::Error::NonFinite("loss")));
    // A finite loss with a non-finite gradient is reported as such: an overflowing cotangent.
    let mut data = [[0.5f32; 2]; 16];
    data[5] = [3e38, 3e38];
    let r = b.run(&loss, &net, &data, 0, &mut out);
    assert!(matches!(r, Err(flowscore::Error::NonFinite(_))), "{r:?}");
}

/// Points of N(μ, Σ) whose sample mean and covariance are μ and Σ exactly (up to f32 rounding):
/// draws whitened by their own moments, then coloured by chol(Σ).
fn exact_moment_gaussian(n: usize, mu: [f64; 2], sigma: [[f64; 2]; 2], seed: u64) -> Vec<[f32; 2]> {
    let raw = points::<2>(n, seed);
    let m: [f64; 2] = core::array::from_fn(|i| raw.iter().map(|x| x[i]).sum::<f64>() / n as f64);
    let mut c = [[0.0f64; 2]; 2];
    for x in &raw {
        for i in 0..2 {
            for j in 0..2 {
                c[i][j] += (x[i] - m[i]) * (x[j] - m[j]) / n as f64;
            }
        }
    }
    let chol = |a: [[f64; 2]; 2]| {
        let l00 = a[0][0].sqrt();
        let l10 = a[1][0] / l00;
        [[l00, 0.0], [l10, (a[1][1] - l10 * l10).sqrt()]]
    };
    let lc = chol(c);
    let ls = chol(sigma);
    raw.iter()
        .map(|x| {
            let d = [x[0] - m[0], x[1] - m[1]];
            let w0 = d[0] / lc[0][0];
            let w1 = (d[1] - lc[1][0] * w0) / lc[1][1];
            [(mu[0] + ls[0][0] * w0) as f32, (mu[1] + ls[1][0] * w0 + ls[1][1] * w1) as f32]
        })
        .collect()
}

/// Train a linear score model with the core's Adam (lr 2e-2, 2e-3, 2e-4, 2e-5 for a quarter of
/// the steps each; an EMA of rate 0.9995 restarted at each switch) on `data`, f32x8 chunk gradients, fresh draws every step.
fn train_linear<Lo: Loss<2, LinearScore<2>>>(loss: &Lo, data: &[[f32; 2]], steps: u64) -> [f64; 6] {
    use flowscore::optim::{Adam, AdamConfig, Ema};
    let mut model = LinearScore { map: Dense::from_params([[0.0; 2]; 2], [0.0; 2]).unwrap() };
    let p = LinearScore::<2>::LEN;
    let mut params = params_of(&model);
    let (mut m, mut v) = (vec![0.0f32; p], vec![0.0f32; p]);
    let mut avg = params.clone();
    let mut ema = Ema::new(0.9995).unwrap();
    let mut adam = Adam::new(AdamConfig::adam(2e-2)).unwrap();
    let mut bufs = Bufs::<f32x8>::new(loss, &model);
    let mut grad = vec![0.0f32; p];
    for step in 0..steps {
        if step > 0 && step % (steps / 4) == 0 {
            let n = adam.step_count();
            let lr = 2e-2 / 10f32.powi((step / (steps / 4)) as i32);
            adam = Adam::new(AdamConfig::adam(lr)).unwrap();
            adam.set_step_count(n);
            ema.reset(&mut avg, &params).unwrap();
        }
        bufs.run(loss, &model, data, step, &mut grad).unwrap();
        for g in grad.iter_mut() {
            *g /= data.len() as f32;
        }
        adam.step(&mut params, &grad, &mut m, &mut v).unwrap();
        model.read_params(&params).unwrap();
        if step >= steps / 4 {
            ema.update(&mut avg, &params).unwrap();
        }
    }
    core::array::from_fn(|k| avg[k] as f64)
}

#[test]
fn score_matching_recovers_the_gaussian_optimum() {
    // For x ~ N(μ, Σ) and s(x) = A x + b every objective is minimised at A = −Σ⁻¹, b = Σ⁻¹μ;
    // DSM at noise level σ at −(Σ + σ²I)⁻¹ and (Σ + σ²I)⁻¹μ (MATH.md §7). The data have exactly
    // the moments μ, Σ, so the remaining error is the optimiser's and the random draws'.
    let mu = [0.5, -0.3];
    let sigma = [[1.0, 0.3], [0.3, 0.6]];
    let data = exact_moment_gaussian(8192, mu, sigma, 3);
    let optimum = |s: [[f64; 2]; 2]| {
        let det = s[0][0] * s[1][1] - s[0][1] * s[1][0];
        let inv = [[s[1][1] / det, -s[0][1] / det], [-s[1][0] / det, s[0][0] / det]];
        let b = [inv[0][0] * mu[0] + inv[0][1] * mu[1], inv[1][0] * mu[0] + inv[1][1] * mu[1]];
        [-inv[0][0], -inv[0][1], -inv[1][0], -inv[1][1], b[0], b[1]]
    };
    let err = |got: [f64; 6], want: [f64; 6]| {
        got.iter().zip(want.iter()).fold(0.0f64, |a, (g, w)| a.max((g - w).abs()))
    };
    let target = optimum(sigma);
    let steps = 12_000;
    let truth = TrueGaussianScore { mu, sigma };
    let e = err(train_linear(&ExplicitSm::new(&truth, 0.0), &data, steps), target);
    println!("explicit: max error {e:.2e}");
    assert!(e < 1e-3, "explicit {e}");
    let e = err(train_linear(&Ism::new(0.0).unwrap(), &data, steps), target);
    println!("implicit: max error {e:.2e}");
    assert!(e < 1e-3, "implicit {e}");
    for vr in [false, true] {
        let ssm = Ssm::new(Projection::Rademacher, vr, 0.0).unwrap();
        let e = err(train_linear(&ssm, &data, steps), target);
        println!("sliced (vr = {vr}): max error {e:.2e}");
        assert!(e < 1e-3, "sliced vr={vr}: {e}");
    }
    let s = 0.5f64;
    let noisy = [[sigma[0][0] + s * s, sigma[0][1]], [sigma[1][0], sigma[1][1] + s * s]];
    let dsm = DsmLevels::new(s as f32, s as f32, 1).unwrap();
    let e = err(train_linear(&dsm, &data, steps), optimum(noisy));
    println!("denoising (σ = {s}): max error {e:.2e}");
    assert!(e < 1e-3, "dsm {e}");
}

/// The exact score −Σ⁻¹(x − μ) of N(μ, Σ).
struct TrueGaussianScore {
    mu: [f64; 2],
    sigma: [[f64; 2]; 2],
}

impl ScoreModel<2> for TrueGaussianScore {
    fn score<R: Real>(&self, x: &[R; 2], _t: R) -> [R; 2] {
        let s = self.sigma;
        let det = s[0][0] * s[1][1] - s[0][1] * s[1][0];
        let inv = [[s[1][1] / det, -s[0][1] / det], [-s[1][0] / det, s[0][0] / det]];
        let d = [x[0] - R::from_f64(self.mu[0]), x[1] - R::from_f64(self.mu[1])];
        core::array::from_fn(|i| -(R::from_f64(inv[i][0]) * d[0] + R::from_f64(inv[i][1]) * d[1]))
    }
}

// ---------------------------------------------------------------------------------------------
// Flow losses: maximum likelihood and reverse KL.

type Nvp = [AffineCoupling<2, 2, Mlp<2, 8, 2, 1>>; 4];

fn nvp(seed: u64) -> Nvp {
    core::array::from_fn(|k| {
        let net = randomized(
            &Mlp::<2, 8, 2, 1>::init(Activation::Tanh, seed + k as u64),
            0.3,
            seed + k as u64,
        );
        AffineCoupling::new(BinaryMask::alternating(k % 2).unwrap(), net).unwrap()
    })
}

#[test]
fn flow_nll_chunk_gradients_are_bit_identical_across_lane_widths() {
    check_lanes("flow nll realnvp", &FlowNll, &nvp(3));
}

/// A stack of planar layers with varied parameters.
fn planars<const K: usize>() -> [Planar<2>; K] {
    core::array::from_fn(|k| {
        let f = k as f32;
        Planar::new(
            [0.5 - 0.15 * f, 0.3 + 0.1 * f],
            [0.4 + 0.05 * f, -0.6 + 0.2 * f],
            0.1 * f - 0.2,
        )
        .unwrap()
    })
}

#[test]
fn flow_loss_chunk_gradients_equal_the_plain_sum() {
    // The flow losses hand the chunk's sink to the layers' backward passes (dense calls for the
    // conditioners, adds for the elementwise parameters): the blocked sums must be the same on
    // every lane width and equal the plain per-sample sums to f32 rounding.
    type WideNvp = [AffineCoupling<2, 2, Mlp<2, 16, 2, 1>>; 4];
    let wide: WideNvp = core::array::from_fn(|k| {
        let net = randomized(
            &Mlp::<2, 16, 2, 1>::init(Activation::Tanh, 20 + k as u64),
            0.3,
            20 + k as u64,
        );
        AffineCoupling::new(BinaryMask::alternating(k % 2).unwrap(), net).unwrap()
    });
    check_lanes("flow nll realnvp 2x16", &FlowNll, &wide);
    check_lanes("flow nll realnvp 2x8", &FlowNll, &nvp(11));
    let stack = planars::<8>();
    for energy in [TestEnergy::U1, TestEnergy::U2, TestEnergy::U3, TestEnergy::U4] {
        check_lanes(&format!("reverse kl planar {energy:?}"), &ReverseKl::new(energy), &stack);
    }
    let mixed = (
        Affine::new([1.2, 0.8], [0.1, -0.2]).unwrap(),
        planars::<3>(),
        LuLinear::from_params(
            [1, 0],
            [[0.0, 0.0], [0.3, 0.0]],
            [[0.0, -0.2], [0.0, 0.0]],
            [1.1, 0.9],
        )
        .unwrap(),
    );
    check_lanes("reverse kl affine-planar-lu", &ReverseKl::new(TestEnergy::U2), &mixed);
    // No flat scratch is needed any more.
    let model = nvp(3);
    let data: Vec<[f32; 2]> = points::<2>(77, 5).iter().map(|x| x.map(|v| v as f32)).collect();
    let p = Nvp::LEN;
    let mut slots = vec![f32x8::ZERO; p];
    let n = record_len::<f32x8, 2, Nvp, FlowNll>(
        &FlowNll,
        &model,
        &mut Scratch { dual: &mut [], flat: &mut [] },
    );
    let mut record = vec![f32x8::ZERO; n];
    let mut ws = Workspace {
        slots: &mut slots,
        record: &mut record,
        scratch: Scratch { dual: &mut [], flat: &mut [] },
        scratch_scalar: Scratch { dual: &mut [], flat: &mut [] },
    };
    let mut out = vec![0.0f32; p];
    chunk_gradient(&FlowNll, &model, &data, 9, 1000, &mut ws, &mut out).unwrap();
    let want = chunk_on::<f32x8, 2, Nvp, FlowNll>(&FlowNll, &model, &data).1;
    assert_eq!(out.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), want);
}

#[test]
fn reverse_kl_gradients_match_finite_differences() {
    type Stack = (Affine<2>, [Planar<2>; 4], LuLinear<2>);
    let stack: Stack = (
        Affine::new([1.2, 0.8], [0.1, -0.2]).unwrap(),
        core::array::from_fn(|k| {
            let f = k as f32;
            Planar::new([0.5 - 0.2 * f, 0.3 + 0.1 * f], [0.4 + 0.1 * f, -0.6 + 0.2 * f], 0.1 * f)
                .unwrap()
        }),
        LuLinear::from_params(
            [1, 0],
            [[0.0, 0.0], [0.3, 0.0]],
            [[0.0, -0.2], [0.0, 0.0]],
            [1.1, 0.9],
        )
        .unwrap(),
    );
    for energy in [TestEnergy::U1, TestEnergy::U2, TestEnergy::U3, TestEnergy::U4] {
        let loss = ReverseKl::new(energy);
        let xs = vec![[0.0f64; 2]; 4];
        let (_, grad) = loss_and_grad(&loss, &stack, &xs, 5);
        let worst = fd_worst(&stack, &grad, |m| loss_and_grad(&loss, m, &xs, 5).0);
        println!("reverse KL {energy:?}: worst relative FD error {worst:.2e}");
        assert!(worst <= FD_TOL, "{energy:?}: {worst:e}");
    }
}

/// N(μ, Σ) up to its normalising constant.
struct GaussEnergy {
    mu: [f64; 2],
    prec: [[f64; 2]; 2],
}

impl LogDensity<2> for GaussEnergy {
    fn log_density<R: Real>(&self, x: &[R; 2]) -> R {
        let d = [x[0] - R::from_f64(self.mu[0]), x[1] - R::from_f64(self.mu[1])];
        let mut q = R::zero();
        for i in 0..2 {
            for j in 0..2 {
                q += R::from_f64(self.prec[i][j]) * d[i] * d[j];
            }
        }
        R::from_f64(-0.5) * q
    }
}

#[test]
fn reverse_kl_fits_a_gaussian_exactly() {
    // q = N(μ, Σ) is in the family x = L·a ⊙ z + b (affine, LU): at the optimum the per-sample
    // loss log q − log p̃ is the constant −log Z for every z, so KL = mean loss + log Z → 0 and
    // the flow's mean and covariance → μ, Σ.
    use flowscore::optim::{Adam, AdamConfig, Ema};
    let mu = [1.0, -0.5];
    let sigma = [[0.8f64, 0.3], [0.3, 0.5]];
    let det = sigma[0][0] * sigma[1][1] - sigma[0][1] * sigma[1][0];
    let prec = [[sigma[1][1] / det, -sigma[0][1] / det], [-sigma[1][0] / det, sigma[0][0] / det]];
    let log_z = (std::f64::consts::TAU * det.sqrt()).ln();
    let loss = ReverseKl::new(GaussEnergy { mu, prec });
    type Fit = (Affine<2>, LuLinear<2>);
    let z2 = [[0.0f32; 2]; 2];
    let mut model: Fit = (
        Affine::new([1.0, 1.0], [0.0, 0.0]).unwrap(),
        LuLinear::from_params([0, 1], z2, z2, [1.0, 1.0]).unwrap(),
    );
    let p = Fit::LEN;
    let mut params = params_of(&model);
    let (mut m, mut v) = (vec![0.0f32; p], vec![0.0f32; p]);
    let mut adam = Adam::new(AdamConfig::adam(1e-2)).unwrap();
    let mut ema = Ema::new(0.999).unwrap();
    let mut avg = params.clone();
    let mut bufs = Bufs::<f32x8>::new(&loss, &model);
    let batch = vec![[0.0f32; 2]; 8192];
    let mut grad = vec![0.0f32; p];
    for step in 0..6000u64 {
        if step > 0 && step % 2000 == 0 {
            // lr 1e-2, 1e-3, 1e-4, and an EMA restarted at each switch: the per-sample
            // gradients do not vanish at the optimum (only their mean does), and Adam's
            // normalised steps jitter at the lr's scale.
            let n = adam.step_count();
            adam = Adam::new(AdamConfig::adam(1e-2 / 10f32.powi((step / 2000) as i32))).unwrap();
            ema.reset(&mut avg, &params).unwrap();
            adam.set_step_count(n);
        }
        bufs.run(&loss, &model, &batch, step, &mut grad).unwrap();
        for g in grad.iter_mut() {
            *g /= batch.len() as f32;
        }
        adam.step(&mut params, &grad, &mut m, &mut v).unwrap();
        model.read_params(&params).unwrap();
        ema.update(&mut avg, &params).unwrap();
    }
    model.read_params(&avg).unwrap();
    let l = bufs.run(&loss, &model, &vec![[0.0f32; 2]; 65_536], 1 << 40, &mut grad).unwrap();
    let kl = l / 65_536.0 + log_z;
    // The fitted map x = W z + c: its mean c and covariance W Wᵀ, from the layers' action.
    let apply = |z: [f64; 2]| model.forward(z).0;
    let c = apply([0.0, 0.0]);
    let w0 = apply([1.0, 0.0]);
    let w1 = apply([0.0, 1.0]);
    let w = [[w0[0] - c[0], w1[0] - c[0]], [w0[1] - c[1], w1[1] - c[1]]];
    let cov: [[f64; 2]; 2] =
        core::array::from_fn(|i| core::array::from_fn(|j| w[i][0] * w[j][0] + w[i][1] * w[j][1]));
    println!("reverse KL to N(μ, Σ): KL {kl:.2e}, mean {c:?}, covariance {cov:?}");
    assert!(kl.abs() < 1e-4, "KL {kl}");
    for i in 0..2 {
        assert!((c[i] - mu[i]).abs() < 1e-3, "mean {c:?}");
        for j in 0..2 {
            assert!((cov[i][j] - sigma[i][j]).abs() < 1e-3, "covariance {cov:?}");
        }
    }
}

#[test]
fn test_energy_gradients_match_finite_differences() {
    let mut r = Streams::<f64>::new(4, 0);
    for energy in [TestEnergy::U1, TestEnergy::U2, TestEnergy::U3, TestEnergy::U4] {
        for _ in 0..20 {
            let x: [f64; 2] = core::array::from_fn(|_| 2.0 * r.normal());
            let (v, g) = energy.grad(&x);
            assert!((v + energy.energy(&x)).abs() < 1e-15 * v.abs().max(1.0));
            for i in 0..2 {
                let h = 1e-5;
                let mut xp = x;
                let mut xm = x;
                xp[i] += h;
                xm[i] -= h;
                let fd = (energy.log_density(&xp) - energy.log_density(&xm)) / (2.0 * h);
                assert!(
                    (fd - g[i]).abs() <= 1e-6 * g[i].abs().max(1.0),
                    "{energy:?} {x:?}: {fd} vs {}",
                    g[i]
                );
            }
        }
    }
}
