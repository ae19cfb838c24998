//! Probability-flow log-likelihood against closed-form densities (MATH.md §6).
//!
//! The oracle is the exact perturbed density p_ε of a Gaussian (and of Gaussian mixtures):
//! under any of the SDEs, p_t = N(α_t μ, α_t² Σ + σ_t² I) (MATH.md §2).

use flowscore::Real;
use flowscore::likelihood::{
    ClosedFormDivergence, ExactDivergence, ExactPrior, Hutchinson, LogLik, PfConfig, Probe,
    SdePrior, pf_log_likelihood, pf_log_likelihood_batch,
};
use flowscore::rng::{LaneSource, Streams};
use flowscore::score::{ExactScoreModel, ScoreModel};
use flowscore::sde::{Sde, SubVp, Ve, Vp};

/// A Gaussian N(μ, diag(v)) perturbed by an SDE: p_t = N(α_t μ, α_t² v + σ_t²).
#[derive(Clone, Copy, Debug)]
struct DiagGauss<S, const D: usize> {
    sde: S,
    mu: [f64; D],
    var: [f64; D],
}

impl<S: Sde, const D: usize> DiagGauss<S, D> {
    fn moments<R: Real>(&self, t: R) -> ([R; D], [R; D]) {
        let (a, s) = self.sde.marginal(t);
        (
            core::array::from_fn(|i| a * R::from_f64(self.mu[i])),
            core::array::from_fn(|i| a * a * R::from_f64(self.var[i]) + s * s),
        )
    }
    fn sample(&self, n: usize, seed: u64) -> Vec<[f64; D]> {
        (0..n)
            .map(|i| {
                let mut s = Streams::<f64>::new(seed, i as u64);
                core::array::from_fn(|k| self.mu[k] + self.var[k].sqrt() * s.normal())
            })
            .collect()
    }
}

impl<S: Sde, const D: usize> ScoreModel<D> for DiagGauss<S, D> {
    fn score<R: Real>(&self, x: &[R; D], t: R) -> [R; D] {
        let (m, v) = self.moments(t);
        core::array::from_fn(|i| (m[i] - x[i]) / v[i])
    }
}

impl<S: Sde, const D: usize> ExactScoreModel<D> for DiagGauss<S, D> {
    fn log_density<R: Real>(&self, x: &[R; D], t: R) -> R {
        let (m, v) = self.moments(t);
        let mut acc = R::zero();
        for i in 0..D {
            let d = x[i] - m[i];
            acc += (R::from_f64(core::f64::consts::TAU) * v[i]).ln() + d * d / v[i];
        }
        R::from_f64(-0.5) * acc
    }
    fn divergence<R: Real>(&self, _x: &[R; D], t: R) -> R {
        let (_, v) = self.moments(t);
        let mut acc = R::zero();
        for vi in v {
            acc -= R::one() / vi;
        }
        acc
    }
}

/// Max |ODE − exact| over the points and mean NFE, f64 batch API, exact divergence and prior.
fn accuracy<M: ExactScoreModel<D>, S: Sde, const D: usize>(
    model: &M,
    sde: &S,
    xs: &[[f64; D]],
    cfg: &PfConfig,
) -> (f64, f64) {
    let mut out = vec![Err(flowscore::Error::NonFiniteState); xs.len()];
    pf_log_likelihood_batch(model, sde, &ExactDivergence, &ExactPrior(model), xs, 0, cfg, &mut out)
        .unwrap();
    let mut max_err = 0.0f64;
    let mut nfe = 0u64;
    for (x, r) in xs.iter().zip(&out) {
        let LogLik { log_p, nfe: n } = r.unwrap();
        let exact: f64 = model.log_density(x, cfg.eps);
        max_err = max_err.max((log_p - exact).abs());
        nfe += n as u64;
    }
    (max_err, nfe as f64 / xs.len() as f64)
}

