//! Few-step probability-flow samplers: Karras et al.'s second-order Heun sampler and
//! DPM-Solver++(2M) (MATH.md §6.1).
//!
//! Both solve the probability-flow ODE in the σ-parameterisation of Karras et al. 2022
//! ("Elucidating the Design Space of Diffusion-Based Generative Models", EDM): every SDE here
//! has the marginal x_t = α_t x₀ + σ_t ε, so x̂ = x/α_t is the VE-type process with noise level
//! σ̄(t) = σ_t/α_t (VE: σ̄ = σ_t; VP: σ̄ = √(1 − α_t²)/α_t; sub-VP: (1 − α_t²)/α_t), and its
//! probability-flow ODE is
//!   dx̂/dσ̄ = (x̂ − D(x̂; σ̄))/σ̄ = −σ_t s(α_t x̂, t),  D(x̂; σ̄) = x̂ + (σ_t²/α_t) s(α_t x̂, t),
//! D the denoiser (Tweedie's formula) and t = t(σ̄) the time with that noise level (σ̄ increases
//! with t; inverted in closed form by [`Sde::time_of_sigma_bar`] for the built-in SDEs, by a
//! bounded bisection in `f64` for any other).
//!
//! The noise levels follow the EDM schedule with ρ = 7 from σ̄_max = σ̄(T) to σ̄_min = σ̄(ε):
//!   σ̄ᵢ = (σ̄_max^{1/ρ} + (i/N)(σ̄_min^{1/ρ} − σ̄_max^{1/ρ}))^ρ, i = 0 … N,
//! so the sample is returned at t = ε, as the other samplers do. Every lane runs the same
//! schedule, computed in `f64` scalars, so lanes never interact.
//!
//! - [`EdmHeun`] (EDM Algorithm 1, deterministic, S_churn = 0): Heun's method in σ̄, 2N
//!   evaluations (σ̄_N > 0, so every step has its correction).
//! - [`DpmSolverPp2m`] (Lu et al. 2022, "DPM-Solver++: Fast Solver for Guided Sampling of
//!   Diffusion Probabilistic Models", Algorithm 2): the multistep second-order solver in the
//!   data-prediction form, N evaluations. With λ = −ln σ̄ (the half log-SNR ln(α/σ)),
//!   hᵢ = λᵢ₊₁ − λᵢ and rᵢ = hᵢ₋₁/hᵢ:
//!   x̂ᵢ₊₁ = (σ̄ᵢ₊₁/σ̄ᵢ) x̂ᵢ − (e^{−hᵢ} − 1) Dᵢ',  Dᵢ' = (1 + 1/(2rᵢ)) Dᵢ − (1/(2rᵢ)) Dᵢ₋₁
//!   (D₀' = D₀: the first step is DPM-Solver++(1), i.e. DDIM). In x this is Lu et al.'s
//!   x_{tᵢ₊₁} = (σᵢ₊₁/σᵢ) x_{tᵢ} − αᵢ₊₁(e^{−hᵢ} − 1) Dᵢ'.
//!
//! Both start from the SDE's prior N(0, s² I) drawn from the sample's stream (D normals), or
//! from the given `x` (as x_T) after [`EdmHeun::starting_from_input`].

use crate::error::{Error, finite};
use crate::lane::Lane;
use crate::rng::LaneSource;
use crate::sample::LaneSampler;
use crate::sample::euler_maruyama::prior_draw;
use crate::score::ScoreModel;
use crate::sde::Sde;

/// EDM's default schedule exponent ρ.
pub const KARRAS_RHO: f64 = 7.0;

/// Bisection iterations of the σ̄ → t inversion (enough for `f64` on [0, T]).
const BISECTION_STEPS: u32 = 80;

/// σ̄(t) = σ_t/α_t in `f64`.
#[inline]
pub fn sigma_bar<S: Sde>(sde: &S, t: f64) -> f64 {
    let (a, s) = sde.marginal(t);
    s / a
}

