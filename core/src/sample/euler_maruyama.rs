//! Reverse-SDE Euler–Maruyama sampling (Anderson 1982; MATH.md §5).
//!
//! The reverse SDE dx = [f(x, t) − g(t)² s(x, t)] dt + g(t) dw̄ runs from t = T down to ε on the
//! uniform grid tᵢ = T − i h, h = (T − ε)/N: x ← x − [f − g² s] h + g √h z. The last step returns
//! the mean (no noise), as score_sde does. Sampling starts from the prior N(0, s² I) of the SDE,
//! drawn from each sample's own stream.

use crate::error::{Error, finite};
use crate::lane::Lane;
use crate::rng::LaneSource;
use crate::sample::{LaneSampler, at_least_one};
use crate::score::ScoreModel;
use crate::sde::Sde;

/// The time grid T = t₀ > t₁ > … > t_N = ε of the reverse samplers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct ReverseGrid {
    t_max: f64,
    h: f64,
    sqrt_h: f64,
    steps: u32,
}

impl ReverseGrid {
    /// Validate `steps` ≥ 1 and ε ∈ [0, T) (finite), for the SDE's T.
    pub(crate) fn new<S: Sde>(sde: &S, steps: u32, eps: f32) -> Result<Self, Error> {
        at_least_one("steps", steps)?;
        finite("eps", eps)?;
        let t_max = sde.t_max() as f64;
        if !(eps >= 0.0 && (eps as f64) < t_max) {
            return Err(Error::InvalidParameter { name: "eps", reason: "must lie in [0, T)" });
        }
        let h = (t_max - eps as f64) / steps as f64;
        Ok(Self { t_max, h, sqrt_h: libm::sqrt(h), steps })
    }
    /// tᵢ = T − i h (in `f64`, then rounded to the lane).
    #[inline(always)]
    pub(crate) fn time<L: Lane>(&self, i: u32) -> L {
        <L as Lane>::from_f64(self.t_max - i as f64 * self.h)
    }
    pub(crate) fn steps(&self) -> u32 {
        self.steps
    }
    /// The step h = (T − ε)/N.
    pub(crate) fn h(&self) -> f64 {
        self.h
    }

    /// Reverse Euler–Maruyama step i (from tᵢ to tᵢ₊₁, h > 0):
    /// x ← x − [c(tᵢ) x − g(tᵢ)² s(x, tᵢ)] h + g(tᵢ) √h z, noise-free on the last step (D normal
    /// draws otherwise).
    #[inline(always)]
    pub(crate) fn reverse_step<L, G, S, M, const D: usize>(
        &self,
        sde: &S,
        model: &M,
        x: &mut [L; D],
        i: u32,
        rng: &mut G,
    ) where
        L: Lane,
        G: LaneSource<L>,
        S: Sde,
        M: ScoreModel<D>,
    {
        let t = self.time::<L>(i);
        let h = <L as Lane>::from_f64(self.h);
        let s = model.score(x, t);
        let c = sde.drift_coef(t);
        let g = sde.diffusion(t);
        let g2 = g * g;
        for (xi, si) in x.iter_mut().zip(s.iter()) {
            *xi -= (c * *xi - g2 * *si) * h;
        }
        if i.saturating_add(1) < self.steps {
            let z: [L; D] = rng.normal_array();
            let gn = g * <L as Lane>::from_f64(self.sqrt_h);
            for (xi, zi) in x.iter_mut().zip(z.iter()) {
                *xi += gn * *zi;
            }
        }
    }
}

pub(crate) use crate::sde::prior_draw;

/// Reverse-SDE Euler–Maruyama sampler for the SDE `S`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EulerMaruyama<S> {
    sde: S,
    grid: ReverseGrid,
}

