//! ODE solvers over lanes: fixed-step Euler, Heun and RK4 ([`fixed`]) and adaptive
//! Dormand–Prince 5(4) ([`dopri5()`]), bounded and never hanging (MATH.md §6).
//!
//! ## Lanes are independent problems
//! A solve runs on a state of lane type `R` (e.g. `[f32x8; N]`): every lane is its own initial
//! value problem with its own start time, end time, current time, step size, error norm, step
//! count and function-evaluation count (NFE). Accept/reject decisions are made per lane with
//! [`Real::select`], and the loop ends when every lane is done. Since every operation is
//! lane-wise and exact IEEE arithmetic, a lane's result is bit-for-bit the same whatever the
//! other lanes hold and whatever the lane width: a batch of points solved as `f32x8` equals the
//! same points solved one at a time as `f32`.
//!
//! ## Errors are values, per lane
//! Each lane ends in one of: done (reached its end time), [`Error::StepSizeUnderflow`],
//! [`Error::MaxStepsExceeded`] or [`Error::NonFiniteState`] (see [`LaneStatus`]). A lane whose
//! *input* (initial state or times) is NaN or infinite is not an error: it is done at once and
//! its output stays non-finite. The loop runs at most `max_steps + 1` iterations, so the NFE of
//! a solve is bounded by `6·max_steps + 2` per lane (Dormand–Prince).
//!
//! ## States
//! The solvers are generic over [`State`]: a fixed-size array `[R; N]`, or [`Augmented`]
//! (`[R; D]` plus one scalar), the state of the likelihood ODE [x, ℓ] — stable Rust cannot name
//! `[R; D + 1]` in generic code, so the augmented state is its own type. Everything is on the
//! stack; no allocation.

pub mod dopri5;
pub mod fixed;

pub use dopri5::{Dopri5Options, dopri5, dopri5_inlined};
pub use fixed::{FixedMethod, fixed_step};

use crate::error::Error;
use crate::lane::{Lane, Mask, Scalar};
use crate::real::Real;

/// A time-dependent vector field dy/dt = F(t, y) on ℝᴺ, written over any [`Real`] (so that
/// forward-mode duals can differentiate it, e.g. for the exact divergence of a continuous
/// normalizing flow).
pub trait VectorField<const N: usize> {
    /// F(t, y), lane-wise (`t` may differ per lane).
    fn eval<R: Real>(&self, t: R, y: &[R; N]) -> [R; N];
}

/// A solver state: a fixed number of components of lane type `R`, addressed by index.
pub trait State<R: Real>: Copy {
    /// The number of components.
    const LEN: usize;
    /// Every component equal to `v`.
    fn splat(v: R) -> Self;
    /// Component `i` (`i < LEN`; out-of-range indices read 0 and never panic).
    fn get(&self, i: usize) -> R;
    /// Set component `i` (`i < LEN`; out-of-range indices are ignored).
    fn set(&mut self, i: usize, v: R);
}

impl<R: Real, const N: usize> State<R> for [R; N] {
    const LEN: usize = N;
    #[inline(always)]
    fn splat(v: R) -> Self {
        [v; N]
    }
    #[inline(always)]
    fn get(&self, i: usize) -> R {
        self.as_slice().get(i).copied().unwrap_or_default()
    }
    #[inline(always)]
    fn set(&mut self, i: usize, v: R) {
        if let Some(c) = self.as_mut_slice().get_mut(i) {
            *c = v;
        }
    }
}

/// A state `[R; D]` augmented by one scalar `l`: the likelihood ODE's [x, ℓ] (component `D`
/// is `l`).
#[derive(Clone, Copy, Debug)]
pub struct Augmented<R, const D: usize> {
    /// The point.
    pub x: [R; D],
    /// The accumulated scalar (the integrated divergence).
    pub l: R,
}

impl<R: Real, const D: usize> State<R> for Augmented<R, D> {
    const LEN: usize = D + 1;
    #[inline(always)]
    fn splat(v: R) -> Self {
        Self { x: [v; D], l: v }
    }
    #[inline(always)]
    fn get(&self, i: usize) -> R {
        match self.x.as_slice().get(i) {
            Some(v) => *v,
            None => self.l,
        }
    }
    #[inline(always)]
    fn set(&mut self, i: usize, v: R) {
        match self.x.as_mut_slice().get_mut(i) {
            Some(c) => *c = v,
            None => self.l = v,
        }
    }
}

/// `y + h · Σₖ cₖ·kₖ`, component-wise (the Runge–Kutta stage and update combination).
#[inline(always)]
pub(crate) fn lincomb<R: Real, S: State<R>>(y: &S, h: R, terms: &[(f64, &S)]) -> S {
    let mut out = *y;
    for i in 0..S::LEN {
        let mut acc = R::zero();
        for (c, k) in terms {
            if *c != 0.0 {
                acc += R::from_f64(*c) * k.get(i);
            }
        }
        out.set(i, y.get(i) + h * acc);
    }
    out
}

