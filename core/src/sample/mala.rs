//! Metropolis-adjusted Langevin (MALA, MATH.md §4): the ULA proposal
//! y = x + ε s(x) + √(2ε) z, accepted with probability
//! min(1, p(y) q(x | y) / (p(x) q(y | x))), q(y | x) = N(y; x + ε s(x), 2ε I). Exact stationary
//! law p for every ε > 0; needs log p (closed-form models).

use core::ops::Range;

use crate::batch::{ChunkKernel, for_each_chunk, gather, part_mut, scatter};
use crate::error::Error;
use crate::lane::{Lane, Scalar};
use crate::real::Real;
use crate::rng::{LaneSource, Streams};
use crate::sample::{LaneSampler, at_least_one, non_negative, positive};
use crate::score::ExactScoreModel;

/// MALA with step ε for a fixed number of steps at time (or noise level) `t` (0 by default).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Mala {
    step: f32,
    steps: u32,
    time: f32,
}

/// Acceptance statistics of a MALA batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MalaStats {
    /// Accepted proposals, over all chains and steps.
    pub accepted: u64,
    /// Proposals made (chains × steps).
    pub proposed: u64,
}

impl MalaStats {
    /// accepted / proposed (0 when nothing was proposed).
    pub fn acceptance_rate(&self) -> f64 {
        if self.proposed == 0 { 0.0 } else { self.accepted as f64 / self.proposed as f64 }
    }
}

impl Mala {
    /// ε > 0 and finite, `steps` ≥ 1.
    pub fn new(step: f32, steps: u32) -> Result<Self, Error> {
        Ok(Self { step: positive("step", step)?, steps: at_least_one("steps", steps)?, time: 0.0 })
    }
    /// The same sampler with the model evaluated at time (or noise level) `t` ≥ 0, finite.
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
    /// Run `xs` (initial states in, samples out) on the `f32` batch lanes ([`crate::batch::WideScalar::Wide`]) and report the acceptance
    /// statistics.
    pub fn sample_with_stats<const D: usize, M: ExactScoreModel<D>>(
        &self,
        model: &M,
        seed: u64,
        first_index: u64,
        xs: &mut [[f32; D]],
    ) -> MalaStats {
        self.run_batch_with_stats::<<f32 as crate::batch::WideScalar>::Wide, f32, D, M>(
            model,
            seed,
            first_index,
            xs,
        )
    }

    /// [`LaneSampler::run_batch`] with the acceptance statistics: sample `first_index + i` on
    /// `xs[i]`, `W`-wide lanes on full chunks and `N` scalars on the tail.
    pub fn run_batch_with_stats<W, N, const D: usize, M>(
        &self,
        model: &M,
        seed: u64,
        first_index: u64,
        xs: &mut [[N; D]],
    ) -> MalaStats
    where
        W: Lane<Scalar = N>,
        N: Lane<Scalar = N> + Scalar,
        M: ExactScoreModel<D>,
    {
        let n = xs.len();
        let mut k = CountKernel { mala: self, model, seed, xs, accepted: 0 };
        // One slice: the length check cannot fail, and running a chain has no error.
        let _ = for_each_chunk::<W, N, _>(first_index, &[("xs", n)], &mut k);
        MalaStats { accepted: k.accepted, proposed: n as u64 * self.steps as u64 }
    }

