//! Adaptive reverse-SDE sampling with per-lane step sizes (Jolicoeur-Martineau et al. 2021,
//! "Gotta Go Fast When Generating Data with Score-Based Models", Algorithm 1), with the
//! Brownian path kept exact across rejections by rejection sampling with memory (Rackauckas &
//! Nie 2017, "Adaptive methods for stochastic differential equations via natural embeddings and
//! rejection sampling with memory", RSwM3); MATH.md §5.2.
//!
//! **Steps.** An attempt from t to t₁ = t − h (reverse drift a(x, t) = g² s − c x, Brownian
//! increment ΔW over the attempt, one entry per dimension) computes the Euler–Maruyama and the
//! improved-Euler (stochastic Heun) proposals with the same ΔW:
//!   x′ = x + h a(x, t) + g(t) ΔW,
//!   x″ = x + ½h(a(x, t) + a(x′, t₁)) + ½(g(t) + g(t₁)) ΔW,
//! the mixed tolerance δ = max(ε_abs, ε_rel·max(|x′|, |x′_prev|)) (component-wise, x′_prev the EM
//! proposal of the last accepted step, initially the prior draw) and the scaled error
//! E = ‖(x′ − x″)/δ‖₂/√D. The attempt is accepted when E ≤ 1 (then x ← x″, t ← t₁: the
//! second-order result is kept), and in either case the next proposal is
//! h ← min(t − ε, θ h E^{−r}) (θ E^{−r} < θ on a rejection; a non-finite E shrinks h by 5).
//! Every step is taken with its noise, the last one (to t = ε) too: the run samples p_ε, with no
//! extra denoising step.
//!
//! **Brownian path (RSwM).** A rejection depends on ΔW, so a retry must not draw its
//! increment afresh (the rejections would select small noise), nor rescale the rejected one (the
//! retry would then see the rejected increment's noise, conditioned on its rejection). Each lane
//! instead keeps the values of its Brownian path that it has revealed beyond t: a stack of
//! intervals (t_end, ΔW) covering [t_end_far, t] end to end, the nearest on top. A proposal h
//! with target t − h is served from the stack:
//! - empty stack: ΔW = √h ξ, fresh, pushed;
//! - top interval longer than h: it is split at t − h by the Brownian bridge,
//!   ΔW′ = q ΔW + √(q(1 − q)L) ξ for the near part (q = h/L of its length L), ΔW − ΔW′ for the
//!   far part, both kept;
//! - otherwise the attempt takes the whole intervals from the top that end within the proposal
//!   (it snaps down to the farthest such end), and when every stored interval fits and the
//!   proposal reaches beyond them, a fresh increment for the rest is appended at the far end.
//!
//! An accepted attempt pops the intervals it used; a rejected one pops nothing, so every
//! revealed point of the path stays until the solver has passed it, and every new value is
//! drawn from its exact conditional law given all the revealed ones. The path the solver sees is
//! therefore a Brownian path, whatever the accept/reject decisions: the samples carry only the
//! discretisation error, which vanishes with the tolerance. This is RSwM3 (the attempt's
//! pieces stay on the single stack until accepted, which plays the role of RSwM3's second
//! stack), chosen over RSwM1, which ignores the step-size controller whenever the stack is not
//! empty (it always takes the whole top interval, however much longer or shorter than the
//! proposal), and over RSwM2, whose rejection of a step built from several stored intervals
//! bridges over their inner points and so forgets revealed values. A split never creates a
//! sliver: an interval at most 2⁻¹⁰·h longer than the proposal is taken whole, and a rejection
//! shrinks h by at least the factor 1 − 2⁻⁸ (θ E^{−r} < θ does so already for θ ≤ 1 − 2⁻⁸),
//! so the rejected attempt is never repeated.
//!
//! The stack holds [`BROWNIAN_MEMORY`] intervals per lane (allocation-free: D + 1 lanes per
//! interval). Each stored point beyond t is the end of a rejected attempt not yet passed, so
//! the depth stays small ([`AdaptiveStats::memory`]: at most 10 in 200 000 runs on the linear
//! reverse VP SDE of `tests/sde_solvers.rs` at ε_rel from 0.2 to 0.005); an
//! append that finds the stack full is skipped (the attempt snaps to the stored intervals,
//! exactly), and a split that finds it full ends the lane with
//! [`Error::BrownianMemoryFull`] rather than forget a revealed value.
//!
//! Every lane has its own t, h, x′_prev, stack and counters, and draws D normals per loop pass
//! (for a fresh increment, an append or a bridge; unused otherwise), so its stream never
//! depends on the other lanes. Bounded as [`crate::ode::dopri5()`]: a lane fails with
//! [`Error::StepSizeUnderflow`] when its proposal falls below max(h_min, 16·ε_lane·|t|) (or
//! [`Error::NonFiniteState`] when the last attempt was non-finite), and with
//! [`Error::MaxStepsExceeded`] after `max_steps` attempts; the loop makes at most
//! `max_steps + 1` passes, 2 score evaluations per attempt.

