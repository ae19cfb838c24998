//! Stochastic Runge–Kutta, adaptive and few-step probability-flow samplers (MATH.md §5.1,
//! §5.2, §6.1):
//! - strong order of SRA1, stochastic Heun and Euler–Maruyama on a linear reverse SDE with an
//!   exact solution along the same Brownian path;
//! - every new sampler against exact samples of seeded random anisotropic mixtures in 2, 4 and
//!   8 dimensions under VE, VP and sub-VP (mode weights and sliced energy distance, the checks
//!   of `tests/samplers.rs`);
//! - the adaptive solver's weak error on the linear reverse SDE falls with its tolerance;
//! - the adaptive solver ends a diverging run with an error value;
//! - samples do not depend on the batch size or the lane width.

mod common;

use common::{N, check_against, random_mixture};
use flowscore::rng::{LaneSource, Streams};
use flowscore::sample::srk::additive_increments;
use flowscore::sample::{
    AdaptiveOptions, AdaptiveSde, DpmSolverPp2m, DpmSolverPp3m, EdmHeun, LaneSampler, SrkMethod,
    StochasticRk, UniPc,
};
use flowscore::score::{GaussianMixture, MixtureScore, ScoreModel};
use flowscore::sde::{SAMPLING_EPS_VE, SAMPLING_EPS_VP, Sde, SubVp, Ve, Vp};
use flowscore::{Error, Real};
use wide::{f32x4, f32x8};

// ---------------------------------------------------------------------------------------------
// Strong order on a linear SDE.

/// Per-coordinate variances of the Gaussian target N(0, diag(v)).
const V0: [f64; 2] = [0.25, 1.5];
/// Fine steps of the reference Brownian path.
const FINE: usize = 16384;
/// Coarse step counts (h = (T − ε)/n).
const COARSE: [usize; 6] = [16, 32, 64, 128, 256, 512];
/// Independent Brownian paths.
const PATHS: u64 = 1000;
/// End time.
const EPS: f64 = 1e-3;

/// The reverse VP SDE of N(0, v) is linear: in reverse time τ = T − t,
/// dx = λ(t) x dτ + √β(t) dW, λ = β(½ − 1/v_t), v_t = α_t² v + σ_t², with transition factor
/// Φ(t_end ← t) = (α_t/v_t)/(α_end/v_end) (d ln(α/v)/dt = λ). Returns Φ(ε ← t)·√β(t) and
/// Φ(ε ← T) for coordinate `i`.
fn kernel(sde: &Vp, i: usize, t: f64) -> f64 {
    let ratio = |t: f64| {
        let (a, s) = sde.marginal(t);
        a / (a * a * V0[i] + s * s)
    };
    ratio(t) / ratio(EPS) * sde.diffusion(t)
}

fn phi_start(sde: &Vp, i: usize) -> f64 {
    let ratio = |t: f64| {
        let (a, s) = sde.marginal(t);
        a / (a * a * V0[i] + s * s)
    };
    ratio(1.0) / ratio(EPS)
}