    /// [`LaneSampler::run`], returning per lane the number of accepted proposals.
    /// D normal draws and one uniform per step. A proposal whose log-acceptance ratio is NaN
    /// (non-finite input) is rejected.
    pub fn run_counting<L: Lane, G: LaneSource<L>, const D: usize, M: ExactScoreModel<D>>(
        &self,
        model: &M,
        x: &mut [L; D],
        rng: &mut G,
    ) -> L {
        let eps = <L as Lane>::from_f32(self.step);
        let noise = Lane::sqrt(eps + eps);
        let quarter_inv = <L as Lane>::from_f64(0.25) / eps;
        let t = <L as Lane>::from_f32(self.time);
        let mut s = model.score(x, t);
        let mut lp = model.log_density(x, t);
        let mut accepted = L::default();
        for _ in 0..self.steps {
            let z: [L; D] = rng.normal_array();
            let u: L = rng.uniform_open();
            let y: [L; D] = crate::lane::array_fn(|i| x[i] + eps * s[i] + noise * z[i]);
            let sy = model.score(&y, t);
            let lpy = model.log_density(&y, t);
            // log q(x|y) − log q(y|x) = −(‖x − y − ε s(y)‖² − ‖y − x − ε s(x)‖²)/(4ε).
            let (mut back, mut fwd) = (L::default(), L::default());
            for i in 0..D {
                let b = x[i] - y[i] - eps * sy[i];
                let f = y[i] - x[i] - eps * s[i];
                back += b * b;
                fwd += f * f;
            }
            let log_ratio = lpy - lp - (back - fwd) * quarter_inv;
            let accept = Lane::lt(Real::ln(u), log_ratio);
            for i in 0..D {
                x[i] = <L as Lane>::select(accept, y[i], x[i]);
                s[i] = <L as Lane>::select(accept, sy[i], s[i]);
            }
            lp = <L as Lane>::select(accept, lpy, lp);
            accepted += <L as Lane>::select(accept, L::from_f64(1.0), L::default());
        }
        accepted
    }
}

impl<const D: usize, M: ExactScoreModel<D>> LaneSampler<D, M> for Mala {
    /// [`Mala::run_counting`] without the counts.
    fn run<L: Lane, G: LaneSource<L>>(&self, model: &M, x: &mut [L; D], rng: &mut G) {
        self.run_counting(model, x, rng);
    }
}

/// [`Mala::run_batch_with_stats`] on one chunk.
struct CountKernel<'a, M, N, const D: usize> {
    mala: &'a Mala,
    model: &'a M,
    seed: u64,
    xs: &'a mut [[N; D]],
    accepted: u64,
}

impl<M: ExactScoreModel<D>, N: Scalar, const D: usize> ChunkKernel<N> for CountKernel<'_, M, N, D> {
    #[inline]
    fn chunk<L: Lane<Scalar = N>>(&mut self, index: u64, items: Range<usize>) -> Result<(), Error> {
        let xs = part_mut(self.xs, &items)?;
        let mut x: [L; D] = gather(xs);
        let acc =
            self.mala.run_counting(self.model, &mut x, &mut Streams::<L>::new(self.seed, index));
        scatter(&x, xs);
        for j in 0..xs.len() {
            // A small non-negative integer-valued float per lane.
            let a = acc.extract(j).to_f64();
            self.accepted += if (0.0..1.8e19).contains(&a) { a as u64 } else { 0 };
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::score::Gaussian;

    /// With a step far too large for ULA (whose stationary variance σ²/(1 − ε/2σ²) would be
    /// 2× off at ε = σ²), MALA still targets N(2, 4) exactly.
    #[test]
    fn exact_on_a_gaussian_with_a_large_step() {
        let g = Gaussian::new([2.0], [[4.0]]).unwrap();
        let sampler = Mala::new(4.0, 300).unwrap();
        let mut xs = [[0.0f32; 1]; 20_000];
        let stats = sampler.sample_with_stats(&g, 3, 0, &mut xs);
        let n = xs.len() as f64;
        let mean = xs.iter().map(|x| x[0] as f64).sum::<f64>() / n;
        let var = xs.iter().map(|x| (x[0] as f64 - mean).powi(2)).sum::<f64>() / n;
        // s.e. of the mean 0.014, of the variance 0.04: 5σ bounds.
        assert!((mean - 2.0).abs() < 0.07, "{mean}");
        assert!((var - 4.0).abs() < 0.2, "{var}");
        let r = stats.acceptance_rate();
        assert!(r > 0.0 && r < 1.0, "{r}");
    }

    #[test]
    fn rejects_bad_parameters() {
        assert!(Mala::new(0.0, 1).is_err());
        assert!(Mala::new(f32::INFINITY, 1).is_err());
        assert!(Mala::new(0.1, 0).is_err());
    }
}
