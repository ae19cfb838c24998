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
