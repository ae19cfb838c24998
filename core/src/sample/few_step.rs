//! Few-step probability-flow samplers: Karras et al.'s second-order Heun sampler,
//! DPM-Solver++(2M) and DPM-Solver++(3M) (MATH.md §6.1).
//!
//! All three solve the probability-flow ODE in the σ-parameterisation of Karras et al. 2022
//! ("Elucidating the Design Space of Diffusion-Based Generative Models", EDM): every SDE here
//! has the marginal x_t = α_t x₀ + σ_t ε, so x̂ = x/α_t is the VE-type process with noise level
//! σ̄(t) = σ_t/α_t (VE: σ̄ = σ_t; VP: σ̄ = √(1 − α_t²)/α_t; sub-VP: (1 − α_t²)/α_t), and its
//! probability-flow ODE is
//!   dx̂/dσ̄ = (x̂ − D(x̂; σ̄))/σ̄ = −σ_t s(α_t x̂, t),  D(x̂; σ̄) = x̂ + (σ_t²/α_t) s(α_t x̂, t),
//! D the denoiser (Tweedie's formula) and t = t(σ̄) the time with that noise level (σ̄ increases
//! with t; inverted in closed form by [`Sde::time_of_sigma_bar`] for the built-in SDEs, by a
//! bounded bisection in `f64` for any other).
//!
//! The noise levels run from σ̄_max = σ̄(T) to σ̄_min = σ̄(ε) ([`NoiseSchedule`]), so the sample
//! is returned at t = ε, as the other samplers do: by default on the EDM schedule with ρ = 7,
//!   σ̄ᵢ = (σ̄_max^{1/ρ} + (i/N)(σ̄_min^{1/ρ} − σ̄_max^{1/ρ}))^ρ, i = 0 … N,
//! or uniform in λ = −ln σ̄ ([`Spacing::LogSnr`], the limit ρ → ∞), or uniform in t^{1/p} of the
//! SDE's own time ([`Spacing::Time`]; p = 2 is [`crate::sample::UniPc`]'s default). Every lane
//! runs the same schedule, computed in `f64` scalars, so lanes never interact.
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
//! - [`DpmSolverPp3m`]: the multistep exponential integrator with a second-derivative term in
//!   the same data-prediction form (DPM-Solver++(3M), Lu et al. 2022), N evaluations, uniform
//!   in log-SNR by default (the spacing measured best for it; BENCHMARKS.md). Over one step
//!   x̂ᵢ₊₁ = e^{−h} x̂ᵢ + ∫₀ʰ e^{τ−h} D(λᵢ + τ) dτ, and the Taylor terms of D integrate to
//!   (1 − e^{−h}) D + h φ₂ D' − h² φ₃ D'' with φ₂ = (e^{−h} − 1)/h + 1, φ₃ = φ₂/h − 1/2. The
//!   derivatives come from the last three denoiser values: with r₀ = hᵢ₋₁/hᵢ, r₁ = hᵢ₋₂/hᵢ,
//!   E₀ = (Dᵢ − Dᵢ₋₁)/r₀ and E₁ = (Dᵢ₋₁ − Dᵢ₋₂)/r₁,
//!   h D' ≈ E₀ + r₀(E₀ − E₁)/(r₀ + r₁) and h² D'' ≈ 2(E₀ − E₁)/(r₀ + r₁).
//!   The first step is first order and the second adds φ₂ E₀ only. Lu et al.'s reference code
//!   (and k-diffusion's `sample_dpmpp_3m_sde`, η = 0) weights the last term by
//!   (E₀ − E₁)/(r₀ + r₁), half of h² D'': its local error is then O(h³), so it is second
//!   order ([`SecondDerivative::Reference`]; on a Gaussian target the error falls 5.4× then
//!   4.4× per halving of the step from N = 20 to 80). With the full term
//!   ([`SecondDerivative::Taylor`]) it is third order: exact for a quadratic D(λ) (unit
//!   test), and on the Gaussian target its error falls at least 8× per halving (16× measured;
//!   at the highest noise, where D barely changes, the lower-order start does not show). Per
//!   evaluation the reference weighting is the better one at 10 evaluations on both of
//!   BENCHMARKS.md's mixtures (its damped extrapolation suits long steps), the two are within
//!   those runs' noise at 20 and agree from 50 on, so it is the default.
//!
//! All three start from the SDE's prior N(0, s² I) drawn from the sample's stream (D normals), or
//! from the given `x` (as x_T) after `starting_from_input`.

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

