//! Adaptive reverse-SDE sampling with per-lane step sizes (Jolicoeur-Martineau et al. 2021,
//! "Gotta Go Fast When Generating Data with Score-Based Models", Algorithm 1; MATH.md §5.2).
//!
//! Each attempt from t with step h (reverse drift a(x, t) = g² s − c x, one normal z per
//! dimension) computes the Euler–Maruyama proposal and the improved-Euler (stochastic Heun)
//! proposal with the same z:
//!   x′ = x + h a(x, t) + √h g(t) z,
//!   x″ = x + ½h(a(x, t) + a(x′, t − h)) + ½√h(g(t) + g(t − h)) z,
//! and the mixed tolerance δ = max(ε_abs, ε_rel·max(|x′|, |x′_prev|)) (component-wise, x′_prev
//! the EM proposal of the last accepted step), the scaled error E = ‖(x′ − x″)/δ‖₂/√D.
//! The step is accepted when E ≤ 1 (then x ← x″, t ← t − h: extrapolation with the
//! second-order result), and in either case h ← min(t − ε, θ h E^{−r}). On a rejection the
//! same z is used for the retry (set [`AdaptiveOptions::reuse_noise_on_rejection`] to false
//! for a fresh draw per attempt, as the authors' PyTorch code does — the rejections then
//! select small noise, which biases the samples visibly in `tests/sde_solvers.rs`); either way a lane draws
//! D normals per loop pass, so its stream never depends on the other lanes.
//!
//! Every lane has its own t, h, x′_prev and counters. Bounded as [`crate::ode::dopri5()`]: a
//! lane fails with [`Error::StepSizeUnderflow`] when its step falls below
//! max(h_min, 16·ε_lane·|t|) (or [`Error::NonFiniteState`] when the last attempt was
//! non-finite), and with [`Error::MaxStepsExceeded`] after `max_steps` attempts; the loop makes
//! at most `max_steps + 1` passes, 2 score evaluations per attempt.

use crate::error::Error;
use crate::lane::{Lane, Mask, Scalar};
use crate::ode::LaneStatus;
use crate::real::Real;
use crate::rng::{LaneSource, Streams};
use crate::sample::LaneSampler;
use crate::sample::euler_maruyama::prior_draw;
use crate::sample::srk::reverse_drift;
use crate::score::ScoreModel;
use crate::sde::Sde;

/// Options of [`AdaptiveSde`]; defaults are the authors' (`sde_sampling_torch.py`):
/// ε_abs 0.0078, ε_rel 0.01, h_init 0.01, θ 0.9, r 0.9.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdaptiveOptions {
    /// Absolute tolerance ε_abs (≥ 0; ε_abs + ε_rel > 0).
    pub abs_tol: f64,
    /// Relative tolerance ε_rel (≥ 0).
    pub rel_tol: f64,
    /// First step size (> 0).
    pub h_init: f64,
    /// Safety factor θ in (0, 1].
    pub safety: f64,
    /// Exponent r of the step update (> 0).
    pub exponent: f64,
    /// Absolute minimum step (≥ 0); the relative floor 16·ε·|t| always applies.
    pub h_min: f64,
    /// Maximum attempted steps per lane (≥ 1).
    pub max_steps: u32,
    /// Reuse the rejected attempt's z for the retry (the reading of Algorithm 1).
    pub reuse_noise_on_rejection: bool,
}

impl Default for AdaptiveOptions {
    fn default() -> Self {
        Self {
            abs_tol: 0.0078,
            rel_tol: 0.01,
            h_init: 0.01,
            safety: 0.9,
            exponent: 0.9,
            h_min: 0.0,
            max_steps: 10_000,
            reuse_noise_on_rejection: true,
        }
    }
}

