//! Probability-flow ODE sampling (MATH.md §6) against exact draws of the ncsn mixture
//! 0.8·N((5, 5), I) + 0.2·N((−5, −5), I): mode weights within ±0.02 and energy distance at the
//! level of two independent exact sample sets.

use flowscore::Error;
use flowscore::likelihood::sampling::transport;
use flowscore::likelihood::{OdeSolver, PfOdeSampler, ProbabilityFlow, pf_sample, pf_sample_batch};
use flowscore::ode::{Dopri5Options, FixedMethod};
use flowscore::rng::Streams;
use flowscore::score::{GaussianMixture, MixtureScore};
use flowscore::sde::{SAMPLING_EPS_VE, SAMPLING_EPS_VP, Sde, SubVp, Ve, Vp};

/// Samples for the mode-weight check: the weight's standard error is √(0.16/4000) = 0.0063,
/// so ±0.02 is a 3-standard-error band.
const N_MODE: usize = 4000;
/// Samples per set for the energy distance (O(n²) pairs).
const N_ED: usize = 1000;
/// Independent exact-vs-exact pairs that calibrate the energy-distance threshold.
const NULL_PAIRS: u64 = 6;
/// The threshold is this multiple of the largest null energy distance.
const ED_FACTOR: f64 = 3.0;

fn ncsn_weights(w: f32) -> GaussianMixture<2, 2> {
    let id = [[1.0, 0.0], [0.0, 1.0]];
    GaussianMixture::new([w, 1.0 - w], [[5.0, 5.0], [-5.0, -5.0]], [id, id]).unwrap()
}

/// Unbiased (U-statistic) energy distance 2E|X−Y| − E|X−X'| − E|Y−Y'| (Székely & Rizzo).
fn energy_distance(a: &[[f64; 2]], b: &[[f64; 2]]) -> f64 {
    let d = |p: &[f64; 2], q: &[f64; 2]| ((p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2)).sqrt();
    let mut xy = 0.0;
    for p in a {
        for q in b {
            xy += d(p, q);
        }
    }
    let within = |s: &[[f64; 2]]| {
        let mut acc = 0.0;
        for (i, p) in s.iter().enumerate() {
            for q in &s[i + 1..] {
                acc += d(p, q);
            }
        }
        2.0 * acc / (s.len() * (s.len() - 1)) as f64
    };
    2.0 * xy / (a.len() * b.len()) as f64 - within(a) - within(b)
}

/// Exact draws from p_t of `model` (sample i from `Streams::new(seed, i)`).
fn exact<S: Sde + Copy>(
    model: &MixtureScore<2, 2, S>,
    t: f64,
    n: usize,
    seed: u64,
) -> Vec<[f64; 2]> {
    (0..n).map(|i| model.sample_at(t, &mut Streams::<f64>::new(seed, i as u64))).collect()
}

fn pf_samples<S: Sde + Copy>(
    model: &MixtureScore<2, 2, S>,
    solver: &OdeSolver,
    eps: f64,
    n: usize,
) -> (Vec<[f64; 2]>, f64) {
    let sde = *model.sde();
    let mut out = vec![[0.0f64; 2]; n];
    let mut status = vec![Err(Error::NonFiniteState); n];
    pf_sample_batch(model, &sde, solver, eps, 2024, 0, &mut out, &mut status).unwrap();
    let nfe: u64 = status.iter().map(|s| s.unwrap() as u64).sum();
    (out, nfe as f64 / n as f64)
}

/// Probability-flow samples started from exact draws of p_T (closed-form model) instead of
/// the SDE's prior.
fn pf_samples_exact_start<S: Sde + Copy>(
    model: &MixtureScore<2, 2, S>,
    solver: &OdeSolver,
    eps: f64,
    n: usize,
) -> (Vec<[f64; 2]>, f64) {
    let sde = *model.sde();
    let t_max = sde.t_max() as f64;
    let field = ProbabilityFlow::new(model, &sde);
    let mut nfe = 0u64;
    let xs = (0..n)
        .map(|i| {
            let x_t = model.sample_at(t_max, &mut Streams::<f64>::new(4048, i as u64));
            let sol = transport(&field, solver, x_t, t_max, eps).unwrap();
            sol.lane_result(0).unwrap();
            nfe += sol.nfe_lane(0) as u64;
            sol.y
        })
        .collect();
    (xs, nfe as f64 / n as f64)
}