/// RMS strong errors at the coarse step counts of SRA1, stochastic Heun and Euler–Maruyama.
///
/// Each path draws the fine increments (ΔWₖ, ΔZₖ) of the reverse-time Brownian motion on
/// `FINE` steps of δ = (T − ε)/FINE with the exact joint law ([`additive_increments`]). A coarse
/// step is the union of m fine ones, with ΔW = Σ ΔWₖ and ΔZ = Σ (ΔZₖ + δ·(W(uₖ) − W(u₀))):
/// the exact ∫∫ dW ds of the union, so every resolution sees one Brownian path (this is the
/// path that Brownian-bridge refinement of the coarsest level would produce, in law). The exact
/// solution is Φ(ε ← T) x_T + ∫ φ dW, φ(u) = Φ(ε ← t(u)) √β(t(u)), with the stochastic
/// integral taken on the fine grid to O(δ²): ∫_{uₖ}^{uₖ+δ} φ dW ≈ φ(uₖ) ΔWₖ + φ′(uₖ)(δ ΔWₖ − ΔZₖ),
/// φ′ by the forward difference.
///
/// With `fine_reference` the reference is instead SRA1 on the fine grid along the same path
/// (for a nonlinear score, where no closed form exists).
fn strong_errors<M: ScoreModel<2>>(model: &M, fine_reference: bool) -> [[f64; COARSE.len()]; 3] {
    let sde = Vp::default();
    let span = 1.0 - EPS;
    let delta = span / FINE as f64;
    let phi: Vec<[f64; 2]> = (0..=FINE)
        .map(|k| {
            let t = 1.0 - k as f64 * delta;
            [kernel(&sde, 0, t), kernel(&sde, 1, t)]
        })
        .collect();
    let mut sq = [[0.0f64; COARSE.len()]; 3];
    for p in 0..PATHS {
        let mut rng = Streams::<f64>::new(2718, p);
        let x_t: [f64; 2] = rng.normal_array();
        let mut dw = vec![[0.0f64; 2]; FINE];
        let mut dz = vec![[0.0f64; 2]; FINE];
        for k in 0..FINE {
            for i in 0..2 {
                let (a, b) = (rng.normal(), rng.normal());
                (dw[k][i], dz[k][i]) = additive_increments(delta, a, b);
            }
        }
        let mut exact = [0.0f64; 2];
        if fine_reference {
            let mut x = x_t;
            for k in 0..FINE {
                let t = 1.0 - k as f64 * delta;
                SrkMethod::Sra1.step(&sde, model, &mut x, t, delta, &dw[k], &dz[k]);
            }
            exact = x;
        }
        for i in 0..2 {
            if fine_reference {
                break;
            }
            let mut acc = phi_start(&sde, i) * x_t[i];
            for k in 0..FINE {
                let d = (phi[k + 1][i] - phi[k][i]) / delta;
                acc += phi[k][i] * dw[k][i] + d * (delta * dw[k][i] - dz[k][i]);
            }
            exact[i] = acc;
        }
        for (c, &n) in COARSE.iter().enumerate() {
            let m = FINE / n;
            let h = span / n as f64;
            let mut xs = [x_t; 3];
            for j in 0..n {
                let (mut cw, mut cz) = ([0.0f64; 2], [0.0f64; 2]);
                for k in j * m..(j + 1) * m {
                    for i in 0..2 {
                        cz[i] += dz[k][i] + delta * cw[i];
                        cw[i] += dw[k][i];
                    }
                }
                let t = 1.0 - j as f64 * h;
                SrkMethod::Sra1.step(&sde, model, &mut xs[0], t, h, &cw, &cz);
                SrkMethod::Heun.step(&sde, model, &mut xs[1], t, h, &cw, &cz);
                // Euler–Maruyama: x ← x + h a(x, t) + g(t) ΔW.
                let s = model.score(&xs[2], t);
                let (cc, g) = (sde.drift_coef(t), sde.diffusion(t));
                for i in 0..2 {
                    xs[2][i] += h * (g * g * s[i] - cc * xs[2][i]) + g * cw[i];
                }
            }
            for (r, x) in xs.iter().enumerate() {
                sq[r][c] += (x[0] - exact[0]).powi(2) + (x[1] - exact[1]).powi(2);
            }
        }
    }
    sq.map(|row| row.map(|v| (v / PATHS as f64).sqrt()))
}

/// Least-squares slope of ln(error) against ln(h).
fn slope(errs: &[f64]) -> f64 {
    let pts: Vec<(f64, f64)> =
        COARSE.iter().zip(errs).map(|(&n, &e)| ((1.0 / n as f64).ln(), e.ln())).collect();
    let k = pts.len() as f64;
    let mx = pts.iter().map(|p| p.0).sum::<f64>() / k;
    let my = pts.iter().map(|p| p.1).sum::<f64>() / k;
    let num: f64 = pts.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let den: f64 = pts.iter().map(|p| (p.0 - mx).powi(2)).sum();
    num / den
}

