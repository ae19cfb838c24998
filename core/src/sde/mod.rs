//! Forward SDEs dx = f(x, t) dt + g(t) dw with linear drift f(x, t) = c(t)·x: VE, VP and sub-VP
//! with score_sde's defaults (MATH.md §5).
//!
//! Time runs on t ∈ [0, T], T = 1, data at t = 0. All coefficients are lane-wise in `t`, so each
//! lane may sit at its own time.

use crate::error::Error;
use crate::lane::Lane;
use crate::real::Real;
use crate::rng::LaneSource;

/// score_sde's default VE σ_min.
pub const VE_SIGMA_MIN: f32 = 0.01;
/// score_sde's default VE σ_max (for 2-D toy data the notes use 50).
pub const VE_SIGMA_MAX: f32 = 50.0;
/// score_sde's default VP / sub-VP β_min.
pub const VP_BETA_MIN: f32 = 0.1;
/// score_sde's default VP / sub-VP β_max.
pub const VP_BETA_MAX: f32 = 20.0;
/// score_sde's default number of discretisation steps N.
pub const DEFAULT_STEPS: u32 = 1000;
/// score_sde's sampling end time ε for VP and sub-VP.
pub const SAMPLING_EPS_VP: f32 = 1e-3;
/// score_sde's sampling end time ε for VE.
pub const SAMPLING_EPS_VE: f32 = 1e-5;
/// score_sde's likelihood end time ε.
pub const LIKELIHOOD_EPS: f32 = 1e-5;

/// A forward SDE on t ∈ [0, T] whose marginal is x_t = α_t x₀ + σ_t ε (MATH.md §5).
pub trait Sde {
    /// The end time T (1 for the built-in SDEs).
    fn t_max(&self) -> f32;
    /// The drift coefficient c(t) in f(x, t) = c(t)·x.
    fn drift_coef<R: Real>(&self, t: R) -> R;
    /// The diffusion coefficient g(t).
    fn diffusion<R: Real>(&self, t: R) -> R;
    /// The marginal mean coefficient α_t and standard deviation σ_t.
    fn marginal<R: Real>(&self, t: R) -> (R, R);
    /// The standard deviation s of the prior N(0, s² I) that sampling starts from at t = T.
    fn prior_std(&self) -> f32;
    /// The time t ≥ 0 at which σ_t/α_t = `sigma_bar` ≥ 0 (the noise level of x/α_t, which
    /// increases with t), in `f64` and closed form where the SDE has one; `None` where it has
    /// not (the few-step samplers then invert σ̄ by bisection). The built-in SDEs have one.
    fn time_of_sigma_bar(&self, sigma_bar: f64) -> Option<f64> {
        let _ = sigma_bar;
        None
    }

    /// The drift f(x, t) = c(t)·x.
    #[inline(always)]
    fn drift<R: Real, const D: usize>(&self, x: &[R; D], t: R) -> [R; D] {
        let c = self.drift_coef(t);
        crate::lane::array_fn(|i| c * x[i])
    }
    /// log N(x; 0, s² I) of the prior.
    #[inline]
    fn prior_log_prob<R: Real, const D: usize>(&self, x: &[R; D]) -> R {
        let s = self.prior_std() as f64;
        let mut q = R::zero();
        for xi in x {
            q += *xi * *xi;
        }
        let log_norm = -0.5 * D as f64 * libm::log(core::f64::consts::TAU * s * s);
        R::from_f64(log_norm) - q * R::from_f64(0.5 / (s * s))
    }
}

fn check_pos(name: &'static str, x: f32) -> Result<f32, Error> {
    if !x.is_finite() {
        return Err(Error::NonFinite(name));
    }
    if x <= 0.0 {
        return Err(Error::InvalidParameter { name, reason: "must be > 0" });
    }
    Ok(x)
}

/// Variance-exploding SDE (SMLD): f = 0, g(t) = σ(t)√(2 ln(σ_max/σ_min)),
/// σ(t) = σ_min (σ_max/σ_min)^t.
///
/// The marginal std is the exact √(σ(t)² − σ_min²) (score_sde uses σ(t), which is off by σ_min
/// at small t); the prior is N(0, σ_max² I) as in score_sde.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Ve {
    sigma_min: f32,
    sigma_max: f32,
    log_ratio: f64,
    /// √(2 ln(σ_max/σ_min)), the diffusion's constant factor (prepared once).
    g_factor: f64,
}