/// 2-D standard Gaussian, 50 points from the data, ε = 1e-5, rtol = atol = 1e-5: every point
/// within 2e-3 nats, and mean NFE at most scipy RK45's on the same problem (VE 110, VP 43,
/// sub-VP 54). Measured: see the printed figures (`--nocapture`).
#[test]
fn standard_gaussian_matches_exact_and_scipy_nfe() {
    let cfg = PfConfig::new(1e-5, 1e-5);
    let ve = Ve::default();
    let vp = Vp::default();
    let sub = SubVp::default();
    let m_ve = DiagGauss { sde: ve, mu: [0.0; 2], var: [1.0; 2] };
    let m_vp = DiagGauss { sde: vp, mu: [0.0; 2], var: [1.0; 2] };
    let m_sub = DiagGauss { sde: sub, mu: [0.0; 2], var: [1.0; 2] };
    let xs = m_ve.sample(50, 7);
    for (name, (err, nfe), scipy) in [
        ("VE", accuracy(&m_ve, &ve, &xs, &cfg), 110.0),
        ("VP", accuracy(&m_vp, &vp, &xs, &cfg), 43.0),
        ("sub-VP", accuracy(&m_sub, &sub, &xs, &cfg), 54.0),
    ] {
        println!("standard Gaussian {name}: max err {err:.3e}, mean NFE {nfe:.1} (scipy {scipy})");
        assert!(err <= 2e-3, "{name}: {err}");
        assert!(nfe <= scipy, "{name}: mean NFE {nfe} > scipy {scipy}");
    }
}

/// A point's result is the same bits alone (f64 / f32) or in a batch (f64x4 / f32x8 + tail).
#[test]
fn batch_results_do_not_depend_on_lane_width() {
    let vp = Vp::default();
    let m = DiagGauss { sde: vp, mu: [1.0, -2.0, 0.5], var: [0.5, 2.0, 1.0] };
    let xs = m.sample(11, 3);
    let cfg = PfConfig::default();
    let div = Hutchinson::<2>::new(Probe::Rademacher, 99);
    let mut out = vec![Err(flowscore::Error::NonFiniteState); xs.len()];
    pf_log_likelihood_batch(&m, &vp, &div, &SdePrior(&vp), &xs, 40, &cfg, &mut out).unwrap();
    let xs32: Vec<[f32; 3]> = xs.iter().map(|x| x.map(|v| v as f32)).collect();
    let mut out32 = out.clone();
    pf_log_likelihood_batch(&m, &vp, &div, &SdePrior(&vp), &xs32, 40, &cfg, &mut out32).unwrap();
    for (i, x) in xs.iter().enumerate() {
        let one = pf_log_likelihood(&m, &vp, &div, &SdePrior(&vp), x, 40 + i as u64, &cfg)
            .unwrap()
            .lane(0)
            .unwrap();
        assert_eq!(out[i].unwrap().log_p.to_bits(), one.log_p.to_bits(), "f64 point {i}");
        assert_eq!(out[i].unwrap().nfe, one.nfe);
        let one32 = pf_log_likelihood(&m, &vp, &div, &SdePrior(&vp), &xs32[i], 40 + i as u64, &cfg)
            .unwrap()
            .lane(0)
            .unwrap();
        assert_eq!(out32[i].unwrap().log_p.to_bits(), one32.log_p.to_bits(), "f32 point {i}");
    }
}

/// Closed-form divergence and dual divergence give the same likelihood (to the solver's
/// tolerance; they differ only in rounding of ∇·F).
#[test]
fn closed_form_and_dual_divergence_agree() {
    let sub = SubVp::default();
    let m = DiagGauss { sde: sub, mu: [1.0, -2.0, 0.5, 3.0], var: [0.5, 2.0, 1.0, 0.1] };
    let cfg = PfConfig::new(1e-5, 1e-8);
    for x in m.sample(5, 11) {
        let a = pf_log_likelihood(&m, &sub, &ExactDivergence, &ExactPrior(&m), &x, 0, &cfg)
            .unwrap()
            .lane(0)
            .unwrap();
        let b = pf_log_likelihood(&m, &sub, &ClosedFormDivergence, &ExactPrior(&m), &x, 0, &cfg)
            .unwrap()
            .lane(0)
            .unwrap();
        let exact: f64 = m.log_density(&x, 1e-5);
        assert!((a.log_p - b.log_p).abs() < 1e-8, "{} vs {}", a.log_p, b.log_p);
        assert!((a.log_p - exact).abs() < 1e-6);
    }
}

/// Mean and the standard error of the mean; the sample variance and its standard error
/// ((m₄ − s⁴)/n, valid for any distribution with a fourth moment).
fn moments(xs: &[f64]) -> (f64, f64, f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    let m4 = xs.iter().map(|x| (x - mean).powi(4)).sum::<f64>() / n;
    (mean, (var / n).sqrt(), var, ((m4 - var * var) / n).sqrt())
}