fn report(what: &str, errs: &[[f64; COARSE.len()]; 3]) -> [f64; 3] {
    let names = ["SRA1", "stochastic Heun", "Euler–Maruyama"];
    let slopes = errs.map(|e| slope(&e));
    for (k, name) in names.iter().enumerate() {
        let e: Vec<String> = errs[k].iter().map(|v| format!("{v:.3e}")).collect();
        let local: Vec<String> =
            errs[k].windows(2).map(|w| format!("{:.2}", (w[0] / w[1]).log2())).collect();
        println!(
            "{what}, {name}: RMS strong errors {e:?}, local slopes {local:?}, fit {:.3}",
            slopes[k]
        );
    }
    slopes
}

/// The linear reverse VP SDE of N(0, diag(0.25, 1.5)) against its exact solution, over
/// h = (T − ε)/16 … (T − ε)/512: stochastic Heun and Euler–Maruyama converge at order 1
/// (additive noise makes EM's strong order 1; slopes within [0.85, 1.15] and [0.5, 1.15]).
/// SRA1 converges at least at order 1.5 (slope ≥ 1.35); on a *linear* drift it does better,
/// tending to order 2 (measured fit 1.81, local slopes 1.61 → 1.97): with a_xx = 0 the first
/// terms of the Itô–Taylor expansion it cannot represent are the order-2.5 integrals
/// I₍₁,₀,₀₎, I₍₀,₁,₀₎, I₍₀,₀,₁₎, and its deterministic order is 2. The order-1.5 statement is
/// checked on a nonlinear score below.
#[test]
fn strong_order_on_the_linear_reverse_vp_sde() {
    let model =
        GaussianMixture::new([1.0], [[0.0, 0.0]], [[[V0[0] as f32, 0.0], [0.0, V0[1] as f32]]])
            .unwrap()
            .under(Vp::default());
    let errs = strong_errors(&model, false);
    let slopes = report("linear", &errs);
    assert!(slopes[0] >= 1.35 && slopes[0] <= 2.15, "SRA1 slope {}", slopes[0]);
    assert!((0.85..=1.15).contains(&slopes[1]), "Heun slope {}", slopes[1]);
    assert!((0.5..=1.15).contains(&slopes[2]), "EM slope {}", slopes[2]);
    let last = COARSE.len() - 1;
    assert!(errs[0][last] < errs[1][last] && errs[0][last] < errs[2][last]);
}

/// The reverse VP SDE of an overlapping two-component anisotropic 2-D mixture (a nonlinear
/// score; one connected mode, so coarse paths do not switch components, which would swamp
/// the RMS error), against SRA1 on the 16 384-step grid along the same path: SRA1's fitted
/// slope is at least 1.35 (measured 1.77, local slopes 1.60 → 1.89: the order-2 term
/// b² a_xx I₍₁,₁,₀₎ it misses is small here), stochastic Heun's and EM's within [0.85, 1.15]
/// and [0.5, 1.15].
#[test]
fn strong_order_on_a_nonlinear_reverse_vp_sde() {
    let model = GaussianMixture::new(
        [0.6, 0.4],
        [[-0.6, 0.2], [0.5, -0.3]],
        [[[0.5, 0.2], [0.2, 0.4]], [[0.3, -0.1], [-0.1, 0.6]]],
    )
    .unwrap()
    .under(Vp::default());
    let errs = strong_errors(&model, true);
    let slopes = report("mixture", &errs);
    assert!(slopes[0] >= 1.35 && slopes[0] <= 2.15, "SRA1 slope {}", slopes[0]);
    assert!((0.85..=1.15).contains(&slopes[1]), "Heun slope {}", slopes[1]);
    assert!((0.5..=1.15).contains(&slopes[2]), "EM slope {}", slopes[2]);
}

