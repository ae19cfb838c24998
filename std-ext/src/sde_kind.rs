//! The three built-in SDEs behind one runtime choice (`--sde ve|vp|subvp`).

use flowscore::real::Real;
use flowscore::sde::{self, Sde, SubVp, Ve, Vp};

/// A built-in SDE with score_sde's default constants (MATH.md §5).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum AnySde {
    /// Variance exploding.
    Ve(Ve),
    /// Variance preserving.
    Vp(Vp),
    /// Sub-variance preserving.
    SubVp(SubVp),
}

impl AnySde {
    /// Short lowercase name, as on the command line.
    pub fn name(&self) -> &'static str {
        match self {
            AnySde::Ve(_) => "ve",
            AnySde::Vp(_) => "vp",
            AnySde::SubVp(_) => "subvp",
        }
    }
    /// Display name.
    pub fn label(&self) -> &'static str {
        match self {
            AnySde::Ve(_) => "VE",
            AnySde::Vp(_) => "VP",
            AnySde::SubVp(_) => "sub-VP",
        }
    }
    /// score_sde's sampling end time ε (1e-5 for VE, 1e-3 for VP and sub-VP).
    pub fn sampling_eps(&self) -> f64 {
        match self {
            AnySde::Ve(_) => sde::SAMPLING_EPS_VE as f64,
            _ => sde::SAMPLING_EPS_VP as f64,
        }
    }
    /// β(t) for VP and sub-VP (used by the corrector's a = 1 − β(t)/N); `None` for VE.
    pub fn beta(&self, t: f64) -> Option<f64> {
        match self {
            AnySde::Ve(_) => None,
            AnySde::Vp(s) => Some(s.beta(t)),
            AnySde::SubVp(s) => Some(s.beta(t)),
        }
    }
    /// All three, in the order VE, VP, sub-VP.
    pub fn all() -> [AnySde; 3] {
        [AnySde::Ve(Ve::default()), AnySde::Vp(Vp::default()), AnySde::SubVp(SubVp::default())]
    }
}

impl Sde for AnySde {
    fn t_max(&self) -> f32 {
        match self {
            AnySde::Ve(s) => s.t_max(),
            AnySde::Vp(s) => s.t_max(),
            AnySde::SubVp(s) => s.t_max(),
        }
    }
    // Inlined, as the SDEs' own: the AVX2 lanes ([`crate::simd`]) run at full width only in
    // code inlined into the dispatched function.
    #[inline(always)]
    fn drift_coef<R: Real>(&self, t: R) -> R {
        match self {
            AnySde::Ve(s) => s.drift_coef(t),
            AnySde::Vp(s) => s.drift_coef(t),
            AnySde::SubVp(s) => s.drift_coef(t),
        }
    }
    #[inline(always)]
    fn diffusion<R: Real>(&self, t: R) -> R {
        match self {
            AnySde::Ve(s) => s.diffusion(t),
            AnySde::Vp(s) => s.diffusion(t),
            AnySde::SubVp(s) => s.diffusion(t),
        }
    }
    #[inline(always)]
    fn marginal<R: Real>(&self, t: R) -> (R, R) {
        match self {
            AnySde::Ve(s) => s.marginal(t),
            AnySde::Vp(s) => s.marginal(t),
            AnySde::SubVp(s) => s.marginal(t),
        }
    }
    fn prior_std(&self) -> f32 {
        match self {
            AnySde::Ve(s) => s.prior_std(),
            AnySde::Vp(s) => s.prior_std(),
            AnySde::SubVp(s) => s.prior_std(),
        }
    }
    fn time_of_sigma_bar(&self, sigma_bar: f64) -> Option<f64> {
        match self {
            AnySde::Ve(s) => s.time_of_sigma_bar(sigma_bar),
            AnySde::Vp(s) => s.time_of_sigma_bar(sigma_bar),
            AnySde::SubVp(s) => s.time_of_sigma_bar(sigma_bar),
        }
    }
}