/// Hutchinson estimates of one point's log-likelihood over `n` probe seeds.
fn hutchinson_runs<M: ExactScoreModel<D>, S: Sde, const D: usize, const P: usize>(
    model: &M,
    sde: &S,
    x: &[f64; D],
    probe: Probe,
    n: u64,
) -> Vec<f64> {
    let cfg = PfConfig::new(1e-5, 1e-6);
    (0..n)
        .map(|seed| {
            let div = Hutchinson::<P>::new(probe, 1000 + seed);
            pf_log_likelihood(model, sde, &div, &ExactPrior(model), x, 0, &cfg)
                .unwrap()
                .lane(0)
                .unwrap()
                .log_p
        })
        .collect()
}

/// Hutchinson is unbiased (mean of 400 single-probe estimates within 3 standard errors of the
/// exact-divergence value) and its variance falls like 1/M (var(M=1)/var(M=4) within 3
/// standard errors of 4), here with Gaussian probes on an anisotropic Gaussian under VP;
/// Rademacher probes are exact for its diagonal Jacobian.
fn check_hutchinson<M: ExactScoreModel<D>, S: Sde, const D: usize>(
    model: &M,
    sde: &S,
    x: &[f64; D],
    probe: Probe,
) {
    let cfg = PfConfig::new(1e-5, 1e-6);
    let exact = pf_log_likelihood(model, sde, &ExactDivergence, &ExactPrior(model), x, 0, &cfg)
        .unwrap()
        .lane(0)
        .unwrap()
        .log_p;
    let one = hutchinson_runs::<M, S, D, 1>(model, sde, x, probe, 400);
    let four = hutchinson_runs::<M, S, D, 4>(model, sde, x, probe, 400);
    let (m1, se1, v1, sv1) = moments(&one);
    let (m4, se4, v4, sv4) = moments(&four);
    println!(
        "{probe:?}: exact {exact:.5}, M=1 {m1:.5} ± {se1:.5} (var {v1:.4}), M=4 {m4:.5} ± {se4:.5} (var {v4:.4})"
    );
    assert!((m1 - exact).abs() <= 3.0 * se1, "M=1 biased: {m1} vs {exact} (se {se1})");
    assert!((m4 - exact).abs() <= 3.0 * se4, "M=4 biased: {m4} vs {exact} (se {se4})");
    let ratio = v1 / v4;
    // Delta method: se(v1/v4)/ratio = √((sv1/v1)² + (sv4/v4)²).
    let se_ratio = ratio * ((sv1 / v1).powi(2) + (sv4 / v4).powi(2)).sqrt();
    println!("variance ratio M=1/M=4: {ratio:.3} ± {se_ratio:.3}");
    assert!((ratio - 4.0).abs() <= 3.0 * se_ratio, "ratio {ratio} ± {se_ratio}");
    assert!(v1 > 1e-6, "the test needs a nonzero variance");
}

#[test]
fn hutchinson_unbiased_variance_one_over_m_gaussian_probes() {
    let vp = Vp::default();
    let m = DiagGauss { sde: vp, mu: [1.0, -1.0], var: [0.05, 3.0] };
    check_hutchinson(&m, &vp, &[1.2, 0.3], Probe::Gaussian);
    // Rademacher probes: vᵀJv = tr J exactly for a diagonal J.
    let r = hutchinson_runs::<_, _, 2, 1>(&m, &vp, &[1.2, 0.3], Probe::Rademacher, 5);
    let (_, _, var, _) = moments(&r);
    assert!(var < 1e-20);
}