/// Per lane: `a` where `mask` is set, else `b`.
#[inline(always)]
pub(crate) fn select_state<R: Real, S: State<R>>(mask: <R::Lane as Lane>::Mask, a: &S, b: &S) -> S {
    let mut out = *b;
    for i in 0..S::LEN {
        out.set(i, R::select(mask, a.get(i), b.get(i)));
    }
    out
}

/// Per lane: every component finite.
#[inline(always)]
pub(crate) fn finite_mask<R: Real, S: State<R>>(y: &S) -> <R::Lane as Lane>::Mask {
    let mut m = Real::is_finite(R::zero());
    for i in 0..S::LEN {
        m = m & Real::is_finite(y.get(i));
    }
    m
}

/// `1` where `mask` is set, else `0`.
#[inline(always)]
pub(crate) fn count<L: Lane>(mask: L::Mask) -> L {
    L::select(mask, L::from_f64(1.0), L::from_f64(0.0))
}

/// Lane `i` of a mask.
#[inline(always)]
pub(crate) fn mask_lane<L: Lane>(mask: L::Mask, i: usize) -> bool {
    count::<L>(mask).extract(i).to_f64() != 0.0
}

/// How each lane of a solve ended. A lane with no flag set finished normally (or had
/// non-finite input, which is passed through as is).
#[derive(Clone, Copy, Debug)]
pub struct LaneStatus<L: Lane> {
    /// The adaptive step fell below the minimum step size.
    pub underflow: L::Mask,
    /// The lane used its maximum number of steps.
    pub max_steps: L::Mask,
    /// The state became NaN or infinite from finite input.
    pub non_finite: L::Mask,
}

impl<L: Lane> LaneStatus<L> {
    /// No lane failed.
    #[inline(always)]
    pub fn ok() -> Self {
        let f = Lane::lt(L::from_f64(1.0), L::from_f64(0.0));
        Self { underflow: f, max_steps: f, non_finite: f }
    }
    /// Lanes that failed in any way.
    #[inline(always)]
    pub fn failed(&self) -> L::Mask {
        self.underflow | self.max_steps | self.non_finite
    }
    /// The outcome of lane `i`.
    #[inline(always)]
    pub fn lane(&self, i: usize) -> Result<(), Error> {
        if mask_lane::<L>(self.non_finite, i) {
            Err(Error::NonFiniteState)
        } else if mask_lane::<L>(self.underflow, i) {
            Err(Error::StepSizeUnderflow)
        } else if mask_lane::<L>(self.max_steps, i) {
            Err(Error::MaxStepsExceeded)
        } else {
            Ok(())
        }
    }
    /// The first failing lane's error, if any lane failed.
    pub fn first_error(&self) -> Result<(), Error> {
        if self.failed().any() {
            for i in 0..L::LANES {
                self.lane(i)?;
            }
        }
        Ok(())
    }
}

/// The result of a solve: per lane, the time reached, the state there, the NFE and the status.
#[derive(Clone, Copy, Debug)]
pub struct Solution<R: Real, S> {
    /// The time each lane reached (its end time unless it failed).
    pub t: R,
    /// The state at `t`.
    pub y: S,
    /// Function evaluations per lane (an integer held in the lane's float type).
    pub nfe: R::Lane,
    /// Attempted steps per lane (accepted and rejected).
    pub steps: R::Lane,
    /// How each lane ended.
    pub status: LaneStatus<R::Lane>,
}

impl<R: Real, S> Solution<R, S> {
    /// NFE of lane `i`.
    #[inline]
    pub fn nfe_lane(&self, i: usize) -> u32 {
        self.nfe.extract(i).to_f64() as u32
    }
    /// The outcome of lane `i`.
    #[inline]
    pub fn lane_result(&self, i: usize) -> Result<(), Error> {
        self.status.lane(i)
    }
}

/// The machine epsilon of a lane type, 2^−p (p = mantissa bits).
#[inline(always)]
pub(crate) fn lane_epsilon<L: Lane>() -> f64 {
    let p = <L::Scalar as Scalar>::MANTISSA_BITS as i32;
    libm::ldexp(1.0, -p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn augmented_state_indexing() {
        let mut a = Augmented { x: [1.0f64, 2.0, 3.0], l: 4.0 };
        assert_eq!(<Augmented<f64, 3> as State<f64>>::LEN, 4);
        assert_eq!((a.get(0), a.get(2), a.get(3)), (1.0, 3.0, 4.0));
        a.set(3, 7.0);
        a.set(1, -1.0);
        assert_eq!((a.x, a.l), ([1.0, -1.0, 3.0], 7.0));
        let y = lincomb(&a, 0.5, &[(2.0, &a)]);
        assert_eq!((y.x, y.l), ([2.0, -2.0, 6.0], 14.0));
    }
}