impl<S: Sde> EulerMaruyama<S> {
    /// N = `steps` ≥ 1 steps from T down to `eps` ∈ [0, T). score_sde's defaults are
    /// [`crate::sde::DEFAULT_STEPS`] and [`crate::sde::SAMPLING_EPS_VP`] (VP, sub-VP) or
    /// [`crate::sde::SAMPLING_EPS_VE`] (VE).
    pub fn new(sde: S, steps: u32, eps: f32) -> Result<Self, Error> {
        let grid = ReverseGrid::new(&sde, steps, eps)?;
        Ok(Self { sde, grid })
    }
    /// The SDE.
    pub fn sde(&self) -> &S {
        &self.sde
    }
}

impl<const D: usize, S: Sde, M: ScoreModel<D>> LaneSampler<D, M> for EulerMaruyama<S> {
    /// Ignores the initial `x`. Draws: D normals for the prior, then D per step except the last.
    #[inline(always)]
    fn run<L: Lane, G: LaneSource<L>>(&self, model: &M, x: &mut [L; D], rng: &mut G) {
        // Inlined for lanes that ask for it (see `Lane::INLINE_KERNELS`), else the compiler's
        // choice.
        if L::INLINE_KERNELS {
            self.chain_inlined(model, x, rng)
        } else {
            self.chain(model, x, rng)
        }
    }
}

impl<S: Sde> EulerMaruyama<S> {
    crate::math::with_inlined! {
    /// The chain from the prior draw through every step.
    fn chain / chain_inlined <const D: usize, M: ScoreModel<D>, L: Lane, G: LaneSource<L>>(
        &self,
        model: &M,
        x: &mut [L; D],
        rng: &mut G,
    ) {
        *x = prior_draw(&self.sde, rng);
        for i in 0..self.grid.steps() {
            self.grid.reverse_step(&self.sde, model, x, i, rng);
        }
    }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::score::GaussianMixture;
    use crate::sde::{Ve, Vp};

    /// From a N(0, v) target under VP the reverse EM chain is linear, so its output is exactly
    /// Gaussian with a variance the recursion v ← (1 + (½β − β/v_t)h)² v + βh (for the exact
    /// marginal v_t = α²v + σ²) gives; check against that recursion in f64.
    #[test]
    fn linear_case_matches_the_variance_recursion() {
        let v0 = 0.25f64;
        let m = GaussianMixture::new([1.0], [[0.0]], [[[v0 as f32]]]).unwrap().under(Vp::default());
        let sampler = EulerMaruyama::new(Vp::default(), 200, 1e-3).unwrap();
        let mut xs = [[0.0f64; 1]; 20_000];
        sampler.sample_batch_f64(&m, 1, 0, &mut xs);
        let sde = Vp::default();
        let (t_max, h) = (1.0f64, (1.0 - 1e-3) / 200.0);
        let mut v = 1.0f64;
        for i in 0..200 {
            let t = t_max - i as f64 * h;
            let (a, s) = sde.marginal(t);
            let vt = a * a * v0 + s * s;
            let beta = sde.beta(t);
            let k = 1.0 + (0.5 * beta - beta / vt) * h;
            v = k * k * v + if i + 1 < 200 { beta * h } else { 0.0 };
        }
        let n = xs.len() as f64;
        let var = xs.iter().map(|x| x[0] * x[0]).sum::<f64>() / n;
        // s.e. of the variance v·√(2/n) ≈ 0.0025: 5σ bound.
        assert!((var - v).abs() < 0.0125, "{var} vs {v}");
        assert!((v - v0).abs() < 0.01, "recursion itself near the target: {v}");
    }

    #[test]
    fn rejects_bad_parameters() {
        assert!(EulerMaruyama::new(Ve::default(), 0, 1e-5).is_err());
        assert!(EulerMaruyama::new(Ve::default(), 10, 1.0).is_err());
        assert!(EulerMaruyama::new(Ve::default(), 10, -0.1).is_err());
        assert!(EulerMaruyama::new(Ve::default(), 10, f32::NAN).is_err());
        assert!(EulerMaruyama::new(Ve::default(), 10, 0.0).is_ok());
    }
}