/// How the noise levels σ̄₀ > … > σ̄_N of a [`NoiseSchedule`] are spaced.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum Spacing {
    /// The EDM schedule (Karras et al. 2022, eq. 5): uniform in σ̄^{1/ρ}, ρ > 0 (default ρ = 7,
    /// [`KARRAS_RHO`]).
    Karras {
        /// The exponent ρ.
        rho: f64,
    },
    /// Uniform in the half log-SNR λ = −ln σ̄ (geometric σ̄; the limit ρ → ∞ of the EDM
    /// schedule; Lu et al. 2022's "logSNR" steps).
    LogSnr,
    /// Uniform in t^{1/p} of the SDE's own time, p ≥ 1 finite (p = 1: Lu et al.'s "time
    /// uniform" steps; p = 2: their "time quadratic" ones, denser near t = ε).
    Time {
        /// The exponent p.
        power: f64,
    },
}

/// A noise schedule from σ̄(T) down to σ̄(ε) in N steps, spaced by [`Spacing`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NoiseSchedule {
    t_max: f64,
    eps: f64,
    steps: u32,
    spacing: Spacing,
    /// The spacing's coordinate at T and ε: σ̄^{1/ρ} (Karras), ln σ̄ (log-SNR) or t^{1/p} (time).
    root_max: f64,
    root_min: f64,
}

impl NoiseSchedule {
    /// N = `steps` ≥ 1 steps from T to `eps` ∈ (0, T) spaced by `spacing` (a Karras exponent
    /// must be finite and > 0). Requires σ̄(ε) > 0.
    pub fn new<S: Sde>(sde: &S, steps: u32, eps: f32, spacing: Spacing) -> Result<Self, Error> {
        crate::sample::at_least_one("steps", steps)?;
        finite("eps", eps)?;
        let t_max = sde.t_max() as f64;
        if !(eps > 0.0 && (eps as f64) < t_max) {
            return Err(Error::InvalidParameter { name: "eps", reason: "must lie in (0, T)" });
        }
        if let Spacing::Karras { rho } = spacing
            && !(rho.is_finite() && rho > 0.0)
        {
            return Err(Error::InvalidParameter { name: "rho", reason: "must be > 0" });
        }
        if let Spacing::Time { power } = spacing
            && !(power.is_finite() && power >= 1.0)
        {
            return Err(Error::InvalidParameter {
                name: "power",
                reason: "must be finite and ≥ 1",
            });
        }
        let (smax, smin) = (sigma_bar(sde, t_max), sigma_bar(sde, eps as f64));
        if !(smin > 0.0 && smax > smin && smax.is_finite()) {
            return Err(Error::InvalidParameter { name: "eps", reason: "σ̄(ε) must be > 0" });
        }
        let (root_max, root_min) = match spacing {
            Spacing::Karras { rho } => (libm::pow(smax, 1.0 / rho), libm::pow(smin, 1.0 / rho)),
            Spacing::LogSnr => (libm::log(smax), libm::log(smin)),
            Spacing::Time { power } => {
                (libm::pow(t_max, 1.0 / power), libm::pow(eps as f64, 1.0 / power))
            }
        };
        if !(root_max.is_finite() && root_min.is_finite() && root_max > root_min) {
            let name = if let Spacing::Time { .. } = spacing { "power" } else { "rho" };
            return Err(Error::InvalidParameter {
                name,
                reason: "leaves no spacing between σ̄(T) and σ̄(ε)",
            });
        }
        Ok(Self { t_max, eps: eps as f64, steps, spacing, root_max, root_min })
    }
    /// The EDM schedule with exponent `rho` ([`Spacing::Karras`]).
    pub fn karras<S: Sde>(sde: &S, steps: u32, eps: f32, rho: f64) -> Result<Self, Error> {
        Self::new(sde, steps, eps, Spacing::Karras { rho })
    }
    /// N.
    pub fn steps(&self) -> u32 {
        self.steps
    }
    /// The spacing.
    pub fn spacing(&self) -> Spacing {
        self.spacing
    }
    /// Level i ∈ 0 … N (level 0 is t = T, level N is t = ε).
    pub fn level<S: Sde>(&self, sde: &S, i: u32) -> Level {
        let t = if i == 0 {
            self.t_max
        } else if i >= self.steps {
            self.eps
        } else {
            let f = i as f64 / self.steps as f64;
            let c = self.root_max + f * (self.root_min - self.root_max);
            let target = match self.spacing {
                Spacing::Karras { rho } => libm::pow(c, rho),
                Spacing::LogSnr => libm::exp(c),
                Spacing::Time { power } => {
                    return self.at(sde, libm::pow(c, power).clamp(self.eps, self.t_max));
                }
            };
            match sde.time_of_sigma_bar(target) {
                Some(t) if t.is_finite() => t.clamp(self.eps, self.t_max),
                _ => time_of_sigma(sde, target, self.eps, self.t_max),
            }
        };
        self.at(sde, t)
    }
    /// The level at time `t`.
    fn at<S: Sde>(&self, sde: &S, t: f64) -> Level {
        let (alpha, sigma) = sde.marginal(t);
        Level { t, alpha, sigma, sigma_bar: sigma / alpha }
    }
}