/// Var x_ε of the exact reverse VP SDE from the prior N(0, 1) on the Gaussian target of
/// [`kernel`]: Φ(ε ← T)² + ∫_ε^T Φ(ε ← t)² β(t) dt (composite Simpson on 2¹⁶ intervals).
fn exact_variance(sde: &Vp, i: usize) -> f64 {
    let n = 1usize << 16;
    let h = (1.0 - EPS) / n as f64;
    let integral: f64 = (0..=n)
        .map(|j| {
            let w = if j == 0 || j == n {
                1.0
            } else if j % 2 == 1 {
                4.0
            } else {
                2.0
            };
            w * kernel(sde, i, EPS + j as f64 * h).powi(2)
        })
        .sum::<f64>()
        * h
        / 3.0;
    phi_start(sde, i).powi(2) + integral
}

/// The adaptive solver's weak error falls with its tolerance, to the Monte Carlo noise: on the
/// linear reverse VP SDE of N(0, diag(0.25, 1.5)) from the prior, the relative errors
/// E[x_i²]/Var_exact − 1 of 100 000 samples (f64; s.e. √(2/n) = 0.0045), at
/// ε_abs = 0.78 ε_rel. At ε_rel = 0.2 (NFE ≈ 58) the discretisation error is resolved
/// (measured +0.024, −0.027; required > 5 s.e.); at ε_rel = 0.01 (NFE ≈ 485) both are within
/// 4 s.e. and below half the coarse error (measured −0.003, +0.006). A retry that rescales the
/// rejected noise instead of bridging it fails this: with 200 000 samples its errors grew as
/// the tolerance shrank (+0.011, −0.007 at 0.2; +0.077, +0.040 at 0.01).
#[test]
fn adaptive_weak_error_falls_with_the_tolerance() {
    let sde = Vp::default();
    let model =
        GaussianMixture::new([1.0], [[0.0, 0.0]], [[[V0[0] as f32, 0.0], [0.0, V0[1] as f32]]])
            .unwrap()
            .under(sde);
    let var = [exact_variance(&sde, 0), exact_variance(&sde, 1)];
    let n = 100_000usize;
    let se = (2.0 / n as f64).sqrt();
    let errors = |rel: f64| {
        let opts = AdaptiveOptions::with_tol(0.78 * rel, rel);
        let s = AdaptiveSde::new(sde, EPS as f32, opts).unwrap();
        let mut xs = vec![[0.0f64; 2]; n];
        let mut status = vec![Ok(0); n];
        s.run_batch_with_status::<wide::f64x4, f64, _, 2>(&model, 31, 0, &mut xs, &mut status)
            .unwrap();
        assert!(status.iter().all(|r| r.is_ok()), "ε_rel = {rel}: a lane failed");
        let nfe = status.iter().map(|r| *r.as_ref().unwrap() as f64).sum::<f64>() / n as f64;
        let r: [f64; 2] = core::array::from_fn(|i| {
            xs.iter().map(|x| x[i] * x[i]).sum::<f64>() / n as f64 / var[i] - 1.0
        });
        println!(
            "ε_rel = {rel}: relative second-moment errors {r:+.4?} (s.e. {se:.4}), NFE {nfe:.1}"
        );
        r[0].abs().max(r[1].abs())
    };
    let coarse = errors(0.2);
    let fine = errors(0.01);
    assert!(coarse > 5.0 * se, "the coarse error {coarse:.4} is not resolved");
    assert!(fine < 4.0 * se && fine < coarse / 2.0, "fine {fine:.4} vs coarse {coarse:.4}");
}

// ---------------------------------------------------------------------------------------------
// Random anisotropic mixtures.

/// SRA1 and stochastic Heun steps on the mixtures.
const SRK_STEPS: u32 = 100;
/// EDM-Heun steps (2 evaluations each).
const EDM_STEPS: u32 = 50;
/// DPM-Solver++(2M) steps.
const DPM_STEPS: u32 = 100;
/// DPM-Solver++(3M) steps (one evaluation each): its command-line default.
const DPM3_STEPS: u32 = 50;
/// UniPC steps (one evaluation each): its command-line default.
const UNIPC_STEPS: u32 = 20;