/// The time t ∈ [lo, hi] with σ̄(t) = `target`, by at most 80 bisection steps (σ̄ increases in t).
pub fn time_of_sigma<S: Sde>(sde: &S, target: f64, mut lo: f64, mut hi: f64) -> f64 {
    for _ in 0..BISECTION_STEPS {
        let mid = 0.5 * (lo + hi);
        if mid <= lo || mid >= hi {
            break;
        }
        if sigma_bar(sde, mid) < target {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// One level of the schedule: the time, α_t, σ_t and σ̄ = σ_t/α_t.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Level {
    /// The time t.
    pub t: f64,
    /// α_t.
    pub alpha: f64,
    /// σ_t.
    pub sigma: f64,
    /// σ̄ = σ_t/α_t.
    pub sigma_bar: f64,
}

/// The EDM noise schedule (Karras et al. 2022, eq. 5) from σ̄(T) down to σ̄(ε) in N steps.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct KarrasSchedule {
    t_max: f64,
    eps: f64,
    steps: u32,
    rho: f64,
    /// σ̄_max^{1/ρ} and σ̄_min^{1/ρ}.
    root_max: f64,
    root_min: f64,
}

impl KarrasSchedule {
    /// N = `steps` ≥ 1 steps from T to `eps` ∈ [0, T) with exponent `rho` > 0. Requires
    /// σ̄(ε) > 0 (so ε > 0).
    pub fn new<S: Sde>(sde: &S, steps: u32, eps: f32, rho: f64) -> Result<Self, Error> {
        crate::sample::at_least_one("steps", steps)?;
        finite("eps", eps)?;
        let t_max = sde.t_max() as f64;
        if !(eps > 0.0 && (eps as f64) < t_max) {
            return Err(Error::InvalidParameter { name: "eps", reason: "must lie in (0, T)" });
        }
        if !(rho.is_finite() && rho > 0.0) {
            return Err(Error::InvalidParameter { name: "rho", reason: "must be > 0" });
        }
        let (smax, smin) = (sigma_bar(sde, t_max), sigma_bar(sde, eps as f64));
        if !(smin > 0.0 && smax > smin && smax.is_finite()) {
            return Err(Error::InvalidParameter { name: "eps", reason: "σ̄(ε) must be > 0" });
        }
        Ok(Self {
            t_max,
            eps: eps as f64,
            steps,
            rho,
            root_max: libm::pow(smax, 1.0 / rho),
            root_min: libm::pow(smin, 1.0 / rho),
        })
    }
    /// N.
    pub fn steps(&self) -> u32 {
        self.steps
    }
    /// Level i ∈ 0 … N (level 0 is t = T, level N is t = ε).
    pub fn level<S: Sde>(&self, sde: &S, i: u32) -> Level {
        let t = if i == 0 {
            self.t_max
        } else if i >= self.steps {
            self.eps
        } else {
            let f = i as f64 / self.steps as f64;
            let target = libm::pow(self.root_max + f * (self.root_min - self.root_max), self.rho);
            match sde.time_of_sigma_bar(target) {
                Some(t) if t.is_finite() => t.clamp(self.eps, self.t_max),
                _ => time_of_sigma(sde, target, self.eps, self.t_max),
            }
        };
        let (alpha, sigma) = sde.marginal(t);
        Level { t, alpha, sigma, sigma_bar: sigma / alpha }
    }
}

/// x_T (prior draw or the given state) divided by α_T: the starting x̂.
#[inline(always)]
fn start<L: Lane, G: LaneSource<L>, S: Sde, const D: usize>(
    sde: &S,
    from_prior: bool,
    x: &[L; D],
    rng: &mut G,
    alpha_t: f64,
) -> [L; D] {
    let x_t = if from_prior { prior_draw(sde, rng) } else { *x };
    let inv = <L as Lane>::from_f64(1.0 / alpha_t);
    x_t.map(|v| v * inv)
}

/// The score at x = α x̂ and level `lv`.
#[inline(always)]
fn score_at<L: Lane, M: ScoreModel<D>, const D: usize>(
    model: &M,
    xh: &[L; D],
    lv: &Level,
) -> [L; D] {
    let a = <L as Lane>::from_f64(lv.alpha);
    let x = xh.map(|v| a * v);
    model.score(&x, <L as Lane>::from_f64(lv.t))
}

/// Karras et al.'s deterministic second-order Heun sampler on the EDM schedule (module docs).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EdmHeun<S> {
    sde: S,
    schedule: KarrasSchedule,
    from_prior: bool,
}