fn mode_weight(xs: &[[f64; 2]]) -> f64 {
    xs.iter().filter(|x| x[0] + x[1] > 0.0).count() as f64 / xs.len() as f64
}

/// The energy-distance threshold: `ED_FACTOR` × the largest of `NULL_PAIRS` exact-vs-exact
/// energy distances at t = ε.
fn threshold<S: Sde + Copy>(model: &MixtureScore<2, 2, S>, eps: f64) -> f64 {
    let mut worst = 0.0f64;
    for k in 0..NULL_PAIRS {
        let a = exact(model, eps, N_ED, 100 + 2 * k);
        let b = exact(model, eps, N_ED, 101 + 2 * k);
        worst = worst.max(energy_distance(&a, &b).abs());
    }
    ED_FACTOR * worst
}

fn check<S: Sde + Copy>(name: &str, sde: S, eps: f64, solver: &OdeSolver, exact_start: bool) {
    let model = ncsn_weights(0.8).under(sde);
    let (xs, nfe) = if exact_start {
        pf_samples_exact_start(&model, solver, eps, N_MODE)
    } else {
        pf_samples(&model, solver, eps, N_MODE)
    };
    let w = mode_weight(&xs);
    let reference = exact(&model, eps, N_ED, 7);
    let ed = energy_distance(&xs[..N_ED], &reference);
    let thr = threshold(&model, eps);
    // Negative control: exact draws of the mixture with weights 0.5/0.5 (what plain Langevin
    // gives, MATH.md §4) must fail the same energy-distance check.
    let wrong = exact(&ncsn_weights(0.5).under(sde), eps, N_ED, 9);
    let ed_wrong = energy_distance(&wrong, &reference);
    println!(
        "{name}: mode weight {w:.4}, energy distance {ed:.2e} (threshold {thr:.2e}, 0.5/0.5 control {ed_wrong:.2e}), mean NFE {nfe:.1}"
    );
    assert!((w - 0.8).abs() <= 0.02, "{name}: mode weight {w}");
    assert!(ed <= thr, "{name}: energy distance {ed} > {thr}");
    assert!(ed_wrong > thr, "the check must reject the wrong weights");
}

/// Adaptive Dormand–Prince (rtol = atol = 1e-5) from T to ε: VP and sub-VP from the SDE's
/// prior N(0, I) (as score_sde samples), VE from exact draws of p_T.
///
/// Under VE the SDE's prior N(0, 50² I) ignores the data mean (0.8·5 − 0.2·5 = 3 per
/// coordinate, 0.085σ along the diagonal), and the flow carries that mismatch into the mode
/// weights: started from the SDE prior the measured weight is 0.767, not 0.8. Started from the
/// exact p_T the flow is exact, which is what this test checks.
#[test]
fn adaptive_pf_samples_match_exact_mixture() {
    let solver = OdeSolver::Adaptive(Dopri5Options::default());
    check("VE adaptive, exact p_T", Ve::default(), SAMPLING_EPS_VE as f64, &solver, true);
    check("VP adaptive", Vp::default(), SAMPLING_EPS_VP as f64, &solver, false);
    check("sub-VP adaptive", SubVp::default(), SAMPLING_EPS_VP as f64, &solver, false);
}

/// Fixed-step RK4 (100 steps, 400 evaluations) and Heun (200 steps) under VP.
#[test]
fn fixed_step_pf_samples_match_exact_mixture() {
    let rk4 = OdeSolver::Fixed { method: FixedMethod::Rk4, steps: 100 };
    check("VP RK4×100", Vp::default(), SAMPLING_EPS_VP as f64, &rk4, false);
    let heun = OdeSolver::Fixed { method: FixedMethod::Heun, steps: 200 };
    check("sub-VP Heun×200", SubVp::default(), SAMPLING_EPS_VP as f64, &heun, false);
}