#[derive(Clone, Copy, Debug)]
enum Which {
    Sra1,
    SdeHeun,
    Adaptive,
    EdmHeun,
    DpmPp,
    DpmPp3,
    UniPc,
}

/// Samples of `which` on `m` under `sde`.
///
/// The probability-flow samplers start from exact draws of p_T: a deterministic flow carries
/// any mismatch between the SDE's prior and p_T into its output (as in
/// `tests/pf_sampling.rs`). Under VE the prior N(0, σ_max² I) ignores the data mean; under VP
/// the mean α_T μ ≈ 0.007·μ and covariance α_T² Σ + σ_T² I of p_T differ from N(0, I) by
/// little, but enough: started from the prior, EDM-Heun and DPM-Solver++ both give the
/// same sliced energy distance 2.8e-3 (p = 0.005) on the 2-D mixture, whatever the step
/// count. The reverse-SDE samplers forget their start and run from the prior.
///
/// The adaptive solver runs at its default tolerances (see `adaptive_on_random_mixtures`).
fn draw<const D: usize, const K: usize, S: Sde + Copy>(
    which: Which,
    m: &MixtureScore<D, K, S>,
    sde: S,
    eps: f32,
    is_ve: bool,
) -> Vec<[f32; D]> {
    let mut xs = vec![[0.0f32; D]; N];
    let t_max = sde.t_max();
    let exact_start = |xs: &mut Vec<[f32; D]>| {
        for (i, x) in xs.iter_mut().enumerate() {
            *x = m.sample_at(t_max, &mut Streams::<f32>::new(606, i as u64));
        }
    };
    match which {
        Which::Sra1 | Which::SdeHeun => {
            let method =
                if matches!(which, Which::Sra1) { SrkMethod::Sra1 } else { SrkMethod::Heun };
            StochasticRk::new(sde, method, SRK_STEPS, eps).unwrap().sample_batch(m, 11, 0, &mut xs);
        }
        Which::Adaptive => {
            let _ = is_ve;
            let opts = AdaptiveOptions::default();
            let s = AdaptiveSde::new(sde, eps, opts).unwrap();
            let mut status = vec![Ok(0); N];
            s.run_batch_with_status::<f32x8, f32, _, D>(m, 11, 0, &mut xs, &mut status).unwrap();
            let nfe: u64 = status.iter().map(|r| *r.as_ref().unwrap() as u64).sum();
            println!("adaptive: mean NFE {:.1}", nfe as f64 / N as f64);
        }
        Which::EdmHeun => {
            exact_start(&mut xs);
            let s = EdmHeun::new(sde, EDM_STEPS, eps).unwrap().starting_from_input();
            s.sample_batch(m, 11, 0, &mut xs);
        }
        Which::DpmPp => {
            exact_start(&mut xs);
            let s = DpmSolverPp2m::new(sde, DPM_STEPS, eps).unwrap().starting_from_input();
            s.sample_batch(m, 11, 0, &mut xs);
        }
        Which::DpmPp3 => {
            exact_start(&mut xs);
            let s = DpmSolverPp3m::new(sde, DPM3_STEPS, eps).unwrap().starting_from_input();
            s.sample_batch(m, 11, 0, &mut xs);
        }
        Which::UniPc => {
            exact_start(&mut xs);
            let s = UniPc::new(sde, UNIPC_STEPS, eps).unwrap().starting_from_input();
            s.sample_batch(m, 11, 0, &mut xs);
        }
    }
    xs
}

fn check_dims<const D: usize, const K: usize>(which: Which, m: GaussianMixture<D, K>) {
    let tag = format!("{which:?} {D}-D K={K}");
    let xs = draw(which, &m.under(Ve::default()), Ve::default(), SAMPLING_EPS_VE, true);
    check_against(&format!("{tag} VE"), &m, &xs);
    let xs = draw(which, &m.under(Vp::default()), Vp::default(), SAMPLING_EPS_VP, false);
    check_against(&format!("{tag} VP"), &m, &xs);
    let xs = draw(which, &m.under(SubVp::default()), SubVp::default(), SAMPLING_EPS_VP, false);
    check_against(&format!("{tag} sub-VP"), &m, &xs);
}

