//! TEMPORARY ADAPTER (until `flowscore::sample` is available): the samplers of MATH.md §4–§6
//! in f64 over the exact mixture score, one sample at a time from its own stream.

use flowscore::rng::LaneSource;
use flowscore::sde::Sde;

use super::dopri5::{self, OdeOptions};
use super::mixture::Mixture;
use super::sde_kind::AnySde;

/// Langevin-type sampler settings.
#[derive(Clone, Copy, Debug)]
pub struct LangevinOptions {
    /// Number of steps (per noise level for annealed Langevin).
    pub steps: u32,
    /// Step size ε.
    pub step_size: f64,
}

/// Noise levels of annealed Langevin: σ geometric from `sigma_max` down to `sigma_min`.
#[derive(Clone, Copy, Debug)]
pub struct AnnealOptions {
    /// Largest noise level σ₁.
    pub sigma_max: f64,
    /// Smallest noise level σ_L.
    pub sigma_min: f64,
    /// Number of levels L.
    pub levels: u32,
}

/// Default number of annealed-Langevin noise levels L: twice NCSN's 10. With σ₁ = 14 (the ncsn
/// mixture's mode distance) ten levels change σ by 0.45× per level, too coarse at the level
/// where the modes separate: measured weights 0.76–0.78 instead of 0.80 (20 levels: 0.79–0.80).
pub const ANNEAL_LEVELS: u32 = 20;
/// Default smallest annealed-Langevin noise level σ_L (NCSN).
pub const ANNEAL_SIGMA_MIN: f64 = 0.01;

/// The box that Langevin chains start from: uniform over the means' bounding box widened by
/// three standard deviations of the widest component (for the ncsn mixture: [−8, 8]²).
pub fn start_box<const D: usize>(mix: &Mixture<D>) -> ([f64; D], [f64; D]) {
    let pad = 3.0 * mix.max_variance().sqrt();
    let mut lo = [f64::INFINITY; D];
    let mut hi = [f64::NEG_INFINITY; D];
    for m in mix.means() {
        for i in 0..D {
            lo[i] = lo[i].min(m[i] - pad);
            hi[i] = hi[i].max(m[i] + pad);
        }
    }
    (lo, hi)
}

fn uniform_start<const D: usize, S: LaneSource<f64>>(
    bx: &([f64; D], [f64; D]),
    rng: &mut S,
) -> [f64; D] {
    core::array::from_fn(|i| bx.0[i] + (bx.1[i] - bx.0[i]) * rng.uniform())
}

/// Plain (unadjusted) Langevin on p₀: x ← x + ε s(x) + √(2ε) z.
pub fn langevin<const D: usize, S: LaneSource<f64>>(
    mix: &Mixture<D>,
    opt: &LangevinOptions,
    rng: &mut S,
) -> [f64; D] {
    let mut x = uniform_start(&start_box(mix), rng);
    let noise = (2.0 * opt.step_size).sqrt();
    for _ in 0..opt.steps {
        let s = mix.eval_marginal(&x, 1.0, 0.0).score;
        let z: [f64; D] = rng.normal_array();
        for i in 0..D {
            x[i] += opt.step_size * s[i] + noise * z[i];
        }
    }
    x
}

/// MALA: the Langevin proposal accepted by the Metropolis–Hastings ratio on the exact log p₀.
/// Returns the sample and the number of accepted proposals.
pub fn mala<const D: usize, S: LaneSource<f64>>(
    mix: &Mixture<D>,
    opt: &LangevinOptions,
    rng: &mut S,
) -> ([f64; D], u32) {
    let eps = opt.step_size;
    let mut x = uniform_start(&start_box(mix), rng);
    let mut ex = mix.eval_marginal(&x, 1.0, 0.0);
    let noise = (2.0 * eps).sqrt();
    let mut accepted = 0;
    // log q(b | a) up to a constant: −‖b − a − ε s(a)‖² / (4ε).
    let log_q = |b: &[f64; D], a: &[f64; D], sa: &[f64; D]| -> f64 {
        let mut q = 0.0;
        for i in 0..D {
            let d = b[i] - a[i] - eps * sa[i];
            q += d * d;
        }
        -q / (4.0 * eps)
    };
    for _ in 0..opt.steps {
        let z: [f64; D] = rng.normal_array();
        let y: [f64; D] = core::array::from_fn(|i| x[i] + eps * ex.score[i] + noise * z[i]);
        let ey = mix.eval_marginal(&y, 1.0, 0.0);
        let log_ratio =
            ey.log_density - ex.log_density + log_q(&x, &y, &ey.score) - log_q(&y, &x, &ex.score);
        let u: f64 = rng.uniform_open();
        if u.ln() < log_ratio {
            x = y;
            ex = ey;
            accepted += 1;
        }
    }
    (x, accepted)
}

