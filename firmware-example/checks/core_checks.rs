//! The core's checks on target, under QEMU (the Cortex-M4F, the Cortex-M0, RV32IMAC): each test is a self-contained invariant or a
//! reference value computed on the target itself (`libm`'s `f64` functions, closed forms), so a
//! wrong result on this target fails here even if the host passes.
//!
//! - math: `f32` sweeps of every kernel against `libm`'s `f64` functions with the core's ULP
//!   budgets (`core/src/math/mod.rs`), on a subset of the host's points;
//! - flows: inverse ∘ forward = id and log-det against a central-difference Jacobian, for the
//!   example's 10-layer planar flow;
//! - sampling: reverse-SDE Euler–Maruyama draws of the 8-component mixture match its exact mean
//!   and second moment;
//! - likelihood: the probability-flow ODE log-likelihood matches the closed-form density.
//!
//! Every failed check is logged; the run exits 0 only if all pass, 1 otherwise (or after a
//! panic), 2 after a HardFault. With the feature `planted-failure` one deliberately false check
//! is added, to show that a failure makes the run exit non-zero.
//!
//! Included by each target's test runner (`src/bin/tests.rs` on the Cortex-M4F, with defmt;
//! `portable/` on the Cortex-M0 and RV32, over semihosting), which defines the logging macros
//! `log_info!` and `log_error!` first: the messages use only `{}` placeholders, which defmt and
//! `core::fmt` both read.

use flowscore::flow::Bijector;
use flowscore::likelihood::{ExactDivergence, ExactPrior, PfConfig, pf_log_likelihood};
use flowscore::math;
use flowscore::rng::{LaneSource, Streams};
use flowscore::sample::LaneSampler;
use flowscore::score::ExactScoreModel;
use flowscore_scenario::Models;
use flowscore_scenario::models::{COMPONENT_VARIANCE, PLANAR_LAYERS};