/// The three seeded mixtures of `tests/likelihood.rs` (2-D K = 4, 4-D K = 3, 8-D K = 3).
fn mixtures_check(which: Which) {
    check_dims(which, random_mixture::<2, 4>(21));
    check_dims(which, random_mixture::<4, 3>(22));
    check_dims(which, random_mixture::<8, 3>(23));
}

/// SRA1, N = 100 steps (200 evaluations).
#[test]
fn sra1_on_random_mixtures() {
    mixtures_check(Which::Sra1);
}
/// Stochastic Heun, N = 100 steps (200 evaluations).
#[test]
fn sde_heun_on_random_mixtures() {
    mixtures_check(Which::SdeHeun);
}
/// The adaptive solver at the authors' tolerances ε_abs = 0.0078, ε_rel = 0.01 (mean NFE in
/// 2-D: ≈ 760 under VE, ≈ 380 under VP and sub-VP; 4-D and 8-D: ≈ 945 VE, ≈ 420–445 VP and
/// sub-VP). Measured: every p-value ≥ 0.4 and every weight within 0.01.
#[test]
fn adaptive_on_random_mixtures() {
    mixtures_check(Which::Adaptive);
}
/// EDM-Heun, N = 50 steps (100 evaluations).
#[test]
fn edm_heun_on_random_mixtures() {
    mixtures_check(Which::EdmHeun);
}
/// DPM-Solver++(2M), N = 100 steps (100 evaluations).
#[test]
fn dpmpp_2m_on_random_mixtures() {
    mixtures_check(Which::DpmPp);
}
/// DPM-Solver++(3M), N = 50 steps (50 evaluations), uniform in log-SNR.
#[test]
fn dpmpp_3m_on_random_mixtures() {
    mixtures_check(Which::DpmPp3);
}

/// UniPC at its default 20 steps (20 evaluations).
#[test]
fn unipc_on_random_mixtures() {
    mixtures_check(Which::UniPc);
}

// ---------------------------------------------------------------------------------------------
// Bounded failure and lane independence.

/// A score that pushes samples away: s(x, t) = 10³·x (every lane diverges).
struct Diverging;
impl ScoreModel<2> for Diverging {
    fn score<R: Real>(&self, x: &[R; 2], _t: R) -> [R; 2] {
        x.map(|v| R::from_f64(1e3) * v)
    }
}

/// The adaptive solver stops every lane with an error value within its step budget (2
/// evaluations per attempt), and the trait's `run` marks those lanes NaN.
#[test]
fn adaptive_stops_with_an_error_on_a_diverging_score() {
    let opts = AdaptiveOptions { max_steps: 2000, ..AdaptiveOptions::default() };
    let s = AdaptiveSde::new(Vp::default(), 1e-3, opts).unwrap();
    let mut xs = vec![[0.0f32; 2]; 11];
    let mut status = vec![Ok(0); 11];
    s.run_batch_with_status::<f32x8, f32, _, 2>(&Diverging, 5, 0, &mut xs, &mut status).unwrap();
    for r in &status {
        println!("diverging score: {r:?}");
        assert!(
            matches!(
                r,
                Err(Error::StepSizeUnderflow | Error::MaxStepsExceeded | Error::NonFiniteState)
            ),
            "{r:?}"
        );
    }
    let mut ys = vec![[0.0f32; 2]; 11];
    s.sample_batch(&Diverging, 5, 0, &mut ys);
    assert!(ys.iter().all(|y| y[0].is_nan() && y[1].is_nan()));
    // Too short a budget is an error too, with exactly 2·max_steps evaluations on a good score.
    let m = random_mixture::<2, 4>(21).under(Vp::default());
    let few =
        AdaptiveSde::new(Vp::default(), 1e-3, AdaptiveOptions { max_steps: 3, ..opts }).unwrap();
    let mut x = [0.0f32; 2];
    let stats = few.run_with_stats(&m, &mut x, &mut Streams::<f32>::new(1, 0));
    assert_eq!(stats.lane_result(0), Err(Error::MaxStepsExceeded));
    assert_eq!(stats.nfe_lane(0), 6);
}