impl<S: Sde> EdmHeun<S> {
    /// N = `steps` ≥ 1 Heun steps (2N evaluations) from T to `eps` ∈ (0, T), ρ = 7.
    pub fn new(sde: S, steps: u32, eps: f32) -> Result<Self, Error> {
        Self::with_rho(sde, steps, eps, KARRAS_RHO)
    }
    /// The same with the schedule exponent `rho` > 0.
    pub fn with_rho(sde: S, steps: u32, eps: f32, rho: f64) -> Result<Self, Error> {
        let schedule = KarrasSchedule::new(&sde, steps, eps, rho)?;
        Ok(Self { sde, schedule, from_prior: true })
    }
    /// Start from the state given to [`LaneSampler::run`] (as x_T) instead of the prior.
    pub fn starting_from_input(self) -> Self {
        Self { from_prior: false, ..self }
    }
    /// Score evaluations per sample: 2N.
    pub fn evaluations(&self) -> u32 {
        self.schedule.steps().saturating_mul(2)
    }
}

impl<const D: usize, S: Sde, M: ScoreModel<D>> LaneSampler<D, M> for EdmHeun<S> {
    /// Draws D normals for the prior (none when starting from the input).
    fn run<L: Lane, G: LaneSource<L>>(&self, model: &M, x: &mut [L; D], rng: &mut G) -> L {
        let mut prev = self.schedule.level(&self.sde, 0);
        let mut xh = start(&self.sde, self.from_prior, x, rng, prev.alpha);
        for i in 0..self.schedule.steps() {
            let next = self.schedule.level(&self.sde, i + 1);
            let dsig = <L as Lane>::from_f64(next.sigma_bar - prev.sigma_bar);
            // d = dx̂/dσ̄ = −σ_t s(α x̂, t).
            let s0 = score_at(model, &xh, &prev);
            let m0 = <L as Lane>::from_f64(-prev.sigma);
            let d0 = s0.map(|v| m0 * v);
            let xe: [L; D] = core::array::from_fn(|k| xh[k] + dsig * d0[k]);
            let s1 = score_at(model, &xe, &next);
            let m1 = <L as Lane>::from_f64(-next.sigma);
            let half = <L as Lane>::from_f64(0.5);
            for k in 0..D {
                xh[k] += dsig * half * (d0[k] + m1 * s1[k]);
            }
            prev = next;
        }
        let a = <L as Lane>::from_f64(prev.alpha);
        *x = xh.map(|v| a * v);
        L::default()
    }
}

/// DPM-Solver++(2M), the multistep second-order data-prediction solver (module docs).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DpmSolverPp2m<S> {
    sde: S,
    schedule: KarrasSchedule,
    from_prior: bool,
}