impl AdaptiveOptions {
    /// Defaults with the given tolerances.
    pub fn with_tol(abs_tol: f64, rel_tol: f64) -> Self {
        Self { abs_tol, rel_tol, ..Self::default() }
    }
    /// Check every field's domain.
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |name, reason| Err(Error::InvalidParameter { name, reason });
        for (name, v) in [
            ("abs_tol", self.abs_tol),
            ("rel_tol", self.rel_tol),
            ("h_init", self.h_init),
            ("safety", self.safety),
            ("exponent", self.exponent),
            ("h_min", self.h_min),
        ] {
            if !v.is_finite() {
                return Err(Error::NonFinite(name));
            }
            if v < 0.0 {
                return bad(name, "must be ≥ 0");
            }
        }
        if self.abs_tol + self.rel_tol <= 0.0 {
            return bad("abs_tol", "abs_tol + rel_tol must be > 0");
        }
        if self.h_init <= 0.0 {
            return bad("h_init", "must be > 0");
        }
        if !(self.safety > 0.0 && self.safety <= 1.0) {
            return bad("safety", "must be in (0, 1]");
        }
        if self.exponent <= 0.0 {
            return bad("exponent", "must be > 0");
        }
        if self.max_steps == 0 {
            return bad("max_steps", "must be ≥ 1");
        }
        Ok(())
    }
}

/// Per-lane outcome of an adaptive run.
#[derive(Clone, Copy, Debug)]
pub struct AdaptiveStats<L: Lane> {
    /// Score evaluations (2 per attempted step).
    pub nfe: L,
    /// Attempted steps (accepted and rejected).
    pub steps: L,
    /// Accepted steps.
    pub accepted: L,
    /// How each lane ended.
    pub status: LaneStatus<L>,
}

impl<L: Lane> AdaptiveStats<L> {
    /// NFE of lane `i`.
    pub fn nfe_lane(&self, i: usize) -> u32 {
        let v = self.nfe.extract(i).to_f64();
        if (0.0..4.0e9).contains(&v) { v as u32 } else { 0 }
    }
    /// The outcome of lane `i`: its NFE, or its error.
    pub fn lane_result(&self, i: usize) -> Result<u32, Error> {
        self.status.lane(i).map(|()| self.nfe_lane(i))
    }
}

/// Adaptive EM / improved-Euler reverse-SDE sampler (module docs).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdaptiveSde<S> {
    sde: S,
    eps: f64,
    opts: AdaptiveOptions,
}

impl<S: Sde> AdaptiveSde<S> {
    /// From T down to `eps` ∈ [0, T) with validated `opts`.
    pub fn new(sde: S, eps: f32, opts: AdaptiveOptions) -> Result<Self, Error> {
        crate::error::finite("eps", eps)?;
        if !(eps >= 0.0 && eps < sde.t_max()) {
            return Err(Error::InvalidParameter { name: "eps", reason: "must lie in [0, T)" });
        }
        opts.validate()?;
        Ok(Self { sde, eps: eps as f64, opts })
    }
    /// The SDE.
    pub fn sde(&self) -> &S {
        &self.sde
    }
    /// The options.
    pub fn options(&self) -> &AdaptiveOptions {
        &self.opts
    }