fn bits<const D: usize>(v: &[[f32; D]]) -> Vec<[u32; D]> {
    v.iter().map(|x| x.map(f32::to_bits)).collect()
}

/// Sample i is the same bits alone (f32), in f32x4 and f32x8 batches of every size and at an
/// offset, for every new sampler (and the adaptive solver's NFE per sample too).
fn lane_independent<Smp: LaneSampler<2, MixtureScore<2, 4, S>>, S: Sde + Copy>(smp: &Smp, sde: S) {
    let model = random_mixture::<2, 4>(21).under(sde);
    let reference: Vec<[f32; 2]> = (0..29u64)
        .map(|i| {
            let mut x = [0.0f32; 2];
            smp.run(&model, &mut x, &mut Streams::<f32>::new(8, i));
            x
        })
        .collect();
    for len in [1usize, 7, 8, 13, 29] {
        let mut a = vec![[0.0f32; 2]; len];
        smp.run_batch::<f32x8, f32>(&model, 8, 0, &mut a);
        assert_eq!(bits(&a), bits(&reference[..len]), "f32x8, batch {len}");
        let mut b = vec![[0.0f32; 2]; len];
        smp.run_batch::<f32x4, f32>(&model, 8, 0, &mut b);
        assert_eq!(bits(&b), bits(&reference[..len]), "f32x4, batch {len}");
    }
    let mut d = vec![[0.0f32; 2]; 24];
    smp.sample_batch(&model, 8, 5, &mut d);
    assert_eq!(bits(&d), bits(&reference[5..]));
}

#[test]
fn samples_do_not_depend_on_batch_or_lane_width() {
    let (ve, vp, sub) = (Ve::default(), Vp::default(), SubVp::default());
    lane_independent(&StochasticRk::new(vp, SrkMethod::Sra1, 40, 1e-3).unwrap(), vp);
    lane_independent(&StochasticRk::new(ve, SrkMethod::Heun, 40, 1e-5).unwrap(), ve);
    lane_independent(&EdmHeun::new(sub, 10, 1e-3).unwrap(), sub);
    lane_independent(&DpmSolverPp2m::new(ve, 12, 1e-5).unwrap(), ve);
    lane_independent(&DpmSolverPp3m::new(vp, 12, 1e-3).unwrap(), vp);
    lane_independent(&UniPc::new(ve, 12, 1e-5).unwrap(), ve);
    let ad = AdaptiveSde::new(vp, 1e-3, AdaptiveOptions::default()).unwrap();
    lane_independent(&ad, vp);
    // The adaptive solver's per-sample NFE does not depend on the batch either.
    let model = random_mixture::<2, 4>(21).under(vp);
    let (mut a, mut b) = (vec![[0.0f32; 2]; 13], vec![[0.0f32; 2]; 13]);
    let (mut sa, mut sb) = (vec![Ok(0); 13], vec![Ok(0); 13]);
    ad.run_batch_with_status::<f32x8, f32, _, 2>(&model, 3, 0, &mut a, &mut sa).unwrap();
    ad.run_batch_with_status::<f32, f32, _, 2>(&model, 3, 0, &mut b, &mut sb).unwrap();
    assert_eq!((bits(&a), &sa), (bits(&b), &sb));
    assert!(sa.iter().all(|r| r.is_ok()));
    let distinct: std::collections::BTreeSet<u32> =
        sa.iter().map(|r| *r.as_ref().unwrap()).collect();
    assert!(distinct.len() > 1, "per-lane step sizes give per-sample NFE: {sa:?}");
}