impl<S: Sde> DpmSolverPp2m<S> {
    /// N = `steps` ≥ 1 steps (N evaluations) from T to `eps` ∈ (0, T) on the EDM schedule, ρ = 7.
    pub fn new(sde: S, steps: u32, eps: f32) -> Result<Self, Error> {
        Self::with_rho(sde, steps, eps, KARRAS_RHO)
    }
    /// The same with the schedule exponent `rho` > 0.
    pub fn with_rho(sde: S, steps: u32, eps: f32, rho: f64) -> Result<Self, Error> {
        let schedule = KarrasSchedule::new(&sde, steps, eps, rho)?;
        Ok(Self { sde, schedule, from_prior: true })
    }
    /// Start from the state given to [`LaneSampler::run`] (as x_T) instead of the prior.
    pub fn starting_from_input(self) -> Self {
        Self { from_prior: false, ..self }
    }
    /// Score evaluations per sample: N.
    pub fn evaluations(&self) -> u32 {
        self.schedule.steps()
    }
}

impl<S: Sde> EdmHeun<S> {
    /// The SDE.
    pub fn sde(&self) -> &S {
        &self.sde
    }
}

impl<S: Sde> DpmSolverPp2m<S> {
    /// The SDE.
    pub fn sde(&self) -> &S {
        &self.sde
    }
}