/// A sample is the same bits from the f32 batch (f32x8 chunks + scalar tail) and alone.
#[test]
fn batch_samples_equal_single_samples() {
    let sde = Vp::default();
    let model = ncsn_weights(0.8).under(sde);
    let solver = OdeSolver::default();
    let mut out = vec![[0.0f32; 2]; 13];
    let mut status = vec![Ok(0); 13];
    pf_sample_batch(&model, &sde, &solver, 1e-3, 5, 30, &mut out, &mut status).unwrap();
    for (i, x) in out.iter().enumerate() {
        let s = pf_sample::<f32, 2, _, _>(&model, &sde, &solver, 1e-3, 5, 30 + i as u64).unwrap();
        assert_eq!(x.map(f32::to_bits), s.y.map(f32::to_bits), "sample {i}");
        assert_eq!(status[i], Ok(s.nfe_lane(0)));
    }
}

/// The probability-flow ODE sampler behind the sampler API gives every sample the bits of
/// `pf_sample_batch` (the same prior draw on the same stream, the same solve), in f32 and f64;
/// a sample whose solve fails is NaN there and the same index is an error in the batch; and
/// settings that cannot run are errors at construction.
#[test]
fn the_ode_sampler_behind_the_sampler_api_is_pf_sample() {
    use flowscore::sample::LaneSampler;
    let sde = Vp::default();
    let model = ncsn_weights(0.8).under(sde);
    let solver = OdeSolver::default();
    let s = PfOdeSampler::new(sde, solver, 1e-3).unwrap();
    let (mut a, mut b) = (vec![[0.0f32; 2]; 13], vec![[0.0f32; 2]; 13]);
    let mut status = vec![Ok(0); 13];
    s.sample_batch(&model, 5, 30, &mut a);
    pf_sample_batch(&model, &sde, &solver, 1e-3, 5, 30, &mut b, &mut status).unwrap();
    assert_eq!(
        a.iter().flatten().map(|v| v.to_bits()).collect::<Vec<_>>(),
        b.iter().flatten().map(|v| v.to_bits()).collect::<Vec<_>>()
    );
    assert!(status.iter().all(Result::is_ok));
    let (mut a, mut b) = (vec![[0.0f64; 2]; 6], vec![[0.0f64; 2]; 6]);
    let mut status = vec![Ok(0); 6];
    s.sample_batch_f64(&model, 1, 0, &mut a);
    pf_sample_batch(&model, &sde, &solver, 1e-3, 1, 0, &mut b, &mut status).unwrap();
    assert_eq!(a, b);
    // Two Dormand–Prince steps cannot reach ε: every sample is NaN, and an error in the batch.
    let short = OdeSolver::Adaptive(Dopri5Options { max_steps: 2, ..Dopri5Options::default() });
    let s = PfOdeSampler::new(sde, short, 1e-3).unwrap();
    let mut a = vec![[0.0f64; 2]; 5];
    let mut status = vec![Ok(0); 5];
    s.sample_batch_f64(&model, 1, 0, &mut a);
    pf_sample_batch(&model, &sde, &short, 1e-3, 1, 0, &mut b[..5], &mut status).unwrap();
    assert!(a.iter().flatten().all(|v| v.is_nan()));
    assert!(status.iter().all(|r| *r == Err(Error::MaxStepsExceeded)), "{status:?}");
    for (solver, eps) in [
        (OdeSolver::Fixed { method: FixedMethod::Rk4, steps: 0 }, 1e-3),
        (OdeSolver::Adaptive(Dopri5Options { rtol: -1.0, ..Dopri5Options::default() }), 1e-3),
        (OdeSolver::default(), 0.0),
        (OdeSolver::default(), 1.5),
        (OdeSolver::default(), f64::NAN),
    ] {
        assert!(PfOdeSampler::new(sde, solver, eps).is_err(), "{solver:?} eps {eps}");
    }
}