impl Ve {
    /// A VE SDE; requires 0 < σ_min < σ_max, both finite.
    pub fn new(sigma_min: f32, sigma_max: f32) -> Result<Self, Error> {
        check_pos("sigma_min", sigma_min)?;
        check_pos("sigma_max", sigma_max)?;
        if sigma_min >= sigma_max {
            return Err(Error::InvalidParameter {
                name: "sigma_min",
                reason: "must be < sigma_max",
            });
        }
        let log_ratio = libm::log(sigma_max as f64 / sigma_min as f64);
        Ok(Self { sigma_min, sigma_max, log_ratio, g_factor: libm::sqrt(2.0 * log_ratio) })
    }
    /// σ_min.
    pub fn sigma_min(&self) -> f32 {
        self.sigma_min
    }
    /// σ_max.
    pub fn sigma_max(&self) -> f32 {
        self.sigma_max
    }
    /// ln(σ_max/σ_min), as the SDE holds it (f64).
    pub fn log_ratio(&self) -> f64 {
        self.log_ratio
    }
    /// √(2 ln(σ_max/σ_min)), the diffusion's constant factor, as the SDE holds it (f64).
    pub fn g_factor(&self) -> f64 {
        self.g_factor
    }
    /// σ(t) = σ_min (σ_max/σ_min)^t.
    #[inline(always)]
    pub fn sigma<R: Real>(&self, t: R) -> R {
        R::from_f32(self.sigma_min) * (t * R::from_f64(self.log_ratio)).exp()
    }
}

impl Default for Ve {
    fn default() -> Self {
        Self::new(VE_SIGMA_MIN, VE_SIGMA_MAX).unwrap_or(Self {
            sigma_min: VE_SIGMA_MIN,
            sigma_max: VE_SIGMA_MAX,
            log_ratio: 8.517_193_191_416_238,
            g_factor: 4.12727348049926,
        })
    }
}

impl Sde for Ve {
    fn t_max(&self) -> f32 {
        1.0
    }
    #[inline(always)]
    fn drift_coef<R: Real>(&self, _t: R) -> R {
        R::zero()
    }
    #[inline(always)]
    fn diffusion<R: Real>(&self, t: R) -> R {
        self.sigma(t) * R::from_f64(self.g_factor)
    }
    #[inline(always)]
    fn marginal<R: Real>(&self, t: R) -> (R, R) {
        // σ(t)² − σ_min² = σ_min² (e^{2t ln r} − 1): expm1 keeps it accurate near t = 0.
        let smin = R::from_f32(self.sigma_min);
        let v = smin * smin * (R::from_f64(2.0) * t * R::from_f64(self.log_ratio)).expm1();
        (R::one(), v.max(R::zero()).sqrt())
    }
    fn prior_std(&self) -> f32 {
        self.sigma_max
    }
    /// σ̄ = σ_t = σ_min √(e^{2t ln r} − 1), so t = ln(1 + (σ̄/σ_min)²) / (2 ln r).
    fn time_of_sigma_bar(&self, sigma_bar: f64) -> Option<f64> {
        let u = sigma_bar / self.sigma_min as f64;
        Some(libm::log1p(u * u) / (2.0 * self.log_ratio))
    }
}

/// The linear noise schedule β(t) = β_min + t(β_max − β_min) shared by VP and sub-VP.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Linear {
    beta_min: f32,
    beta_max: f32,
}