impl<const D: usize, S: Sde, M: ScoreModel<D>> LaneSampler<D, M> for DpmSolverPp2m<S> {
    /// Draws D normals for the prior (none when starting from the input).
    fn run<L: Lane, G: LaneSource<L>>(&self, model: &M, x: &mut [L; D], rng: &mut G) -> L {
        let mut prev = self.schedule.level(&self.sde, 0);
        let mut xh = start(&self.sde, self.from_prior, x, rng, prev.alpha);
        let mut d_old = [L::default(); D];
        let mut h_old = 0.0f64;
        for i in 0..self.schedule.steps() {
            let next = self.schedule.level(&self.sde, i + 1);
            // D = x̂ + (σ²/α) s(α x̂, t).
            let s = score_at(model, &xh, &prev);
            let k = <L as Lane>::from_f64(prev.sigma * prev.sigma / prev.alpha);
            let den: [L; D] = core::array::from_fn(|j| xh[j] + k * s[j]);
            let ratio = next.sigma_bar / prev.sigma_bar;
            let h = libm::log(prev.sigma_bar / next.sigma_bar);
            let d_mix = if i == 0 {
                den
            } else {
                let q = 0.5 * h / h_old; // 1/(2r), r = h_old/h
                let (c1, c0) = (<L as Lane>::from_f64(1.0 + q), <L as Lane>::from_f64(q));
                core::array::from_fn(|j| c1 * den[j] - c0 * d_old[j])
            };
            // x̂ ← (σ̄ᵢ₊₁/σ̄ᵢ) x̂ − (e^{−h} − 1) D' with e^{−h} = σ̄ᵢ₊₁/σ̄ᵢ.
            let (r, one_m_r) = (<L as Lane>::from_f64(ratio), <L as Lane>::from_f64(1.0 - ratio));
            for j in 0..D {
                xh[j] = r * xh[j] + one_m_r * d_mix[j];
            }
            d_old = den;
            h_old = h;
            prev = next;
        }
        let a = <L as Lane>::from_f64(prev.alpha);
        *x = xh.map(|v| a * v);
        L::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sde::{SubVp, Ve, Vp};

    fn inverts<S: Sde>(sde: &S) {
        for i in 1..20 {
            let t = i as f64 / 20.0;
            let back = time_of_sigma(sde, sigma_bar(sde, t), 0.0, 1.0);
            assert!((back - t).abs() < 1e-12, "{t} → {back}");
        }
        // The closed form agrees with the bisection, from t = 1e-5 to T.
        for i in 0..=400 {
            let t = if i == 0 { 1e-5 } else { i as f64 / 400.0 };
            let target = sigma_bar(sde, t);
            let closed = sde.time_of_sigma_bar(target).expect("a built-in SDE has a closed form");
            let bisected = time_of_sigma(sde, target, 0.0, 1.0);
            assert!((closed - bisected).abs() <= 1e-12 * (1.0 + t), "{t}: {closed} vs {bisected}");
            assert!((sigma_bar(sde, closed) - target).abs() <= 1e-12 * target, "{t}");
        }
    }

    #[test]
    fn sigma_inversion_round_trips() {
        inverts(&Ve::default());
        inverts(&Vp::default());
        inverts(&SubVp::default());
    }

    /// The schedule starts at T, ends at ε, and its noise levels decrease with the EDM spacing.
    #[test]
    fn schedule_endpoints_and_spacing() {
        let sde = Vp::default();
        let s = KarrasSchedule::new(&sde, 10, 1e-3, KARRAS_RHO).unwrap();
        assert_eq!(s.level(&sde, 0).t, 1.0);
        assert_eq!(s.level(&sde, 10).t, 1e-3f32 as f64);
        let mut last = f64::INFINITY;
        for i in 0..=10 {
            let lv = s.level(&sde, i);
            assert!(lv.sigma_bar < last);
            last = lv.sigma_bar;
            let f = i as f64 / 10.0;
            let want = libm::pow(s.root_max + f * (s.root_min - s.root_max), 7.0);
            assert!((lv.sigma_bar - want).abs() <= 1e-9 * want, "level {i}");
        }
    }

    /// For a Gaussian target N(0, v) the flow is linear, x̂(σ̄) ∝ √(v + σ̄²) (VE-type, exact
    /// D = v x̂/(v + σ̄²)): both solvers converge to the exact map at second order (measured
    /// errors 0.019–0.021 at N = 20 and 0.0046–0.0048 at N = 40, from x_T = 0.7).
    #[test]
    fn gaussian_target_follows_the_exact_flow() {
        let v = 0.5f64;
        let sde = Vp::default();
        let m =
            crate::score::GaussianMixture::new([1.0], [[0.0]], [[[v as f32]]]).unwrap().under(sde);
        let mut errs = [[0.0f64; 2]; 2];
        for (j, n) in [20u32, 40].iter().enumerate() {
            let heun = EdmHeun::new(sde, *n, 1e-3).unwrap().starting_from_input();
            let dpm = DpmSolverPp2m::new(sde, *n, 1e-3).unwrap().starting_from_input();
            let s = KarrasSchedule::new(&sde, *n, 1e-3, KARRAS_RHO).unwrap();
            let (l0, l1) = (s.level(&sde, 0), s.level(&sde, *n));
            // Exact: x̂ scales by √((v + σ̄₁²)/(v + σ̄₀²)), x = α x̂.
            let x0 = 0.7f64;
            let exact = l1.alpha
                * (x0 / l0.alpha)
                * libm::sqrt((v + l1.sigma_bar * l1.sigma_bar) / (v + l0.sigma_bar * l0.sigma_bar));
            let mut rng = crate::rng::Streams::<f64>::new(0, 0);
            let mut a = [x0];
            LaneSampler::<1, _>::run(&heun, &m, &mut a, &mut rng);
            let mut b = [x0];
            LaneSampler::<1, _>::run(&dpm, &m, &mut b, &mut rng);
            errs[j] = [(a[0] - exact).abs(), (b[0] - exact).abs()];
        }
        for k in 0..2 {
            let ratio = errs[0][k] / errs[1][k];
            assert!(errs[1][k] < 1e-2 && ratio > 3.0, "solver {k}: {errs:?}");
        }
    }

    #[test]
    fn rejects_bad_parameters() {
        assert!(EdmHeun::new(Vp::default(), 0, 1e-3).is_err());
        assert!(EdmHeun::new(Vp::default(), 10, 0.0).is_err());
        assert!(DpmSolverPp2m::new(Ve::default(), 10, 1.0).is_err());
        assert!(DpmSolverPp2m::with_rho(Ve::default(), 10, 1e-5, 0.0).is_err());
        assert!(DpmSolverPp2m::new(SubVp::default(), 10, 1e-3).is_ok());
    }
}