/// A continuous normalizing flow with a known solution: F(t, x) = A x, A = [[a, −b], [b, a]],
/// base N(0, I) at t₁. Then x(t₁) = e^{aΔ} R(bΔ) x and log p_{t₀}(x) = log N(x(t₁)) + 2aΔ.
#[test]
fn continuous_flow_linear_field_matches_closed_form() {
    use flowscore::likelihood::{DistributionPrior, log_likelihood};
    use flowscore::ode::{Dopri5Options, VectorField};
    struct Spiral {
        a: f64,
        b: f64,
    }
    impl VectorField<2> for Spiral {
        fn eval<R: Real>(&self, _t: R, x: &[R; 2]) -> [R; 2] {
            let (a, b) = (R::from_f64(self.a), R::from_f64(self.b));
            [a * x[0] - b * x[1], b * x[0] + a * x[1]]
        }
    }
    struct StdNormal;
    impl flowscore::dist::Distribution<2> for StdNormal {
        fn sample<L: flowscore::Lane, S: LaneSource<L>>(&self, rng: &mut S) -> [L; 2] {
            rng.normal_array()
        }
        fn log_prob<R: Real>(&self, x: &[R; 2]) -> R {
            R::from_f64(-core::f64::consts::TAU.ln())
                - R::from_f64(0.5) * (x[0] * x[0] + x[1] * x[1])
        }
    }
    let field = Spiral { a: -0.7, b: 2.0 };
    let (t0, t1) = (0.0, 1.5);
    let opts = Dopri5Options::with_tol(1e-9, 1e-9);
    for x in [[0.5, -1.0], [2.0, 0.1], [-0.3, 0.0]] {
        let d = t1 - t0;
        let (c, s) = ((field.b * d).cos(), (field.b * d).sin());
        let e = (field.a * d).exp();
        let z = [e * (c * x[0] - s * x[1]), e * (s * x[0] + c * x[1])];
        let want =
            -core::f64::consts::TAU.ln() - 0.5 * (z[0] * z[0] + z[1] * z[1]) + 2.0 * field.a * d;
        for got in [
            log_likelihood(
                &field,
                &ExactDivergence,
                &DistributionPrior(&StdNormal),
                &x,
                t0,
                t1,
                0,
                &opts,
            ),
            log_likelihood(
                &field,
                &Hutchinson::<1>::new(Probe::Rademacher, 5),
                &DistributionPrior(&StdNormal),
                &x,
                t0,
                t1,
                0,
                &opts,
            ),
        ] {
            let got = got.unwrap();
            let lp = got.lane(0).unwrap().log_p;
            assert!((lp - want).abs() < 1e-7, "{lp} vs {want}");
            assert!((got.z[0] - z[0]).abs() < 1e-7 && (got.z[1] - z[1]).abs() < 1e-7);
        }
    }
}

/// A diverging continuous flow (dx/dt = x², blowing up at t = 1/x₀) returns the step-size
/// underflow (or non-finite) error for its point within bounded NFE, and leaves the other
/// points of the batch alone.
#[test]
fn diverging_flow_fails_per_point_within_bounded_nfe() {
    use flowscore::likelihood::{DistributionPrior, log_likelihood_batch};
    use flowscore::ode::{Dopri5Options, VectorField};
    struct Blowup;
    impl VectorField<1> for Blowup {
        fn eval<R: Real>(&self, _t: R, x: &[R; 1]) -> [R; 1] {
            [x[0] * x[0]]
        }
    }
    struct Flat;
    impl flowscore::dist::Distribution<1> for Flat {
        fn sample<L: flowscore::Lane, S: LaneSource<L>>(&self, rng: &mut S) -> [L; 1] {
            rng.normal_array()
        }
        fn log_prob<R: Real>(&self, _x: &[R; 1]) -> R {
            R::zero()
        }
    }
    let xs = [[0.5], [2.0], [0.1], [-1.0], [3.0]];
    let mut out = vec![Ok(LogLik { log_p: 0.0, nfe: 0 }); xs.len()];
    let opts = Dopri5Options { max_steps: 500, ..Dopri5Options::default() };
    log_likelihood_batch(
        &Blowup,
        &ExactDivergence,
        &DistributionPrior(&Flat),
        &xs,
        0.0,
        1.0,
        0,
        &opts,
        &mut out,
    )
    .unwrap();
    for (x, r) in xs.iter().zip(&out) {
        if x[0] >= 1.0 {
            assert!(
                matches!(
                    r,
                    Err(flowscore::Error::StepSizeUnderflow
                        | flowscore::Error::NonFiniteState
                        | flowscore::Error::MaxStepsExceeded)
                ),
                "{x:?}: {r:?}"
            );
        } else {
            // ℓ = ∫ 2x dt = −2 ln(1 − x₀) for x = x₀/(1 − x₀t).
            let want = -2.0 * (1.0 - x[0]).ln();
            assert!((r.unwrap().log_p - want).abs() < 1e-4, "{x:?}: {r:?}");
            assert!(r.unwrap().nfe <= 2 + 6 * 500);
        }
    }
}