/// Annealed Langevin (NCSN Algorithm 1) on the mixture perturbed by N(0, σᵢ² I):
/// αᵢ = ε σᵢ²/σ_L², T steps of x ← x + (αᵢ/2) s(x, σᵢ) + √αᵢ z per level.
pub fn annealed_langevin<const D: usize, S: LaneSource<f64>>(
    mix: &Mixture<D>,
    opt: &LangevinOptions,
    anneal: &AnnealOptions,
    rng: &mut S,
) -> [f64; D] {
    let mut x = uniform_start(&start_box(mix), rng);
    let levels = anneal.levels.max(1);
    let ratio = if levels > 1 {
        (anneal.sigma_min / anneal.sigma_max).powf(1.0 / (levels - 1) as f64)
    } else {
        1.0
    };
    let mut sigma = anneal.sigma_max;
    for _ in 0..levels {
        let alpha = opt.step_size * sigma * sigma / (anneal.sigma_min * anneal.sigma_min);
        let noise = alpha.sqrt();
        for _ in 0..opt.steps {
            let s = mix.eval_marginal(&x, 1.0, sigma).score;
            let z: [f64; D] = rng.normal_array();
            for i in 0..D {
                x[i] += 0.5 * alpha * s[i] + noise * z[i];
            }
        }
        sigma *= ratio;
    }
    x
}

/// Reverse-SDE settings.
#[derive(Clone, Copy, Debug)]
pub struct ReverseOptions {
    /// Number of time steps N.
    pub steps: u32,
    /// Corrector signal-to-noise ratio (predictor–corrector only).
    pub snr: f64,
}

fn prior_draw<const D: usize, S: LaneSource<f64>>(sde: &AnySde, rng: &mut S) -> [f64; D] {
    let z: [f64; D] = rng.normal_array();
    let s = sde.prior_std() as f64;
    core::array::from_fn(|i| s * z[i])
}

/// Reverse-SDE Euler–Maruyama from T down to ε (MATH.md §5); with `corrector`, one Langevin
/// corrector step (step 2a(snr σ_t)², see below) before each predictor step. The last
/// step returns the mean (no noise).
pub fn reverse_sde<const D: usize, S: LaneSource<f64>>(
    mix: &Mixture<D>,
    sde: &AnySde,
    opt: &ReverseOptions,
    corrector: bool,
    rng: &mut S,
) -> [f64; D] {
    let n = opt.steps.max(1);
    let t_max = sde.t_max() as f64;
    let eps = sde.sampling_eps();
    let dt = (t_max - eps) / n as f64;
    let mut x = prior_draw(sde, rng);
    for i in 0..n {
        let t = t_max - i as f64 * dt;
        if corrector {
            // Langevin corrector with an x-independent step 2a(snr σ_t)²: the value the snr
            // rule 2a(snr‖z‖/‖s‖)² takes for ‖z‖² ≈ D, ‖s‖² ≈ D/σ_t². A step that depends on
            // x through ‖s(x)‖ (the per-sample rule) changes the corrector's stationary law
            // from p_t to ∝ p_t‖s‖², which empties the modes' centres and, on the ncsn
            // mixture, moves the weights from 0.80/0.20 to about 0.63/0.37.
            let s = mix.eval(sde, &x, t).score;
            let z: [f64; D] = rng.normal_array();
            let (_, sigma) = sde.marginal(t);
            let a = sde.beta(t).map_or(1.0, |b| 1.0 - b / n as f64);
            let step = 2.0 * a * (opt.snr * sigma).powi(2);
            let noise = (2.0 * step).sqrt();
            for k in 0..D {
                x[k] += step * s[k] + noise * z[k];
            }
        }
        let s = mix.eval(sde, &x, t).score;
        let c = sde.drift_coef(t);
        let g = sde.diffusion(t);
        let z: [f64; D] = rng.normal_array();
        let last = i + 1 == n;
        for k in 0..D {
            let mean = x[k] - (c * x[k] - g * g * s[k]) * dt;
            x[k] = if last { mean } else { mean + g * dt.sqrt() * z[k] };
        }
    }
    x
}