impl Linear {
    fn new(beta_min: f32, beta_max: f32) -> Result<Self, Error> {
        check_pos("beta_min", beta_min)?;
        check_pos("beta_max", beta_max)?;
        if beta_min >= beta_max {
            return Err(Error::InvalidParameter { name: "beta_min", reason: "must be < beta_max" });
        }
        Ok(Self { beta_min, beta_max })
    }
    #[inline(always)]
    fn beta<R: Real>(&self, t: R) -> R {
        R::from_f32(self.beta_min) + t * R::from_f64(self.beta_max as f64 - self.beta_min as f64)
    }
    /// The t ≥ 0 with −log α_t = `q` ≥ 0: the positive root of ¼Δt² + ½β_min t − q = 0
    /// (Δ = β_max − β_min), as 2q/(b + √(b² + Δq)) with b = ½β_min (no cancellation).
    fn time_of_neg_log_alpha(&self, q: f64) -> f64 {
        let delta = self.beta_max as f64 - self.beta_min as f64;
        let b = 0.5 * self.beta_min as f64;
        2.0 * q / (b + libm::sqrt(b * b + delta * q))
    }
    /// log α_t = −¼t²(β_max − β_min) − ½tβ_min.
    #[inline(always)]
    fn log_alpha<R: Real>(&self, t: R) -> R {
        -(R::from_f64(0.25) * t * t * R::from_f64(self.beta_max as f64 - self.beta_min as f64)
            + R::from_f64(0.5) * t * R::from_f32(self.beta_min))
    }
}

/// Variance-preserving SDE (DDPM): f = −½β(t)x, g = √β(t), β linear from β_min to β_max.
/// α_t = exp(−¼t²(β_max−β_min) − ½tβ_min), σ_t = √(1 − α_t²); prior N(0, I).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Vp(Linear);

impl Vp {
    /// (β_min, β_max).
    pub fn beta_range(&self) -> (f32, f32) {
        (self.0.beta_min, self.0.beta_max)
    }
    /// A VP SDE; requires 0 < β_min < β_max, both finite.
    pub fn new(beta_min: f32, beta_max: f32) -> Result<Self, Error> {
        Linear::new(beta_min, beta_max).map(Self)
    }
    /// β_min = β(0).
    pub fn beta_min(&self) -> f32 {
        self.0.beta_min
    }
    /// β_max = β(1).
    pub fn beta_max(&self) -> f32 {
        self.0.beta_max
    }
    /// β(t).
    #[inline(always)]
    pub fn beta<R: Real>(&self, t: R) -> R {
        self.0.beta(t)
    }
}

impl Default for Vp {
    fn default() -> Self {
        Self(Linear { beta_min: VP_BETA_MIN, beta_max: VP_BETA_MAX })
    }
}

impl Sde for Vp {
    fn t_max(&self) -> f32 {
        1.0
    }
    #[inline(always)]
    fn drift_coef<R: Real>(&self, t: R) -> R {
        R::from_f64(-0.5) * self.0.beta(t)
    }
    #[inline(always)]
    fn diffusion<R: Real>(&self, t: R) -> R {
        self.0.beta(t).sqrt()
    }
    #[inline(always)]
    fn marginal<R: Real>(&self, t: R) -> (R, R) {
        let la = self.0.log_alpha(t);
        // 1 − α² = −expm1(2 log α): accurate for small t.
        let var = -(R::from_f64(2.0) * la).expm1();
        (la.exp(), var.max(R::zero()).sqrt())
    }
    fn prior_std(&self) -> f32 {
        1.0
    }
    /// σ̄² = 1/α_t² − 1, so −log α_t = ½ ln(1 + σ̄²).
    fn time_of_sigma_bar(&self, sigma_bar: f64) -> Option<f64> {
        Some(self.0.time_of_neg_log_alpha(0.5 * libm::log1p(sigma_bar * sigma_bar)))
    }
}

/// Sub-VP SDE (Song et al. 2021): f = −½β(t)x, g = √(β(t)(1 − e^{−2β_min t − (β_max−β_min)t²})).
/// α_t as VP, σ_t = 1 − α_t²; prior N(0, I).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SubVp(Linear);

impl SubVp {
    /// (β_min, β_max).
    pub fn beta_range(&self) -> (f32, f32) {
        (self.0.beta_min, self.0.beta_max)
    }
    /// A sub-VP SDE; requires 0 < β_min < β_max, both finite.
    pub fn new(beta_min: f32, beta_max: f32) -> Result<Self, Error> {
        Linear::new(beta_min, beta_max).map(Self)
    }
    /// β_min = β(0).
    pub fn beta_min(&self) -> f32 {
        self.0.beta_min
    }
    /// β_max = β(1).
    pub fn beta_max(&self) -> f32 {
        self.0.beta_max
    }
    /// β(t).
    #[inline(always)]
    pub fn beta<R: Real>(&self, t: R) -> R {
        self.0.beta(t)
    }
}