/// A test's outcome: `Err` after logging what failed.
type Outcome = Result<(), ()>;
/// A named on-target test.
type Test = (&'static str, fn(&Models) -> Outcome);

/// Logs and fails the test when `cond` is false.
macro_rules! ensure {
    ($cond:expr, $($arg:tt)+) => {
        // A NaN makes the comparison false, so it fails the check.
        let ok: bool = $cond;
        if !ok {
            log_error!($($arg)+);
            return Err(());
        }
    };
}

// ---------------------------------------------------------------------------------------------
// math: ULP sweeps

/// Points of the bit-pattern stride over each function's main domain.
const DOMAIN_POINTS: u32 = 6000;
/// Stride over all 2³² bit patterns (prime; ≈ 2000 points, every sign and exponent).
const FULL_STRIDE: u64 = 2_147_483 + 12;

/// Monotone map from `f32` to integers (−0 and +0 adjacent), and back.
fn ord32(x: f32) -> i64 {
    let b = x.to_bits() as i32 as i64;
    if b < 0 { -(b & 0x7fff_ffff) - 1 } else { b }
}
fn unord32(o: i64) -> f32 {
    if o < 0 { f32::from_bits(((-(o + 1)) as u32) | 0x8000_0000) } else { f32::from_bits(o as u32) }
}

/// Error of `got` in ulps of the `f32` nearest to `want` (as the host sweeps measure it).
fn ulps32(got: f32, want: f64) -> f64 {
    if want.is_nan() || got.is_nan() {
        return if want.is_nan() && got.is_nan() { 0.0 } else { f64::INFINITY };
    }
    if want.is_infinite() {
        return if got as f64 == want { 0.0 } else { f64::INFINITY };
    }
    let g = if got.is_infinite() {
        libm::copysign(libm::ldexp(1.0, 128), got as f64)
    } else {
        got as f64
    };
    if g == want || (got.is_infinite() && want as f32 == got) {
        return 0.0;
    }
    let e = (((want.to_bits() >> 52) & 0x7ff) as i32 - 1023).clamp(-126, 127);
    libm::fabs(g - want) / libm::ldexp(1.0, e - 23)
}

/// Edge cases every function sees (and their negatives).
const EDGES: [f32; 16] = [
    0.0,
    f32::MIN_POSITIVE,
    1e-40,
    1e-10,
    1e-4,
    0.5,
    core::f32::consts::LN_2,
    1.0,
    2.0,
    10.0,
    88.7,
    89.0,
    1e10,
    f32::MAX,
    f32::INFINITY,
    f32::NAN,
];

/// Sweeps `f` over a stride of all bit patterns, a stride over `[lo, hi]` and the edge cases;
/// fails if the worst error exceeds `budget` ulps.
fn sweep(
    name: &str,
    lo: f32,
    hi: f32,
    f: impl Fn(f32) -> f32,
    reference: impl Fn(f64) -> f64,
    budget: f64,
) -> Outcome {
    let mut worst = (0.0f64, 0.0f32);
    let mut visit = |x: f32| {
        let err = ulps32(f(x), reference(x as f64));
        if err > worst.0 {
            worst = (err, x);
        }
    };
    let mut bits = 0u64;
    while bits < 1 << 32 {
        visit(f32::from_bits(bits as u32));
        bits += FULL_STRIDE;
    }
    let (a, b) = (ord32(lo), ord32(hi));
    let step = ((b - a) / DOMAIN_POINTS as i64).max(1);
    let mut o = a;
    while o <= b {
        visit(unord32(o));
        o += step;
    }
    for e in EDGES {
        visit(e);
        visit(-e);
    }
    log_info!("  {}: max {} ulp at {}", name, worst.0, worst.1);
    ensure!(worst.0 <= budget, "{}: {} ulp > {} at x = {}", name, worst.0, budget, worst.1);
    Ok(())
}

fn softplus_ref(x: f64) -> f64 {
    x.max(0.0) + libm::log1p(libm::exp(-libm::fabs(x)))
}
fn sigmoid_ref(x: f64) -> f64 {
    let t = libm::exp(-libm::fabs(x));
    if x < 0.0 { t / (1.0 + t) } else { 1.0 / (1.0 + t) }
}

/// |x| ≤ 2¹⁵π: the range of the `f32` sin/cos budget.
const TRIG_RANGE: f32 = 102_943.7;

fn math_ulp_sweeps() -> Outcome {
    sweep("exp", -104.0, 89.0, math::exp::<f32>, libm::exp, 1.0)?;
    sweep("expm1", -30.0, 89.0, math::expm1::<f32>, libm::expm1, 2.0)?;
    sweep("ln", 0.0, f32::MAX, math::ln::<f32>, libm::log, 1.0)?;
    sweep("ln_1p", -1.0, f32::MAX, math::ln_1p::<f32>, libm::log1p, 2.0)?;
    sweep("tanh", -10.0, 10.0, math::tanh::<f32>, libm::tanh, 2.0)?;
    sweep("softplus", -110.0, 110.0, math::softplus::<f32>, softplus_ref, 2.0)?;
    sweep("sigmoid", -110.0, 110.0, math::sigmoid::<f32>, sigmoid_ref, 2.0)?;
    let in_range = |x: f64| if libm::fabs(x) <= TRIG_RANGE as f64 { x } else { f64::NAN };
    let sin = |x: f32| if libm::fabsf(x) <= TRIG_RANGE { math::sin_cos(x).0 } else { f32::NAN };
    let cos = |x: f32| if libm::fabsf(x) <= TRIG_RANGE { math::sin_cos(x).1 } else { f32::NAN };
    sweep("sin", -TRIG_RANGE, TRIG_RANGE, sin, |x| libm::sin(in_range(x)), 2.0)?;
    sweep("cos", -TRIG_RANGE, TRIG_RANGE, cos, |x| libm::cos(in_range(x)), 2.0)?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// flows

/// Points drawn from the base for the flow checks.
const FLOW_POINTS: u64 = 64;
/// |z − f⁻¹(f(z))| bound in `f64`: the planar inverse stops at rounding level (≈ 1e-15 per
/// layer, times the layer's Lipschitz constant); 1e-12 leaves a wide margin over 10 layers.
const ROUND_TRIP_TOL_F64: f64 = 1e-12;
/// The same in `f32` (≈ 10 layers × a few ulps of values of order 1).
const ROUND_TRIP_TOL_F32: f32 = 1e-5;
/// Central-difference step for the Jacobian (f64): error O(h²) ≈ 1e-10, rounding ≈ 1e-16/h.
const FD_STEP: f64 = 1e-5;
/// |log|det J_fd| − log-det| bound: the central difference's O(h²) and rounding errors.
const LOG_DET_TOL: f64 = 1e-7;

fn planar_inverse_of_forward(models: &Models) -> Outcome {
    let flow = &models.flow.bijector;
    let mut worst = (0.0f64, 0.0f32);
    for i in 0..FLOW_POINTS {
        let mut rng = Streams::<f64>::new(11, i);
        let z: [f64; 2] = rng.normal_array();
        let (x, ld) = flow.forward(z);
        let Ok((z2, ld_inv)) = flow.inverse(x) else {
            log_error!("inverse failed at point {}", i);
            return Err(());
        };
        let err = libm::fabs(z2[0] - z[0]).max(libm::fabs(z2[1] - z[1]));
        worst.0 = worst.0.max(err);
        ensure!(err <= ROUND_TRIP_TOL_F64, "f64 round trip off by {} at point {}", err, i);
        ensure!(
            libm::fabs(ld + ld_inv) <= ROUND_TRIP_TOL_F64,
            "f64 log-dets do not cancel: {} + {}",
            ld,
            ld_inv
        );
        let z32 = [z[0] as f32, z[1] as f32];
        let (x32, _) = flow.forward(z32);
        let Ok((z32b, _)) = flow.inverse(x32) else {
            log_error!("f32 inverse failed at point {}", i);
            return Err(());
        };
        let err32 = libm::fabsf(z32b[0] - z32[0]).max(libm::fabsf(z32b[1] - z32[1]));
        worst.1 = worst.1.max(err32);
        ensure!(err32 <= ROUND_TRIP_TOL_F32, "f32 round trip off by {} at point {}", err32, i);
    }
    log_info!(
        "  {} planar layers: max round-trip error {} (f64), {} (f32)",
        PLANAR_LAYERS,
        worst.0,
        worst.1
    );
    Ok(())
}

fn planar_log_det_vs_finite_differences(models: &Models) -> Outcome {
    let flow = &models.flow.bijector;
    let mut worst = 0.0f64;
    for i in 0..FLOW_POINTS {
        let mut rng = Streams::<f64>::new(12, i);
        let z: [f64; 2] = rng.normal_array();
        let (_, ld) = flow.forward(z);
        let mut jac = [[0.0f64; 2]; 2];
        for j in 0..2 {
            let (mut zp, mut zm) = (z, z);
            zp[j] += FD_STEP;
            zm[j] -= FD_STEP;
            let (xp, _) = flow.forward(zp);
            let (xm, _) = flow.forward(zm);
            for k in 0..2 {
                jac[k][j] = (xp[k] - xm[k]) / (2.0 * FD_STEP);
            }
        }
        let det = jac[0][0] * jac[1][1] - jac[0][1] * jac[1][0];
        let err = libm::fabs(libm::log(libm::fabs(det)) - ld);
        worst = worst.max(err);
        ensure!(err <= LOG_DET_TOL, "log-det {} vs finite differences off by {}", ld, err);
    }
    log_info!("  max |log-det − log|det J_fd|| = {}", worst);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// sampling

/// Euler–Maruyama draws for the moment check.
const MOMENT_SAMPLES: u64 = 512;
/// Standard errors allowed (a 5σ bound fails a correct sampler with probability < 1e-6).
const MOMENT_SIGMAS: f64 = 5.0;
/// Allowance for the discretisation bias of 200 EM steps on E‖x‖² (the host tests of the
/// sampler bound the bias of this grid well below it).
const EM_BIAS: f64 = 0.05;

fn square(x: f64) -> f64 {
    x * x
}

fn euler_maruyama_moments(models: &Models) -> Outcome {
    // Exact moments of the mixture: E x = Σ πₖ μₖ, E‖x‖² = Σ πₖ (‖μₖ‖² + tr Σₖ).
    let (mut m, mut m2) = ([0.0f64; 2], 0.0f64);
    for (w, mu) in models.score.mixture().weights().iter().zip(models.score.mixture().means()) {
        let w = *w as f64;
        m[0] += w * mu[0] as f64;
        m[1] += w * mu[1] as f64;
        m2 += w * (square(mu[0] as f64) + square(mu[1] as f64) + 2.0 * COMPONENT_VARIANCE as f64);
    }
    let (mut s1, mut s2, mut s_sq, mut s_sq2) = ([0.0f64; 2], [0.0f64; 2], 0.0f64, 0.0f64);
    for i in 0..MOMENT_SAMPLES {
        let mut x = [0.0f32; 2];
        let mut rng = Streams::<f32>::new(13, i);
        models.euler_maruyama.run(&models.score, &mut x, &mut rng);
        let r2 = square(x[0] as f64) + square(x[1] as f64);
        for k in 0..2 {
            s1[k] += x[k] as f64;
            s2[k] += square(x[k] as f64);
        }
        s_sq += r2;
        s_sq2 += r2 * r2;
    }
    let n = MOMENT_SAMPLES as f64;
    for k in 0..2 {
        let mean = s1[k] / n;
        let se = libm::sqrt((s2[k] / n - mean * mean) / n);
        log_info!("  E x[{}] = {} ± {} (exact {})", k, mean, se, m[k]);
        ensure!(libm::fabs(mean - m[k]) <= MOMENT_SIGMAS * se, "mean x[{}] off", k);
    }
    let mean_sq = s_sq / n;
    let se = libm::sqrt((s_sq2 / n - mean_sq * mean_sq) / n);
    log_info!("  E|x|^2 = {} ± {} (exact {})", mean_sq, se, m2);
    ensure!(libm::fabs(mean_sq - m2) <= MOMENT_SIGMAS * se + EM_BIAS, "E|x|^2 off");
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// likelihood

/// The core's bound for a probability-flow log-likelihood at rtol = atol = 1e-5 against the
/// exact density (tests/likelihood.rs), in nats.
const LIKELIHOOD_TOL: f64 = 2e-3;

fn probability_flow_matches_closed_form(models: &Models) -> Outcome {
    let cfg = PfConfig::default();
    let points = [[2.0f32, 0.0], [1.0, 1.5], [0.0, 0.0], [-1.4, -1.4], [3.0, -0.5], [0.3, -2.2]];
    let mut worst = 0.0f64;
    for (i, x) in points.iter().enumerate() {
        let r = pf_log_likelihood(
            &models.score,
            models.score.sde(),
            &ExactDivergence,
            &ExactPrior(&models.score),
            x,
            i as u64,
            &cfg,
        );
        let Ok(r) = r else {
            log_error!("likelihood solve rejected its options");
            return Err(());
        };
        ensure!(r.status.first_error().is_ok(), "likelihood solve failed at point {}", i);
        let x64 = [x[0] as f64, x[1] as f64];
        let exact: f64 = models.score.log_density(&x64, cfg.eps);
        let err = libm::fabs(r.log_p as f64 - exact);
        worst = worst.max(err);
        ensure!(
            err <= LIKELIHOOD_TOL,
            "point {}: ODE {} vs exact {} ({} nats)",
            i,
            r.log_p,
            exact,
            err
        );
    }
    log_info!("  max |ODE − exact| = {} nats over {} points", worst, points.len());
    Ok(())
}

#[cfg(feature = "planted-failure")]
fn planted_failure(_: &Models) -> Outcome {
    let e: f32 = math::exp(1.0f32);
    ensure!(e == 2.0, "planted failure: exp(1) = {}, not 2", e);
    Ok(())
}

fn math_ulp(_: &Models) -> Outcome {
    math_ulp_sweeps()
}

/// Runs every check with `models` (from [`Models::new`]), logging each outcome; returns the
/// number that failed.
pub fn run_all(models: &Models) -> u32 {
    let tests: &[Test] = &[
        ("math: f32 ULP sweeps vs libm f64", math_ulp),
        ("flow: planar inverse of forward", planar_inverse_of_forward),
        ("flow: planar log-det vs finite differences", planar_log_det_vs_finite_differences),
        ("sample: Euler-Maruyama moments of the mixture", euler_maruyama_moments),
        ("likelihood: probability flow vs closed form", probability_flow_matches_closed_form),
        #[cfg(feature = "planted-failure")]
        ("planted failure", planted_failure),
    ];
    let mut failed = 0u32;
    for (name, test) in tests {
        log_info!("test {} ...", name);
        match test(models) {
            Ok(()) => log_info!("test {}: ok", name),
            Err(()) => {
                log_error!("test {}: FAILED", name);
                failed += 1;
            }
        }
    }
    log_info!("{} tests, {} failed", tests.len(), failed);
    failed
}
