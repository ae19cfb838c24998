//! Unadjusted Langevin algorithm on a static target (MATH.md §4):
//! x ← x + ε s(x) + √(2ε) z, z ~ N(0, I). Its stationary law tends to p as ε → 0 (bias O(ε)).

use crate::error::Error;
use crate::lane::Lane;
use crate::rng::LaneSource;
use crate::sample::{LaneSampler, at_least_one, langevin_move, non_negative, positive};
use crate::score::ScoreModel;

/// ULA with step ε for a fixed number of steps, the score evaluated at a fixed time (or noise
/// level) `t` (0 by default: the data distribution).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Langevin {
    step: f32,
    steps: u32,
    time: f32,
}

impl Langevin {
    /// ε > 0 and finite, `steps` ≥ 1.
    pub fn new(step: f32, steps: u32) -> Result<Self, Error> {
        Ok(Self { step: positive("step", step)?, steps: at_least_one("steps", steps)?, time: 0.0 })
    }
    /// The same sampler with the score evaluated at time (or noise level) `t` ≥ 0, finite.
    pub fn with_time(self, t: f32) -> Result<Self, Error> {
        Ok(Self { time: non_negative("time", t)?, ..self })
    }
    /// ε.
    pub fn step(&self) -> f32 {
        self.step
    }
    /// The number of steps.
    pub fn steps(&self) -> u32 {
        self.steps
    }
}

impl<const D: usize, M: ScoreModel<D>> LaneSampler<D, M> for Langevin {
    /// D normal draws per step.
    fn run<L: Lane, G: LaneSource<L>>(&self, model: &M, x: &mut [L; D], rng: &mut G) {
        let eps = <L as Lane>::from_f32(self.step);
        let t = <L as Lane>::from_f32(self.time);
        for _ in 0..self.steps {
            let s = model.score(x, t);
            let z: [L; D] = rng.normal_array();
            langevin_move(x, &s, eps, &z);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::score::Gaussian;

    /// On N(μ, σ²) ULA is an AR(1) chain with exact stationary variance σ²/(1 − ε/(2σ²))
    /// (x ← (1 − ε/σ²)x + … ⇒ v = (1−ε/σ²)² v + 2ε): check mean and variance over 20 000 chains.
    #[test]
    fn stationary_law_on_a_gaussian() {
        let g = Gaussian::new([2.0], [[4.0]]).unwrap();
        let eps = 0.2f32;
        let sampler = Langevin::new(eps, 400).unwrap();
        let mut xs = [[0.0f32; 1]; 20_000];
        sampler.sample_batch(&g, 7, 0, &mut xs);
        let n = xs.len() as f64;
        let mean = xs.iter().map(|x| x[0] as f64).sum::<f64>() / n;
        let var = xs.iter().map(|x| (x[0] as f64 - mean).powi(2)).sum::<f64>() / n;
        let want = 4.0 / (1.0 - 0.2 / 8.0);
        // s.e. of the mean √(4.1/n) = 0.014, of the variance 4.1·√(2/n) = 0.041: 5σ bounds.
        assert!((mean - 2.0).abs() < 0.07, "{mean}");
        assert!((var - want).abs() < 0.21, "{var} vs {want}");
    }

    #[test]
    fn rejects_bad_parameters() {
        assert!(Langevin::new(0.0, 10).is_err());
        assert!(Langevin::new(-1.0, 10).is_err());
        assert_eq!(Langevin::new(f32::NAN, 10), Err(Error::NonFinite("step")));
        assert!(Langevin::new(0.1, 0).is_err());
        assert!(Langevin::new(0.1, 1).unwrap().with_time(-1.0).is_err());
        assert!(Langevin::new(0.1, 1).unwrap().with_time(f32::INFINITY).is_err());
    }
}