/// The probability-flow drift F(x, t) = c(t)x − ½g(t)² s(x, t) (MATH.md §6).
fn pf_drift<const D: usize>(mix: &Mixture<D>, sde: &AnySde, x: &[f64; D], t: f64) -> [f64; D] {
    let s = mix.eval(sde, x, t).score;
    let c = sde.drift_coef(t);
    let g = sde.diffusion(t);
    core::array::from_fn(|i| c * x[i] - 0.5 * g * g * s[i])
}

/// A probability-flow sample: the end state, the accepted (t, x) states, the NFE.
pub type OdeSample<const D: usize> = ([f64; D], Vec<(f64, [f64; D])>, u32);

/// Probability-flow ODE sampling: a prior draw at T carried to ε by Dormand–Prince 5(4).
/// Returns the sample, the accepted states (t, x) along the way, and the NFE.
pub fn ode_sample<const D: usize, S: LaneSource<f64>>(
    mix: &Mixture<D>,
    sde: &AnySde,
    opt: &OdeOptions,
    rng: &mut S,
) -> anyhow::Result<OdeSample<D>> {
    let x0: [f64; D] = prior_draw(sde, rng);
    let t_max = sde.t_max() as f64;
    let eps = sde.sampling_eps();
    let mut path = vec![(t_max, x0)];
    let sol = dopri5::solve(
        |t, y: &[f64], dy: &mut [f64]| {
            let x: [f64; D] = core::array::from_fn(|i| y[i]);
            let f = pf_drift(mix, sde, &x, t);
            dy[..D].copy_from_slice(&f);
        },
        t_max,
        eps,
        &x0,
        opt,
        |t, y| path.push((t, core::array::from_fn(|i| y[i]))),
    )?;
    let x = core::array::from_fn(|i| sol.y[i]);
    Ok((x, path, sol.nfe))
}

/// How the divergence of the probability-flow drift is computed.
#[derive(Clone, Copy, Debug)]
pub enum Divergence {
    /// Exact ∇·F.
    Exact,
    /// Hutchinson's vᵀ(∇F)v with these probes (fixed for the whole solve), averaged.
    Hutchinson(usize),
}

/// log p_ε(x) by the probability-flow ODE (MATH.md §6): the augmented state [x, ℓ] integrated
/// from ε to T, then log p_T(x(T)) (the exact perturbed mixture) + ℓ(T). Returns (log p, NFE).
pub fn ode_loglik<const D: usize, S: LaneSource<f64>>(
    mix: &Mixture<D>,
    sde: &AnySde,
    x: &[f64; D],
    eps: f64,
    div: Divergence,
    opt: &OdeOptions,
    rng: &mut S,
) -> anyhow::Result<(f64, u32)> {
    let probes: Vec<[f64; D]> = match div {
        Divergence::Exact => Vec::new(),
        Divergence::Hutchinson(m) => (0..m.max(1)).map(|_| rademacher(rng)).collect(),
    };
    let mut y0 = vec![0.0; D + 1];
    y0[..D].copy_from_slice(x);
    let t_max = sde.t_max() as f64;
    let sol = dopri5::solve(
        |t, y: &[f64], dy: &mut [f64]| {
            let xt: [f64; D] = core::array::from_fn(|i| y[i]);
            let (a, s) = sde.marginal(t);
            let c = sde.drift_coef(t);
            let g = sde.diffusion(t);
            let (ev, divergence) = if probes.is_empty() {
                let ev = mix.eval_marginal(&xt, a, s);
                (ev, ev.divergence)
            } else {
                let mut acc = 0.0;
                let mut ev = None;
                for v in &probes {
                    let (e, q) = mix.eval_with_probe(&xt, a, s, Some(v));
                    acc += q;
                    ev = Some(e);
                }
                (ev.unwrap_or_else(|| mix.eval_marginal(&xt, a, s)), acc / probes.len() as f64)
            };
            for i in 0..D {
                dy[i] = c * xt[i] - 0.5 * g * g * ev.score[i];
            }
            // ∇·F = D c(t) − ½ g² ∇·s (for Hutchinson, vᵀv = D for Rademacher probes).
            dy[D] = D as f64 * c - 0.5 * g * g * divergence;
        },
        eps,
        t_max,
        &y0,
        opt,
        |_, _| {},
    )?;
    let xt: [f64; D] = core::array::from_fn(|i| sol.y[i]);
    let prior = mix.eval(sde, &xt, t_max).log_density;
    Ok((prior + sol.y[D], sol.nfe))
}

fn rademacher<const D: usize, S: LaneSource<f64>>(rng: &mut S) -> [f64; D] {
    core::array::from_fn(|_| rng.rademacher())
}