impl Default for SubVp {
    fn default() -> Self {
        Self(Linear { beta_min: VP_BETA_MIN, beta_max: VP_BETA_MAX })
    }
}

impl Sde for SubVp {
    fn t_max(&self) -> f32 {
        1.0
    }
    #[inline(always)]
    fn drift_coef<R: Real>(&self, t: R) -> R {
        R::from_f64(-0.5) * self.0.beta(t)
    }
    #[inline(always)]
    fn diffusion<R: Real>(&self, t: R) -> R {
        // 1 − e^{2 log α} = −expm1(2 log α) (the exponent −2β_min t − (β_max−β_min)t² is 4 log α).
        let la = self.0.log_alpha(t);
        let discount = -(R::from_f64(4.0) * la).expm1();
        (self.0.beta(t) * discount).max(R::zero()).sqrt()
    }
    #[inline(always)]
    fn marginal<R: Real>(&self, t: R) -> (R, R) {
        let la = self.0.log_alpha(t);
        (la.exp(), -(R::from_f64(2.0) * la).expm1())
    }
    fn prior_std(&self) -> f32 {
        1.0
    }
    /// σ̄ = 1/α_t − α_t, so α_t = 2/(σ̄ + √(σ̄² + 4)) and −log α_t = asinh(σ̄/2).
    fn time_of_sigma_bar(&self, sigma_bar: f64) -> Option<f64> {
        Some(self.0.time_of_neg_log_alpha(libm::asinh(0.5 * sigma_bar)))
    }
}

/// x_T drawn from the SDE's prior N(0, s² I) ([`Sde::prior_std`]): D normals from `rng`,
/// scaled. The one prior draw of every reverse-SDE sampler and of probability-flow sampling.
#[inline(always)]
pub fn prior_draw<L: Lane, G: LaneSource<L>, S: Sde, const D: usize>(
    sde: &S,
    rng: &mut G,
) -> [L; D] {
    let s = <L as Lane>::from_f32(sde.prior_std());
    let z: [L; D] = rng.normal_array();
    z.map(|v| s * v)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The marginal moments of a linear SDE obey dα/dt = c(t)α and dσ²/dt = 2c(t)σ² + g(t)²;
    /// check both by central differences in f64 for all three SDEs.
    fn check_moment_odes<S: Sde>(sde: &S) {
        let h = 1e-6;
        for i in 1..50 {
            let t = i as f64 / 50.0;
            let (a1, s1) = sde.marginal(t + h);
            let (a0, s0) = sde.marginal(t - h);
            let (a, s) = sde.marginal(t);
            let c = sde.drift_coef(t);
            let g = sde.diffusion(t);
            let da = (a1 - a0) / (2.0 * h);
            let dv = (s1 * s1 - s0 * s0) / (2.0 * h);
            assert!((da - c * a).abs() <= 1e-6 * (1.0 + a.abs()), "dα at t={t}");
            let rhs = 2.0 * c * s * s + g * g;
            assert!((dv - rhs).abs() <= 2e-5 * (1.0 + rhs.abs()), "dσ² at t={t}: {dv} vs {rhs}");
        }
    }

    #[test]
    fn marginals_solve_the_moment_equations() {
        check_moment_odes(&Ve::default());
        check_moment_odes(&Vp::default());
        check_moment_odes(&SubVp::default());
    }

    #[test]
    fn boundary_values() {
        let (a, s) = Ve::default().marginal(0.0f64);
        assert_eq!((a, s), (1.0, 0.0));
        let (_, s1) = Ve::default().marginal(1.0f64);
        assert!((s1 - (50.0f64 * 50.0 - 1e-4).sqrt()).abs() < 1e-6);
        let (a, s) = Vp::default().marginal(1.0f64);
        assert!(
            (a - (-0.25f64 * 19.9 - 0.05).exp()).abs() < 1e-6 && (a * a + s * s - 1.0).abs() < 1e-9
        );
    }

    #[test]
    fn constructors_reject_bad_parameters() {
        assert!(Ve::new(0.0, 1.0).is_err());
        assert!(Ve::new(2.0, 1.0).is_err());
        assert!(Ve::new(f32::NAN, 1.0).is_err());
        assert!(Vp::new(0.1, f32::INFINITY).is_err());
        assert!(SubVp::new(1.0, 1.0).is_err());
    }
}