    /// Run every lane from the prior to ε (or to its error); `x` receives the samples (a failed
    /// lane keeps its last accepted state).
    pub fn run_with_stats<L, G, M, const D: usize>(
        &self,
        model: &M,
        x: &mut [L; D],
        rng: &mut G,
    ) -> AdaptiveStats<L>
    where
        L: Lane,
        G: LaneSource<L>,
        M: ScoreModel<D>,
    {
        let c = |v: f64| <L as Lane>::from_f64(v);
        let o = &self.opts;
        *x = prior_draw(&self.sde, rng);
        let t_max = self.sde.t_max() as f64;
        let eps = c(self.eps);
        let mut t = c(t_max);
        let mut h = c(o.h_init.min(t_max - self.eps));
        let mut x_prev = *x;
        let mut z = [L::default(); D];
        let zero = L::default();
        let no = Lane::lt(c(1.0), zero);
        let mut done = no;
        let mut rejected_last = no;
        let mut last_nonfinite = no;
        let mut status = LaneStatus::<L>::ok();
        let (mut nfe, mut steps, mut accepted) = (zero, zero, zero);
        let eps_rel = c(16.0 * crate::ode::lane_epsilon::<L>());
        let (abs_tol, rel_tol, h_min) = (c(o.abs_tol), c(o.rel_tol), c(o.h_min));
        let inv_d = c(1.0 / D.max(1) as f64);
        for _ in 0..=o.max_steps {
            if done.all() {
                break;
            }
            let rem = t - eps;
            let last = Lane::ge(h, rem);
            let floor = Lane::max(h_min, eps_rel * Lane::abs(t));
            let under = !done & Lane::lt(h, floor) & !last;
            status.non_finite = status.non_finite | (under & last_nonfinite);
            status.underflow = status.underflow | (under & !last_nonfinite);
            done = done | under;
            let over = !done & Lane::ge(steps, c(o.max_steps as f64));
            status.max_steps = status.max_steps | over;
            done = done | over;
            if done.all() {
                break;
            }
            let active = !done;
            let hh = <L as Lane>::select(active, <L as Lane>::select(last, rem, h), zero);
            let fresh: [L; D] = rng.normal_array();
            let keep = if o.reuse_noise_on_rejection { rejected_last } else { no };
            for k in 0..D {
                z[k] = <L as Lane>::select(keep, z[k], fresh[k]);
            }
            let t1 = t - hh;
            let sh = Lane::sqrt(hh);
            let a0 = reverse_drift(&self.sde, model, x, t);
            let (g0, g1) = (self.sde.diffusion(t), self.sde.diffusion(t1));
            let x1: [L; D] = core::array::from_fn(|k| x[k] + hh * a0[k] + sh * g0 * z[k]);
            let a1 = reverse_drift(&self.sde, model, &x1, t1);
            let half = c(0.5);
            let x2: [L; D] = core::array::from_fn(|k| {
                x[k] + half * hh * (a0[k] + a1[k]) + half * sh * (g0 + g1) * z[k]
            });
            let one_active = <L as Lane>::select(active, c(1.0), zero);
            nfe += c(2.0) * one_active;
            steps += one_active;
            let mut q = zero;
            for k in 0..D {
                let scale = Lane::max(Lane::abs(x1[k]), Lane::abs(x_prev[k]));
                let delta = Lane::max(abs_tol, rel_tol * scale);
                let e = (x1[k] - x2[k]) / delta;
                q += e * e;
            }
            let err = Lane::sqrt(q * inv_d);
            // A NaN error compares false: rejected.
            let ok = Lane::le(err, c(1.0));
            let accept = active & ok;
            accepted += <L as Lane>::select(accept, c(1.0), zero);
            t = <L as Lane>::select(accept, <L as Lane>::select(last, eps, t1), t);
            for k in 0..D {
                x[k] = <L as Lane>::select(accept, x2[k], x[k]);
                x_prev[k] = <L as Lane>::select(accept, x1[k], x_prev[k]);
            }
            done = done | (accept & last);
            let finite = Real::is_finite(err);
            // θ E^{−r}; E = 0 gives the remaining span, a NaN error shrinks by 5.
            let fac = c(o.safety) * Real::exp(-c(o.exponent) * Real::ln(Lane::max(err, c(1e-30))));
            let fac = <L as Lane>::select(finite, fac, c(0.2));
            let h_new = Lane::min(hh * fac, t - eps);
            h = <L as Lane>::select(active, h_new, h);
            rejected_last = (active & !accept) | (!active & rejected_last);
            last_nonfinite = (active & !finite) | (!active & last_nonfinite);
        }
        AdaptiveStats { nfe, steps, accepted, status }
    }