use core::ops::Range;

use crate::batch::{ChunkKernel, for_each_chunk, part_mut, scatter};
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

/// The number of Brownian intervals (t_end, ΔW) a lane of [`AdaptiveSde`] can store beyond its
/// current time (module docs).
pub const BROWNIAN_MEMORY: usize = 32;

/// Default absolute tolerance ε_abs of [`AdaptiveOptions`] (Jolicoeur-Martineau et al. 2021).
pub const DEFAULT_ABS_TOL: f64 = 0.0078;
/// Default relative tolerance ε_rel of [`AdaptiveOptions`] (Jolicoeur-Martineau et al. 2021).
pub const DEFAULT_REL_TOL: f64 = 0.01;

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
}

impl Default for AdaptiveOptions {
    fn default() -> Self {
        Self {
            abs_tol: DEFAULT_ABS_TOL,
            rel_tol: DEFAULT_REL_TOL,
            h_init: 0.01,
            safety: 0.9,
            exponent: 0.9,
            h_min: 0.0,
            max_steps: 10_000,
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
    /// The most Brownian intervals the lane stored at once (≤ [`BROWNIAN_MEMORY`]).
    pub memory: L,
    /// How each lane ended (see also `memory_full`).
    pub status: LaneStatus<L>,
    /// Lanes that ended because a bridge split found the Brownian memory full.
    pub memory_full: L::Mask,
}

impl<L: Lane> AdaptiveStats<L> {
    /// NFE of lane `i`.
    pub fn nfe_lane(&self, i: usize) -> u32 {
        let v = self.nfe.extract(i).to_f64();
        if (0.0..4.0e9).contains(&v) { v as u32 } else { 0 }
    }
    /// Lanes that failed in any way.
    pub fn failed(&self) -> L::Mask {
        self.status.failed() | self.memory_full
    }
    /// The outcome of lane `i`: its NFE, or its error.
    pub fn lane_result(&self, i: usize) -> Result<u32, Error> {
        if crate::ode::mask_lane::<L>(self.memory_full, i) {
            return Err(Error::BrownianMemoryFull);
        }
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

/// Per-lane stacks of Brownian intervals: slot j < n holds the interval that ends at `end[j]`
/// and starts at `end[j + 1]` (at the lane's t for the top slot n − 1), with its increments.
struct Memory<L: Lane, const D: usize> {
    end: [L; BROWNIAN_MEMORY],
    dw: [[L; D]; BROWNIAN_MEMORY],
    /// Per-lane depth n (a small integer).
    n: L,
    /// Slots any lane may use: slots ≥ `used` are empty in every lane.
    used: usize,
}

impl<L: Lane, const D: usize> Memory<L, D> {
    /// Slot n − 1 of each lane (zero where n = 0).
    fn top(&self) -> (L, [L; D]) {
        let mut e = L::default();
        let mut w = [L::default(); D];
        let top = self.n - <L as Lane>::from_f64(1.0);
        for j in 0..self.used {
            let m = Lane::eq(top, <L as Lane>::from_f64(j as f64));
            e = <L as Lane>::select(m, self.end[j], e);
            for (wk, sk) in w.iter_mut().zip(self.dw[j].iter()) {
                *wk = <L as Lane>::select(m, *sk, *wk);
            }
        }
        (e, w)
    }
    /// Where `m` holds, write slot `at` (a per-lane index) and make sure it is within `used`.
    fn write(&mut self, m: L::Mask, at: L, e: L, w: &[L; D]) {
        if m.any() && self.used < BROWNIAN_MEMORY {
            self.used += 1;
        }
        for j in 0..self.used {
            let mj = m & Lane::eq(at, <L as Lane>::from_f64(j as f64));
            self.end[j] = <L as Lane>::select(mj, e, self.end[j]);
            for (sk, wk) in self.dw[j].iter_mut().zip(w.iter()) {
                *sk = <L as Lane>::select(mj, *wk, *sk);
            }
        }
    }
    /// Where `m` holds, move every slot up by one (slot 0 is then free).
    fn shift_up(&mut self, m: L::Mask) {
        if m.any() && self.used < BROWNIAN_MEMORY {
            self.used += 1;
        }
        for j in (1..self.used).rev() {
            self.end[j] = <L as Lane>::select(m, self.end[j - 1], self.end[j]);
            for k in 0..D {
                self.dw[j][k] = <L as Lane>::select(m, self.dw[j - 1][k], self.dw[j][k]);
            }
        }
    }
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
        let sel = |m: L::Mask, a: L, b: L| <L as Lane>::select(m, a, b);
        let o = &self.opts;
        *x = prior_draw(&self.sde, rng);
        let t_max = self.sde.t_max() as f64;
        let eps = c(self.eps);
        let mut t = c(t_max);
        let mut h = c(o.h_init.min(t_max - self.eps));
        let mut x_prev = *x;
        let zero = L::default();
        let one = c(1.0);
        let no = Lane::lt(one, zero);
        let mut done = no;
        let mut last_nonfinite = no;
        let mut memory_full = no;
        let mut status = LaneStatus::<L>::ok();
        let (mut nfe, mut steps, mut accepted, mut deepest) = (zero, zero, zero, zero);
        let mut mem = Memory::<L, D> {
            end: [zero; BROWNIAN_MEMORY],
            dw: [[zero; D]; BROWNIAN_MEMORY],
            n: zero,
            used: 0,
        };
        let cap = c(BROWNIAN_MEMORY as f64);
        let eps_rel = c(16.0 * crate::ode::lane_epsilon::<L>());
        let (abs_tol, rel_tol, h_min) = (c(o.abs_tol), c(o.rel_tol), c(o.h_min));
        let inv_d = c(1.0 / D.max(1) as f64);
        let slack_frac = c(1.0 / 1024.0);
        let min_shrink = c(1.0 - 1.0 / 256.0);
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
            let xi: [L; D] = rng.normal_array();
            // The proposal's target time and the slack within which a stored end counts as
            // reaching it.
            let target = sel(last, eps, t - h);
            let slack = slack_frac * h;
            let empty = Lane::eq(mem.n, zero);
            let (e_top, w_top) = mem.top();
            let split = !done & !empty & Lane::lt(e_top, target - slack);
            let full = split & Lane::ge(mem.n, cap);
            memory_full = memory_full | full;
            done = done | full;
            let active = !done;
            let split = split & active;
            // Empty: a fresh increment over the proposal in slot 0.
            let fresh = active & empty;
            let sh = Lane::sqrt(Lane::max(t - target, zero));
            let w: [L; D] = crate::lane::array_fn(|k| sh * xi[k]);
            mem.write(fresh, zero, target, &w);
            // Split the top interval [e_top, t] at the target by the Brownian bridge.
            let len = t - e_top;
            let near_len = t - target;
            let far_len = target - e_top;
            let q = near_len / sel(split, len, one);
            let sd = Lane::sqrt(Lane::max(near_len * far_len / sel(split, len, one), zero));
            let near: [L; D] = crate::lane::array_fn(|k| q * w_top[k] + sd * xi[k]);
            let far: [L; D] = crate::lane::array_fn(|k| w_top[k] - near[k]);
            mem.write(split, mem.n - one, e_top, &far);
            mem.write(split, mem.n, target, &near);
            // Every stored interval fits and the proposal reaches beyond the farthest: append a
            // fresh increment for the rest (skipped, exactly, when the memory is full).
            let e_far = mem.end[0];
            let append =
                active & !empty & !split & Lane::gt(e_far, target + slack) & Lane::lt(mem.n, cap);
            mem.shift_up(append);
            let sa = Lane::sqrt(Lane::max(e_far - target, zero));
            let w: [L; D] = crate::lane::array_fn(|k| sa * xi[k]);
            mem.write(append, zero, target, &w);
            mem.n += sel(fresh | split | append, one, zero);
            deepest = Lane::max(deepest, mem.n);
            // The attempt: the intervals from the top that end within the proposal.
            let mut dw = [zero; D];
            let mut t1 = t;
            let mut taken = zero;
            let reach = target - slack;
            for j in (0..mem.used).rev() {
                let inc = active & Lane::lt(c(j as f64), mem.n) & Lane::ge(mem.end[j], reach);
                for (dk, sk) in dw.iter_mut().zip(mem.dw[j].iter()) {
                    *dk = sel(inc, *dk + *sk, *dk);
                }
                t1 = sel(inc, mem.end[j], t1);
                taken += sel(inc, one, zero);
            }
            let hh = t - t1;
            let a0 = reverse_drift(&self.sde, model, x, t);
            let (g0, g1) = (self.sde.diffusion(t), self.sde.diffusion(t1));
            let x1: [L; D] = crate::lane::array_fn(|k| x[k] + hh * a0[k] + g0 * dw[k]);
            let a1 = reverse_drift(&self.sde, model, &x1, t1);
            let half = c(0.5);
            let x2: [L; D] = crate::lane::array_fn(|k| {
                x[k] + half * hh * (a0[k] + a1[k]) + half * (g0 + g1) * dw[k]
            });
            let one_active = sel(active, one, zero);
            nfe += c(2.0) * one_active;
            steps += one_active;
            let mut sq = zero;
            for k in 0..D {
                let scale = Lane::max(Lane::abs(x1[k]), Lane::abs(x_prev[k]));
                let delta = Lane::max(abs_tol, rel_tol * scale);
                let e = (x1[k] - x2[k]) / delta;
                sq += e * e;
            }
            let err = Lane::sqrt(sq * inv_d);
            // A NaN error compares false: rejected.
            let accept = active & Lane::le(err, one);
            accepted += sel(accept, one, zero);
            t = sel(accept, t1, t);
            mem.n -= sel(accept, taken, zero);
            for k in 0..D {
                x[k] = sel(accept, x2[k], x[k]);
                x_prev[k] = sel(accept, x1[k], x_prev[k]);
            }
            done = done | (accept & Lane::le(t1, eps));
            let finite = Real::is_finite(err);
            // θ E^{−r}; E = 0 gives the remaining span, a NaN error shrinks by 5, and a
            // rejection shrinks by at least 1 − 2⁻⁸.
            let fac = c(o.safety) * Real::exp(-c(o.exponent) * Real::ln(Lane::max(err, c(1e-30))));
            let fac = sel(finite, fac, c(0.2));
            let fac = sel(accept, fac, Lane::min(fac, min_shrink));
            let h_new = Lane::min(hh * fac, t - eps);
            h = sel(active, h_new, h);
            last_nonfinite = (active & !finite) | (!active & last_nonfinite);
        }
        AdaptiveStats { nfe, steps, accepted, memory: deepest, status, memory_full }
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
        let lens = [("xs", xs.len()), ("status", status.len())];
        let mut k = StatusKernel { sampler: self, model, seed, xs, status };
        for_each_chunk::<W, N, _>(first_index, &lens, &mut k)
    }
}

/// [`AdaptiveSde::run_batch_with_status`] on one chunk.
struct StatusKernel<'a, S, M, N, const D: usize> {
    sampler: &'a AdaptiveSde<S>,
    model: &'a M,
    seed: u64,
    xs: &'a mut [[N; D]],
    status: &'a mut [Result<u32, Error>],
}

impl<S: Sde, M: ScoreModel<D>, N: Scalar, const D: usize> ChunkKernel<N>
    for StatusKernel<'_, S, M, N, D>
{
    #[inline]
    fn chunk<L: Lane<Scalar = N>>(&mut self, index: u64, items: Range<usize>) -> Result<(), Error> {
        // The sampler draws its own start: the chunk's states are not read.
        let mut x = [L::default(); D];
        let stats = self.sampler.run_with_stats(
            self.model,
            &mut x,
            &mut Streams::<L>::new(self.seed, index),
        );
        scatter(&x, part_mut(self.xs, &items)?);
        for (j, s) in part_mut(self.status, &items)?.iter_mut().enumerate() {
            *s = stats.lane_result(j);
        }
        Ok(())
    }
}

impl<const D: usize, S: Sde, M: ScoreModel<D>> LaneSampler<D, M> for AdaptiveSde<S> {
    /// Ignores the initial `x`. Draws D normals for the prior and D per loop pass. A lane that
    /// fails (see [`AdaptiveSde::run_with_stats`] for the error) is set to NaN.
    fn run<L: Lane, G: LaneSource<L>>(&self, model: &M, x: &mut [L; D], rng: &mut G) {
        let stats = self.run_with_stats(model, x, rng);
        let failed = stats.failed();
        if failed.any() {
            let nan = <L as Lane>::from_f64(f64::NAN);
            for v in x.iter_mut() {
                *v = <L as Lane>::select(failed, nan, *v);
            }
        }
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

    /// Rejections happen at the defaults, and each one keeps its revealed Brownian values: a
    /// lane that rejected has stored at least two intervals at once, never more than the memory.
    #[test]
    fn rejections_are_remembered() {
        let sde = Vp::default();
        let m = crate::score::GaussianMixture::new([0.5, 0.5], [[-2.0], [2.0]], [[[0.1]], [[0.2]]])
            .unwrap()
            .under(sde);
        let s = AdaptiveSde::new(sde, 1e-3, AdaptiveOptions::default()).unwrap();
        let mut rejected = 0;
        for b in 0..16 {
            let mut x = [wide::f64x4::splat(0.0)];
            let st = s.run_with_stats(&m, &mut x, &mut Streams::<wide::f64x4>::new(2, 4 * b));
            for j in 0..4 {
                assert!(st.lane_result(j).is_ok());
                let (steps, acc) = (st.steps.to_array()[j], st.accepted.to_array()[j]);
                let mem = st.memory.to_array()[j];
                assert!(mem >= 1.0 && mem <= BROWNIAN_MEMORY as f64, "{mem}");
                if acc < steps {
                    rejected += 1;
                    assert!(mem >= 2.0, "{mem}");
                }
            }
        }
        assert!(rejected > 0);
    }
}
