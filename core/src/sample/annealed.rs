//! Annealed Langevin dynamics, NCSN Algorithm 1 (Song & Ermon 2019; MATH.md §4).
//!
//! For noise levels σ₁ > … > σ_L (geometric), level i runs T steps of
//! x ← x + (αᵢ/2) s(x, σᵢ) + √αᵢ z with αᵢ = ε σᵢ²/σ_L², starting from the caller's initial
//! states (NCSN: uniform noise). The score model's time argument is the noise level σ
//! (e.g. [`crate::score::NoisyMixture`]). As in the algorithm, the last step keeps its noise.

use crate::error::Error;
use crate::lane::Lane;
use crate::rng::LaneSource;
use crate::sample::{LaneSampler, at_least_one, langevin_move, positive};
use crate::score::ScoreModel;

/// ncsn's largest noise level σ₁.
pub const NCSN_SIGMA_MAX: f32 = 1.0;
/// ncsn's smallest noise level σ_L.
pub const NCSN_SIGMA_MIN: f32 = 0.01;
/// ncsn's number of noise levels L.
pub const NCSN_LEVELS: u32 = 10;
/// ncsn's Langevin steps per level T.
pub const NCSN_STEPS_PER_LEVEL: u32 = 100;
/// ncsn's step size ε (`step_lr` = 2e-5).
pub const NCSN_STEP: f32 = 2e-5;

/// NCSN's annealed Langevin sampler.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AnnealedLangevin {
    sigma_max: f32,
    sigma_min: f32,
    levels: u32,
    steps_per_level: u32,
    step: f32,
}

impl Default for AnnealedLangevin {
    /// ncsn's defaults: σ geometric 1 → 0.01, L = 10, T = 100, ε = 2e-5.
    fn default() -> Self {
        Self {
            sigma_max: NCSN_SIGMA_MAX,
            sigma_min: NCSN_SIGMA_MIN,
            levels: NCSN_LEVELS,
            steps_per_level: NCSN_STEPS_PER_LEVEL,
            step: NCSN_STEP,
        }
    }
}

impl AnnealedLangevin {
    /// Noise levels geometric from `sigma_max` down to `sigma_min` (0 < σ_min < σ_max, finite),
    /// `levels` ≥ 1 (with one level only σ_min is used), `steps_per_level` ≥ 1, ε > 0.
    pub fn new(
        sigma_max: f32,
        sigma_min: f32,
        levels: u32,
        steps_per_level: u32,
        step: f32,
    ) -> Result<Self, Error> {
        positive("sigma_max", sigma_max)?;
        positive("sigma_min", sigma_min)?;
        if sigma_min >= sigma_max {
            return Err(Error::InvalidParameter {
                name: "sigma_min",
                reason: "must be < sigma_max",
            });
        }
        Ok(Self {
            sigma_max,
            sigma_min,
            levels: at_least_one("levels", levels)?,
            steps_per_level: at_least_one("steps_per_level", steps_per_level)?,
            step: positive("step", step)?,
        })
    }
    /// σᵢ for i = 0 … L−1: σ_max (σ_min/σ_max)^{i/(L−1)}, computed in `f64` (libm: the same
    /// on every target) and rounded to `f32`.
    pub fn sigma(&self, i: u32) -> f32 {
        if self.levels <= 1 {
            return self.sigma_min;
        }
        let r = i.min(self.levels - 1) as f64 / (self.levels - 1) as f64;
        let ratio = self.sigma_min as f64 / self.sigma_max as f64;
        (self.sigma_max as f64 * libm::pow(ratio, r)) as f32
    }
    /// The number of noise levels L.
    pub fn levels(&self) -> u32 {
        self.levels
    }
}

impl<const D: usize, M: ScoreModel<D>> LaneSampler<D, M> for AnnealedLangevin {
    /// D normal draws per step, L·T steps.
    fn run<L: Lane, G: LaneSource<L>>(&self, model: &M, x: &mut [L; D], rng: &mut G) {
        let last = self.sigma(self.levels.saturating_sub(1)) as f64;
        for level in 0..self.levels {
            let sigma = self.sigma(level);
            let alpha = self.step as f64 * (sigma as f64 / last) * (sigma as f64 / last);
            // x + (α/2) s + √α z is a Langevin move with step α/2.
            let half = <L as Lane>::from_f64(0.5 * alpha);
            let s_lane = <L as Lane>::from_f32(sigma);
            for _ in 0..self.steps_per_level {
                let s = model.score(x, s_lane);
                let z: [L; D] = rng.normal_array();
                langevin_move(x, &s, half, &z);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geometric_levels() {
        let a = AnnealedLangevin::default();
        assert_eq!(a.sigma(0), 1.0);
        assert!((a.sigma(9) - 0.01).abs() < 1e-9);
        let r = a.sigma(1) as f64 / a.sigma(0) as f64;
        assert!((r - 0.01f64.powf(1.0 / 9.0)).abs() < 1e-6);
    }

    #[test]
    fn rejects_bad_parameters() {
        assert!(AnnealedLangevin::new(1.0, 1.0, 10, 10, 0.1).is_err());
        assert!(AnnealedLangevin::new(1.0, 2.0, 10, 10, 0.1).is_err());
        assert!(AnnealedLangevin::new(1.0, 0.0, 10, 10, 0.1).is_err());
        assert!(AnnealedLangevin::new(f32::NAN, 0.1, 10, 10, 0.1).is_err());
        assert!(AnnealedLangevin::new(1.0, 0.1, 0, 10, 0.1).is_err());
        assert!(AnnealedLangevin::new(1.0, 0.1, 10, 0, 0.1).is_err());
        assert!(AnnealedLangevin::new(1.0, 0.1, 10, 10, -0.1).is_err());
    }
}