    /// Sample `first_index + i` into `xs[i]` and its NFE or error into `status[i]`, with
    /// `W`-wide lanes on full chunks and `N` scalars on the tail. Errors only for mismatched
    /// lengths.
    pub fn run_batch_with_status<W, N, M, const D: usize>(
        &self,
        model: &M,
        seed: u64,
        first_index: u64,
        xs: &mut [[N; D]],
        status: &mut [Result<u32, Error>],
    ) -> Result<(), Error>
    where
        W: Lane<Scalar = N>,
        N: Lane<Scalar = N> + Scalar,
        M: ScoreModel<D>,
    {
        if xs.len() != status.len() {
            return Err(Error::InvalidParameter { name: "status", reason: "must match xs" });
        }
        let mut index = first_index;
        for (chunk, st) in xs.chunks_mut(W::LANES).zip(status.chunks_mut(W::LANES)) {
            if chunk.len() == W::LANES {
                let mut x = [W::default(); D];
                let mut rng = Streams::<W>::new(seed, index);
                let stats = self.run_with_stats(model, &mut x, &mut rng);
                for (j, (out, s)) in chunk.iter_mut().zip(st.iter_mut()).enumerate() {
                    for (o, xi) in out.iter_mut().zip(x.iter()) {
                        *o = xi.extract(j);
                    }
                    *s = stats.lane_result(j);
                }
            } else {
                for (j, (out, s)) in chunk.iter_mut().zip(st.iter_mut()).enumerate() {
                    let mut rng = Streams::<N>::new(seed, index.wrapping_add(j as u64));
                    *s = self.run_with_stats(model, out, &mut rng).lane_result(0);
                }
            }
            index = index.wrapping_add(W::LANES as u64);
        }
        Ok(())
    }
}

impl<const D: usize, S: Sde, M: ScoreModel<D>> LaneSampler<D, M> for AdaptiveSde<S> {
    /// Ignores the initial `x`. Draws D normals for the prior and D per loop pass. A lane that
    /// fails (see [`AdaptiveSde::run_with_stats`] for the error) is set to NaN.
    fn run<L: Lane, G: LaneSource<L>>(&self, model: &M, x: &mut [L; D], rng: &mut G) -> L {
        let stats = self.run_with_stats(model, x, rng);
        let failed = stats.status.failed();
        if failed.any() {
            let nan = <L as Lane>::from_f64(f64::NAN);
            for v in x.iter_mut() {
                *v = <L as Lane>::select(failed, nan, *v);
            }
        }
        L::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sde::Vp;

    #[test]
    fn rejects_bad_parameters() {
        let o = AdaptiveOptions::default();
        assert!(AdaptiveSde::new(Vp::default(), 1e-3, o).is_ok());
        assert!(AdaptiveSde::new(Vp::default(), 1.0, o).is_err());
        for bad in [
            AdaptiveOptions { abs_tol: 0.0, rel_tol: 0.0, ..o },
            AdaptiveOptions { h_init: 0.0, ..o },
            AdaptiveOptions { safety: 1.5, ..o },
            AdaptiveOptions { exponent: f64::NAN, ..o },
            AdaptiveOptions { max_steps: 0, ..o },
        ] {
            assert!(AdaptiveSde::new(Vp::default(), 1e-3, bad).is_err());
        }
    }

    /// On a N(0, 1) target under VP the run ends at ε in every lane with a finite sample.
    #[test]
    fn reaches_the_end_time() {
        let sde = Vp::default();
        let m = crate::score::GaussianMixture::new([1.0], [[0.0]], [[[1.0]]]).unwrap().under(sde);
        let s = AdaptiveSde::new(sde, 1e-3, AdaptiveOptions::default()).unwrap();
        let mut x = [wide::f64x4::splat(0.0)];
        let stats = s.run_with_stats(&m, &mut x, &mut Streams::<wide::f64x4>::new(1, 0));
        for j in 0..4 {
            let n = stats.lane_result(j).unwrap();
            assert!(n >= 4 && n % 2 == 0, "{n}");
            assert!(x[0].to_array()[j].is_finite());
        }
    }
}
