//! Denoising score matching (Vincent 2011; MATH.md §3): continuous t under an SDE (score_sde)
//! and discrete noise levels (NCSN, Song & Ermon 2019).

use crate::error::Error;
use crate::lane::Lane;
use crate::loss::{Loss, Scratch};
use crate::params::GradSink;
use crate::real::Real;
use crate::rng::LaneSource;
use crate::score::TrainableScore;
use crate::sde::Sde;

/// score_sde's smallest training time ε (t ~ U(ε, T)).
pub const DSM_EPS: f32 = 1e-5;

/// The weighting λ(t) of continuous denoising score matching.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Weighting {
    /// λ(t) = σ_t²: the loss is ‖σ_t s(x_t, t) + ε‖² (score_sde's default).
    SigmaSquared,
    /// λ(t) = g(t)²: likelihood weighting (Song et al. 2021), ‖s + ε/σ_t‖² g(t)².
    Likelihood,
}

/// Continuous denoising score matching: t ~ U(ε, T), ε ~ N(0, I), x_t = α_t x₀ + σ_t ε,
/// loss λ(t)‖s_θ(x_t, t) + ε/σ_t‖² (MATH.md §3). Draws per sample: t, then D normals.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Dsm<S> {
    sde: S,
    eps: f32,
    weighting: Weighting,
}

impl<S: Sde> Dsm<S> {
    /// DSM under `sde` with t ~ U(eps, T).
    ///
    /// Errors: [`Error::InvalidParameter`] unless 0 < eps < T.
    pub fn new(sde: S, eps: f32, weighting: Weighting) -> Result<Self, Error> {
        if !(eps > 0.0 && eps < sde.t_max()) {
            return Err(Error::InvalidParameter { name: "eps", reason: "must lie in (0, T)" });
        }
        Ok(Self { sde, eps, weighting })
    }

    /// DSM with score_sde's ε = 1e-5 and λ(t) = σ_t².
    pub fn standard(sde: S) -> Self {
        Self { sde, eps: DSM_EPS, weighting: Weighting::SigmaSquared }
    }

    /// The SDE.
    pub fn sde(&self) -> &S {
        &self.sde
    }

    /// The smallest training time ε.
    pub fn eps(&self) -> f32 {
        self.eps
    }

    /// The weighting λ(t).
    pub fn weighting(&self) -> Weighting {
        self.weighting
    }
}

impl<const D: usize, S: Sde, M: TrainableScore<D>> Loss<D, M> for Dsm<S> {
    const NEEDS_DUAL: bool = false;
    const NEEDS_FLAT: bool = false;

    #[inline]
    fn loss_grad<L: Lane, G: LaneSource<L>, K: GradSink<L> + ?Sized>(
        &self,
        model: &M,
        x: &[L; D],
        rng: &mut G,
        grad: &mut K,
        _scratch: &mut Scratch<'_, L>,
    ) -> L {
        let eps = <L as Real>::from_f32(self.eps);
        let t = eps + (<L as Real>::from_f32(self.sde.t_max()) - eps) * rng.uniform();
        let z: [L; D] = rng.normal_array();
        let (alpha, sigma) = self.sde.marginal(t);
        let xt: [L; D] = crate::lane::array_fn(|i| alpha * x[i] + sigma * z[i]);
        let (s, tape) = model.score_tape(&xt, t);
        let mut loss = L::zero();
        let sbar: [L; D] = match self.weighting {
            Weighting::SigmaSquared => crate::lane::array_fn(|i| {
                let r = s[i] * sigma + z[i];
                loss += r * r;
                <L as Real>::from_f64(2.0) * r * sigma
            }),
            Weighting::Likelihood => {
                let g = self.sde.diffusion(t);
                let g2 = g * g;
                let sbar = crate::lane::array_fn(|i| {
                    let r = s[i] + z[i] / sigma;
                    loss += r * r;
                    <L as Real>::from_f64(2.0) * g2 * r
                });
                loss *= g2;
                sbar
            }
        };
        model.score_backward(&tape, &sbar, grad);
        loss
    }
}

/// Denoising score matching over L geometric noise levels σ₁ = σ_max > … > σ_L = σ_min (NCSN):
/// a level i uniform per sample, x̃ = x + σᵢ ε, loss λ(σᵢ)‖s_θ(x̃, σᵢ) + ε/σᵢ‖² with
/// λ(σ) = σ², i.e. ‖σᵢ s + ε‖². The model's time argument is the noise level
/// ([`crate::score::NoiseLevel`]). Draws per sample: the level, then D normals.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DsmLevels {
    ln_sigma_max: f64,
    ln_ratio_step: f64,
    levels: u32,
}

impl DsmLevels {
    /// Levels σᵢ = σ_max (σ_min/σ_max)^{i/(L−1)}, i = 0 … L − 1 (L = 1: the single level
    /// σ_min = σ_max).
    ///
    /// Errors: [`Error::InvalidParameter`] unless 0 < σ_min ≤ σ_max (finite), with L = 1
    /// exactly when σ_min = σ_max.
    pub fn new(sigma_max: f32, sigma_min: f32, levels: u32) -> Result<Self, Error> {
        if !(sigma_min > 0.0 && sigma_min <= sigma_max && sigma_max.is_finite()) {
            return Err(Error::InvalidParameter {
                name: "sigma",
                reason: "need 0 < sigma_min <= sigma_max, finite",
            });
        }
        if levels == 0 || (levels == 1) != (sigma_min == sigma_max) {
            return Err(Error::InvalidParameter {
                name: "levels",
                reason: "need one level for sigma_min = sigma_max, at least 2 otherwise",
            });
        }
        let ln_max = libm::log(sigma_max as f64);
        let step = (libm::log(sigma_min as f64) - ln_max) / (levels.max(2) - 1) as f64;
        Ok(Self { ln_sigma_max: ln_max, ln_ratio_step: step, levels })
    }

    /// The noise level σᵢ (lane-wise in i).
    #[inline]
    pub fn sigma<R: Real>(&self, i: R) -> R {
        (R::from_f64(self.ln_sigma_max) + i * R::from_f64(self.ln_ratio_step)).exp()
    }

    /// The number of levels L.
    pub fn levels(&self) -> u32 {
        self.levels
    }
}

impl<const D: usize, M: TrainableScore<D>> Loss<D, M> for DsmLevels {
    const NEEDS_DUAL: bool = false;
    const NEEDS_FLAT: bool = false;

    #[inline]
    fn loss_grad<L: Lane, G: LaneSource<L>, K: GradSink<L> + ?Sized>(
        &self,
        model: &M,
        x: &[L; D],
        rng: &mut G,
        grad: &mut K,
        _scratch: &mut Scratch<'_, L>,
    ) -> L {
        let n = <L as Real>::from_f64(self.levels as f64);
        // u < 1, so ⌊u·L⌋ ≤ L − 1; the min guards the rounding of u·L in f32.
        let i = Real::min(Lane::floor(rng.uniform() * n), n - <L as Real>::one());
        let sigma = self.sigma(i);
        let z: [L; D] = rng.normal_array();
        let xt: [L; D] = crate::lane::array_fn(|k| x[k] + sigma * z[k]);
        let (s, tape) = model.score_tape(&xt, sigma);
        let mut loss = L::zero();
        let sbar: [L; D] = crate::lane::array_fn(|k| {
            let r = s[k] * sigma + z[k];
            loss += r * r;
            <L as Real>::from_f64(2.0) * r * sigma
        });
        model.score_backward(&tape, &sbar, grad);
        loss
    }
}