/// x_T (prior draw or the given state) divided by α_T: the starting x̂.
#[inline(always)]
pub(crate) fn start<L: Lane, G: LaneSource<L>, S: Sde, const D: usize>(
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

/// The denoiser D(x̂; σ̄) = x̂ + (σ_t²/α_t) s(α_t x̂, t) at level `lv`.
#[inline(always)]
pub(crate) fn denoise<L: Lane, M: ScoreModel<D>, const D: usize>(
    model: &M,
    xh: &[L; D],
    lv: &Level,
) -> [L; D] {
    let s = score_at(model, xh, lv);
    let k = <L as Lane>::from_f64(lv.sigma * lv.sigma / lv.alpha);
    crate::lane::array_fn(|j| xh[j] + k * s[j])
}

/// Karras et al.'s deterministic second-order Heun sampler on the EDM schedule (module docs).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EdmHeun<S> {
    sde: S,
    schedule: NoiseSchedule,
    from_prior: bool,
}

impl<S: Sde> EdmHeun<S> {
    /// N = `steps` ≥ 1 Heun steps (2N evaluations) from T to `eps` ∈ (0, T), ρ = 7.
    pub fn new(sde: S, steps: u32, eps: f32) -> Result<Self, Error> {
        Self::with_rho(sde, steps, eps, KARRAS_RHO)
    }
    /// The same with the schedule exponent `rho` > 0.
    pub fn with_rho(sde: S, steps: u32, eps: f32, rho: f64) -> Result<Self, Error> {
        let schedule = NoiseSchedule::karras(&sde, steps, eps, rho)?;
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
    fn run<L: Lane, G: LaneSource<L>>(&self, model: &M, x: &mut [L; D], rng: &mut G) {
        let mut prev = self.schedule.level(&self.sde, 0);
        let mut xh = start(&self.sde, self.from_prior, x, rng, prev.alpha);
        for i in 0..self.schedule.steps() {
            let next = self.schedule.level(&self.sde, i + 1);
            let dsig = <L as Lane>::from_f64(next.sigma_bar - prev.sigma_bar);
            // d = dx̂/dσ̄ = −σ_t s(α x̂, t).
            let s0 = score_at(model, &xh, &prev);
            let m0 = <L as Lane>::from_f64(-prev.sigma);
            let d0 = s0.map(|v| m0 * v);
            let xe: [L; D] = crate::lane::array_fn(|k| xh[k] + dsig * d0[k]);
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
    }
}

/// DPM-Solver++(2M), the multistep second-order data-prediction solver (module docs).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DpmSolverPp2m<S> {
    sde: S,
    schedule: NoiseSchedule,
    from_prior: bool,
}

impl<S: Sde> DpmSolverPp2m<S> {
    /// N = `steps` ≥ 1 steps (N evaluations) from T to `eps` ∈ (0, T) on the EDM schedule, ρ = 7.
    pub fn new(sde: S, steps: u32, eps: f32) -> Result<Self, Error> {
        Self::with_rho(sde, steps, eps, KARRAS_RHO)
    }
    /// The same with the schedule exponent `rho` > 0.
    pub fn with_rho(sde: S, steps: u32, eps: f32, rho: f64) -> Result<Self, Error> {
        let schedule = NoiseSchedule::karras(&sde, steps, eps, rho)?;
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
    fn run<L: Lane, G: LaneSource<L>>(&self, model: &M, x: &mut [L; D], rng: &mut G) {
        let mut prev = self.schedule.level(&self.sde, 0);
        let mut xh = start(&self.sde, self.from_prior, x, rng, prev.alpha);
        let mut d_old = [L::default(); D];
        let mut h_old = 0.0f64;
        for i in 0..self.schedule.steps() {
            let next = self.schedule.level(&self.sde, i + 1);
            let den = denoise(model, &xh, &prev);
            let ratio = next.sigma_bar / prev.sigma_bar;
            let h = libm::log(prev.sigma_bar / next.sigma_bar);
            let d_mix = if !(usable(h) && usable(h_old)) {
                // The first step (h_old = 0), or one next to a degenerate step: first order.
                den
            } else {
                let q = 0.5 * h / h_old; // 1/(2r), r = h_old/h
                let (c1, c0) = (<L as Lane>::from_f64(1.0 + q), <L as Lane>::from_f64(q));
                crate::lane::array_fn(|j| c1 * den[j] - c0 * d_old[j])
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
    }
}

/// How [`DpmSolverPp3m`] weights its second-derivative term (module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecondDerivative {
    /// φ₃ (E₀ − E₁)/(r₀ + r₁), half of h² D'': Lu et al.'s reference code and k-diffusion's
    /// `sample_dpmpp_3m_sde` (η = 0). Second order, and the better one per evaluation at 10
    /// evaluations on BENCHMARKS.md's mixtures (the default).
    Reference,
    /// φ₃ · 2(E₀ − E₁)/(r₀ + r₁), the exponential integrator's own Taylor term: third order.
    Taylor,
}

/// DPM-Solver++(3M), the multistep data-prediction solver with a second-derivative term
/// (module docs).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DpmSolverPp3m<S> {
    sde: S,
    schedule: NoiseSchedule,
    term: SecondDerivative,
    from_prior: bool,
}

impl<S: Sde> DpmSolverPp3m<S> {
    /// N = `steps` ≥ 1 steps (N evaluations) from T to `eps` ∈ (0, T), uniform in log-SNR
    /// ([`Spacing::LogSnr`], the spacing measured best for it; BENCHMARKS.md), with the
    /// reference weighting of the second derivative ([`SecondDerivative::Reference`]).
    pub fn new(sde: S, steps: u32, eps: f32) -> Result<Self, Error> {
        Self::with_spacing(sde, steps, eps, Spacing::LogSnr)
    }
    /// The same with another spacing of the noise levels.
    pub fn with_spacing(sde: S, steps: u32, eps: f32, spacing: Spacing) -> Result<Self, Error> {
        let schedule = NoiseSchedule::new(&sde, steps, eps, spacing)?;
        Ok(Self { sde, schedule, term: SecondDerivative::Reference, from_prior: true })
    }
    /// The same with the second derivative weighted by `term`.
    pub fn with_second_derivative(self, term: SecondDerivative) -> Self {
        Self { term, ..self }
    }
    /// Start from the state given to [`LaneSampler::run`] (as x_T) instead of the prior.
    pub fn starting_from_input(self) -> Self {
        Self { from_prior: false, ..self }
    }
    /// Score evaluations per sample: N.
    pub fn evaluations(&self) -> u32 {
        self.schedule.steps()
    }
    /// The SDE.
    pub fn sde(&self) -> &S {
        &self.sde
    }
}

/// Below this step the φ functions are summed as series (see [`phi23`]).
const PHI_SERIES_BELOW: f64 = 0.1;

/// φ₂(h) = (e^{−h} − 1)/h + 1 = Σₖ₌₁ (−h)ᵏ⁻¹ h/(k + 1)! and φ₃(h) = φ₂(h)/h − 1/2 =
/// Σₖ₌₁ (−h)ᵏ/(k + 2)! of the exponential integrator. The closed forms cancel for small h
/// (φ₃'s loses about ε/h² relative), so below h = 0.1 both are their series to h⁸ (truncation
/// below 1e-15 relative there); above, the closed forms lose at most about 1e-14.
fn phi23(h: f64) -> (f64, f64) {
    if h.abs() < PHI_SERIES_BELOW {
        // Horner: φ₂ = h(1/2! − h(1/3! − h(…))), φ₃ = −h(1/3! − h(1/4! − h(…))).
        let (mut a2, mut a3) = (0.0f64, 0.0f64);
        for k in (1..=8usize).rev() {
            a2 = INV_FACTORIAL[k + 1] - h * a2;
            a3 = INV_FACTORIAL[k + 2] - h * a3;
        }
        (h * a2, -h * a3)
    } else {
        let p2 = libm::expm1(-h) / h + 1.0;
        (p2, p2 / h - 0.5)
    }
}

/// 1/n! for n = 0 … 15 (the factorials are exact in `f64`), for the φ series here and
/// UniPC's g series.
pub(crate) const INV_FACTORIAL: [f64; 16] = {
    let mut t = [1.0f64; 16];
    let mut f = 1.0f64;
    let mut n = 1;
    while n < 16 {
        f *= n as f64;
        t[n] = 1.0 / f;
        n += 1;
    }
    t
};

impl<const D: usize, S: Sde, M: ScoreModel<D>> LaneSampler<D, M> for DpmSolverPp3m<S> {
    /// Draws D normals for the prior (none when starting from the input).
    fn run<L: Lane, G: LaneSource<L>>(&self, model: &M, x: &mut [L; D], rng: &mut G) {
        let mut prev = self.schedule.level(&self.sde, 0);
        let mut xh = start(&self.sde, self.from_prior, x, rng, prev.alpha);
        // The two previous denoiser values and their steps h.
        let (mut d1, mut d2) = ([L::default(); D], [L::default(); D]);
        let (mut h1, mut h2) = (0.0f64, 0.0f64);
        let weight = match self.term {
            SecondDerivative::Reference => 1.0,
            SecondDerivative::Taylor => 2.0,
        };
        for i in 0..self.schedule.steps() {
            let next = self.schedule.level(&self.sde, i + 1);
            let den = denoise(model, &xh, &prev);
            let ratio = next.sigma_bar / prev.sigma_bar;
            let h = libm::log(prev.sigma_bar / next.sigma_bar);
            let steps = Steps { h, h1, h2, history: i.min(2) };
            dpm3_step(&mut xh, &den, &d1, &d2, ratio, steps, weight);
            d2 = d1;
            d1 = den;
            h2 = h1;
            h1 = h;
            prev = next;
        }
        let a = <L as Lane>::from_f64(prev.alpha);
        *x = xh.map(|v| a * v);
    }
}

/// Whether a step in λ can enter a multistep correction: positive and finite (a degenerate
/// schedule, or an SDE whose σ̄ is not monotone, gives zero or negative steps).
#[inline(always)]
pub(crate) fn usable(h: f64) -> bool {
    h.is_finite() && h > 0.0
}

/// The steps in λ of one DPM-Solver++(3M) step: this one (h) and the two before (h₁, h₂), and
/// how many earlier denoiser values there are (0, 1 or 2).
#[derive(Clone, Copy, Debug)]
struct Steps {
    h: f64,
    h1: f64,
    h2: f64,
    history: u32,
}

/// One DPM-Solver++(3M) step of x̂ (module docs): the first-order part with e^{−h} = `ratio`,
/// then the corrections from the earlier denoiser values `d1` (at λᵢ − h₁) and `d2` (at
/// λᵢ − h₁ − h₂), the second-derivative term weighted by `weight` (1: reference, 2: Taylor).
/// A correction needs positive, finite steps: on a degenerate schedule (or an SDE whose σ̄ is
/// not monotone) the step keeps its lower order instead of dividing by zero.
#[inline(always)]
fn dpm3_step<L: Lane, const D: usize>(
    xh: &mut [L; D],
    den: &[L; D],
    d1: &[L; D],
    d2: &[L; D],
    ratio: f64,
    st: Steps,
    weight: f64,
) {
    let c = |v: f64| <L as Lane>::from_f64(v);
    // First order: x̂ ← e^{−h} x̂ + (1 − e^{−h}) D.
    let (r, one_m_r) = (c(ratio), c(1.0 - ratio));
    for j in 0..D {
        xh[j] = r * xh[j] + one_m_r * den[j];
    }
    if st.history == 0 || !usable(st.h) || !usable(st.h1) {
        return;
    }
    let (p2, p3) = phi23(st.h);
    if st.history >= 2 && usable(st.h2) {
        // + φ₂ h D' − φ₃ h² D'' from the divided differences of D over λ (r₀ = h₁/h,
        // r₁ = h₂/h): h D' ≈ E₀ + r₀(E₀ − E₁)/(r₀ + r₁), h² D'' ≈ 2(E₀ − E₁)/(r₀ + r₁) (the
        // reference code takes half of it).
        let (r0, r1) = (st.h1 / st.h, st.h2 / st.h);
        let (a0, a1) = (c(1.0 / r0), c(1.0 / r1));
        let (w1, w2) = (c(r0 / (r0 + r1)), c(weight / (r0 + r1)));
        let (cp2, cp3) = (c(p2), c(p3));
        for j in 0..D {
            let e0 = a0 * (den[j] - d1[j]);
            let e1 = a1 * (d1[j] - d2[j]);
            let diff = e0 - e1;
            xh[j] += cp2 * (e0 + w1 * diff) - cp3 * (w2 * diff);
        }
    } else {
        // Second order: + φ₂ (D − D₋₁) h/h₁.
        let a = c(p2 * st.h / st.h1);
        for j in 0..D {
            xh[j] += a * (den[j] - d1[j]);
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
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
        let s = NoiseSchedule::karras(&sde, 10, 1e-3, KARRAS_RHO).unwrap();
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
            let s = NoiseSchedule::karras(&sde, *n, 1e-3, KARRAS_RHO).unwrap();
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

    /// The exact map of the Gaussian target N(0, v) from x_T = `x0` over `s`: x̂ scales by
    /// √((v + σ̄²) / (v + σ̄₀²)) along the probability flow (also used by UniPC's tests).
    pub(crate) fn gaussian_flow(v: f64, x0: f64, s: &NoiseSchedule, sde: &Vp) -> f64 {
        let (l0, l1) = (s.level(sde, 0), s.level(sde, s.steps()));
        l1.alpha
            * (x0 / l0.alpha)
            * libm::sqrt((v + l1.sigma_bar * l1.sigma_bar) / (v + l0.sigma_bar * l0.sigma_bar))
    }

    /// DPM-Solver++(3M) with the Taylor term is third order: on the Gaussian target its error
    /// falls by ≥ 6 per halving of the step (8 at order 3; measured 16), and is the smaller one
    /// at N = 80. With the reference weighting it is second order (< 6 from N = 40 to 80:
    /// measured 4.4; DPM-Solver++(2M) 4.3), yet the more accurate at N = 20 on the EDM
    /// schedule (1.8e-3 against 1.4e-2). Both are below DPM-Solver++(2M) on its levels.
    #[test]
    fn dpmpp_3m_is_third_order() {
        let v = 0.5f64;
        let sde = Vp::default();
        let m =
            crate::score::GaussianMixture::new([1.0], [[0.0]], [[[v as f32]]]).unwrap().under(sde);
        // |x(ε) − exact| of a sampler over `s` from x_T = 0.7.
        let err = |smp: &dyn Fn(&mut [f64; 1]), s: &NoiseSchedule| {
            let mut a = [0.7f64];
            smp(&mut a);
            (a[0] - gaussian_flow(v, 0.7, s, &sde)).abs()
        };
        let rng = || crate::rng::Streams::<f64>::new(0, 0);
        for spacing in [Spacing::LogSnr, Spacing::Karras { rho: KARRAS_RHO }] {
            let (mut taylor, mut reference, mut two) = ([0.0f64; 3], [0.0f64; 3], [0.0f64; 3]);
            for (j, n) in [20u32, 40, 80].into_iter().enumerate() {
                let s = NoiseSchedule::new(&sde, n, 1e-3, spacing).unwrap();
                let three = DpmSolverPp3m::with_spacing(sde, n, 1e-3, spacing)
                    .unwrap()
                    .starting_from_input();
                let exact = three.with_second_derivative(SecondDerivative::Taylor);
                taylor[j] = err(
                    &|a| {
                        LaneSampler::<1, _>::run(&exact, &m, a, &mut rng());
                    },
                    &s,
                );
                reference[j] = err(
                    &|a| {
                        LaneSampler::<1, _>::run(&three, &m, a, &mut rng());
                    },
                    &s,
                );
                // DPM-Solver++(2M) on the same levels (its schedule is the EDM one).
                if let Spacing::Karras { rho } = spacing {
                    let dpm2 =
                        DpmSolverPp2m::with_rho(sde, n, 1e-3, rho).unwrap().starting_from_input();
                    two[j] = err(
                        &|a| {
                            LaneSampler::<1, _>::run(&dpm2, &m, a, &mut rng());
                        },
                        &s,
                    );
                    assert!(
                        reference[j] < two[j] && taylor[j] < two[j],
                        "N = {n}: {taylor:?}, {reference:?} vs 2M {two:?}"
                    );
                }
            }
            assert!(
                taylor[0] / taylor[1] > 6.0 && taylor[1] / taylor[2] > 6.0,
                "{spacing:?}: Taylor {taylor:?}, reference {reference:?}"
            );
            assert!(
                reference[1] / reference[2] < 6.0 && taylor[2] < reference[2],
                "{spacing:?}: Taylor {taylor:?}, reference {reference:?}"
            );
        }
    }

    /// φ₂ and φ₃ by series and by closed form agree where they meet (to 1e-12 relative; a
    /// wrong series coefficient is off by ≥ 1e-6 there), and the series has the right limits
    /// (φ₂ ≈ h/2, φ₃ ≈ −h/6).
    #[test]
    fn phi_functions_are_continuous() {
        let closed = |h: f64| {
            let p2 = libm::expm1(-h) / h + 1.0;
            (p2, p2 / h - 0.5)
        };
        for h in [0.099_999_999, 0.05, 0.02] {
            let (a, b) = (phi23(h), closed(h));
            assert!((a.0 / b.0 - 1.0).abs() < 1e-12, "φ₂({h}): {a:?} {b:?}");
            assert!((a.1 / b.1 - 1.0).abs() < 1e-11, "φ₃({h}): {a:?} {b:?}");
        }
        let (p2, p3) = phi23(1e-9);
        assert!((p2 / 5e-10 - 1.0).abs() < 1e-8 && (p3 / (-1e-9 / 6.0) - 1.0).abs() < 1e-8);
        assert!((INV_FACTORIAL[10] * 3_628_800.0 - 1.0).abs() < 1e-15);
    }

    /// One DPM-Solver++(3M) step on a denoiser that is a polynomial in λ, against the exact
    /// integral x̂ᵢ₊₁ = e^{−h} x̂ᵢ + ∫₀ʰ e^{τ−h} D(λᵢ + τ) dτ (closed form, independent of the
    /// φ functions): with the Taylor term the step is exact for quadratic D, the reference
    /// weighting is off by exactly half the D'' term, the second step is exact for linear D and
    /// the first for constant D; on unequal steps. A zero step in the history falls back to
    /// the lower order, with no NaN.
    #[test]
    fn dpm3_steps_are_exact_on_polynomial_denoisers() {
        let (h2, h1, h) = (0.5f64, 0.35f64, 0.42f64);
        let (a, b, c) = (0.7f64, -1.3f64, 0.9f64);
        let d = |tau: f64| a + b * tau + c * tau * tau; // τ = λ − λᵢ
        let e = libm::exp(-h);
        let (i1, i2) = (h - 1.0 + e, h * h - 2.0 * h + 2.0 - 2.0 * e);
        let x0 = 2.0f64;
        let exact = e * x0 + a * (1.0 - e) + b * i1 + c * i2;
        let step = |hist: u32, weight: f64, d1: f64, d2: f64, hs: (f64, f64)| {
            let mut x = [x0];
            let st = Steps { h, h1: hs.0, h2: hs.1, history: hist };
            dpm3_step(&mut x, &[d(0.0)], &[d1], &[d2], e, st, weight);
            x[0]
        };
        let (d1, d2) = (d(-h1), d(-h1 - h2));
        let taylor = step(2, 2.0, d1, d2, (h1, h2));
        assert!((taylor - exact).abs() < 1e-13, "Taylor {taylor} vs {exact}");
        let reference = step(2, 1.0, d1, d2, (h1, h2));
        assert!((reference - (exact - 0.5 * c * i2)).abs() < 1e-13, "reference {reference}");
        // Linear D: the second step is exact, and so is the third with either weighting.
        let lin = |tau: f64| a + b * tau;
        let exact_lin = e * x0 + a * (1.0 - e) + b * i1;
        let mut x = [x0];
        let st = Steps { h, h1, h2: 0.0, history: 1 };
        dpm3_step(&mut x, &[lin(0.0)], &[lin(-h1)], &[0.0], e, st, 1.0);
        assert!((x[0] - exact_lin).abs() < 1e-13, "second step {} vs {exact_lin}", x[0]);
        // Constant D: the first step is exact.
        let mut x = [x0];
        dpm3_step(&mut x, &[a], &[0.0], &[0.0], e, Steps { h, h1: 0.0, h2: 0.0, history: 0 }, 2.0);
        assert!((x[0] - (e * x0 + a * (1.0 - e))).abs() < 1e-15);
        // A zero step before: second order from the one good step, or first order; never NaN.
        let second = step(2, 2.0, d1, d2, (h1, 0.0));
        let first = step(2, 2.0, d1, d2, (0.0, h2));
        assert!(second.is_finite() && first.is_finite());
        assert_eq!(first, e * x0 + a * (1.0 - e));
        let mut x = [x0];
        dpm3_step(&mut x, &[a], &[d1], &[d2], 1.0, Steps { h: 0.0, h1, h2, history: 2 }, 2.0);
        assert_eq!(x[0], x0, "a zero step leaves x̂ unchanged");
    }

    /// Log-SNR spacing: the λ = −ln σ̄ steps are equal.
    #[test]
    fn log_snr_levels_are_equally_spaced() {
        let sde = Vp::default();
        let s = NoiseSchedule::new(&sde, 16, 1e-3, Spacing::LogSnr).unwrap();
        let lam = |i| -libm::log(s.level(&sde, i).sigma_bar);
        let h = (lam(16) - lam(0)) / 16.0;
        for i in 0..16 {
            assert!((lam(i + 1) - lam(i) - h).abs() < 1e-9, "step {i}");
        }
    }

    #[test]
    fn rejects_bad_parameters() {
        assert!(EdmHeun::new(Vp::default(), 0, 1e-3).is_err());
        assert!(EdmHeun::new(Vp::default(), 10, 0.0).is_err());
        assert!(DpmSolverPp2m::new(Ve::default(), 10, 1.0).is_err());
        assert!(DpmSolverPp2m::with_rho(Ve::default(), 10, 1e-5, 0.0).is_err());
        assert!(DpmSolverPp2m::new(SubVp::default(), 10, 1e-3).is_ok());
        assert!(DpmSolverPp3m::new(Ve::default(), 0, 1e-5).is_err());
        assert!(DpmSolverPp3m::new(Vp::default(), 10, 1.0).is_err());
        let inf = Spacing::Karras { rho: f64::INFINITY };
        assert!(DpmSolverPp3m::with_spacing(Vp::default(), 10, 1e-3, inf).is_err());
        // ρ so large that σ̄^{1/ρ} rounds to 1 at both ends: no spacing left.
        let flat = Spacing::Karras { rho: 1e300 };
        assert!(DpmSolverPp3m::with_spacing(Vp::default(), 10, 1e-3, flat).is_err());
        assert!(EdmHeun::with_rho(Vp::default(), 10, 1e-3, 1e300).is_err());
    }

    /// Time spacing: the levels run from T to ε, uniform in t^{1/p} (to rounding), with σ̄
    /// decreasing; p < 1 or not finite is refused.
    #[test]
    fn time_spacing_is_uniform_in_the_root_of_t() {
        let sde = Vp::default();
        for power in [1.0f64, 2.0, 3.5] {
            let s = NoiseSchedule::new(&sde, 16, 1e-3, Spacing::Time { power }).unwrap();
            let (a, b) = (libm::pow(1.0, 1.0 / power), libm::pow(1e-3f32 as f64, 1.0 / power));
            let mut last = f64::INFINITY;
            for i in 0..=16 {
                let lv = s.level(&sde, i);
                let want = libm::pow(a + (i as f64 / 16.0) * (b - a), power);
                assert!((lv.t - want).abs() < 1e-12, "p {power} level {i}: {} vs {want}", lv.t);
                assert!(lv.sigma_bar < last, "p {power} level {i}");
                last = lv.sigma_bar;
            }
        }
        for power in [0.5, f64::INFINITY, f64::NAN] {
            assert!(NoiseSchedule::new(&sde, 8, 1e-3, Spacing::Time { power }).is_err());
        }
    }
}
