//! How the divergence ∇·F of the flow field is computed along a likelihood solve (MATH.md §6).
//!
//! - [`ExactDivergence`]: forward-mode duals with D tangents, one pass of the field per
//!   evaluation (cost ≈ D + 1 field evaluations, exact to rounding). Works for any
//!   [`VectorField`] written over [`Real`].
//! - [`ClosedFormDivergence`]: the field's own closed-form divergence (e.g. the Gaussian
//!   mixture's ∇·s, MATH.md §2), for fields implementing [`ExactDivergenceField`].
//! - [`Hutchinson`]: the unbiased estimate (1/M)·Σₘ vₘᵀ(∇F)vₘ with M probes vₘ (Rademacher or
//!   Gaussian) drawn once per point from `Streams::new(seed, index)` and held fixed for the whole
//!   solve (FFJORD, Grathwohl et al. 2019). One pass with M dual tangents per evaluation.
//!   Because the x-trajectory does not depend on the probes, the resulting log-likelihood
//!   estimate is unbiased and its variance is exactly 1/M times the one-probe variance.

use crate::dual::{Dual, divergence};
use crate::lane::Lane;
use crate::ode::VectorField;
use crate::real::Real;
use crate::rng::{LaneSource, Streams};

/// A field that also knows its exact divergence in closed form.
pub trait ExactDivergenceField<const D: usize>: VectorField<D> {
    /// ∇ₓ·F(t, x), exact.
    fn divergence<R: Real>(&self, t: R, x: &[R; D]) -> R;
    /// F(t, x) and ∇ₓ·F(t, x) together, the same bits as [`VectorField::eval`] and
    /// [`ExactDivergenceField::divergence`] (fields that share work between them override it).
    #[inline]
    fn eval_and_divergence<R: Real>(&self, t: R, x: &[R; D]) -> ([R; D], R) {
        (self.eval(t, x), self.divergence(t, x))
    }
}

/// A way to evaluate F(t, x) together with (an estimate of) ∇·F(t, x).
pub trait DivergenceMethod<const D: usize, V: VectorField<D>> {
    /// Per-point data fixed for a whole solve (the Hutchinson probes), for lane type `L`.
    type Probes<L: Lane>: Copy;
    /// The probes of points `first_index ..` (lane j ↔ point `first_index + j`).
    fn probes<L: Lane>(&self, first_index: u64) -> Self::Probes<L>;
    /// F(t, x) and ∇·F(t, x) (or its estimate), lane-wise.
    fn eval<L: Lane>(&self, field: &V, probes: &Self::Probes<L>, t: L, x: &[L; D]) -> ([L; D], L);
}

/// Exact divergence by forward-mode duals (D tangents, one pass).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExactDivergence;

impl<const D: usize, V: VectorField<D>> DivergenceMethod<D, V> for ExactDivergence {
    type Probes<L: Lane> = ();
    #[inline]
    fn probes<L: Lane>(&self, _first_index: u64) {}
    #[inline]
    fn eval<L: Lane>(&self, field: &V, _probes: &(), t: L, x: &[L; D]) -> ([L; D], L) {
        divergence(|xd: &[Dual<L, D>; D]| field.eval(Dual::constant(t), xd), x)
    }
}

/// The field's closed-form divergence ([`ExactDivergenceField`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClosedFormDivergence;

impl<const D: usize, V: ExactDivergenceField<D>> DivergenceMethod<D, V> for ClosedFormDivergence {
    type Probes<L: Lane> = ();
    #[inline]
    fn probes<L: Lane>(&self, _first_index: u64) {}
    #[inline(always)]
    fn eval<L: Lane>(&self, field: &V, _probes: &(), t: L, x: &[L; D]) -> ([L; D], L) {
        field.eval_and_divergence(t, x)
    }
}

/// The distribution of Hutchinson probes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Probe {
    /// ±1 with probability ½ each: the smaller variance (2·Σ_{i≠j} Jᵢⱼ² / M for symmetric J).
    Rademacher,
    /// Standard normal: variance 2‖J‖_F² / M for symmetric J.
    Gaussian,
}

/// Hutchinson's trace estimator with `M ≥ 1` probes per point, fixed for the whole solve.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hutchinson<const M: usize> {
    /// Probe distribution.
    pub probe: Probe,
    /// Seed of the per-point probe streams (`Streams::new(seed, index)`).
    pub seed: u64,
}

impl<const M: usize> Hutchinson<M> {
    /// `M` probes of the given kind from `seed`'s streams. (`M = 0` is rejected at compile time.)
    pub const fn new(probe: Probe, seed: u64) -> Self {
        const { assert!(M >= 1, "Hutchinson needs at least one probe") };
        Self { probe, seed }
    }
}

impl<const D: usize, const M: usize, V: VectorField<D>> DivergenceMethod<D, V> for Hutchinson<M> {
    type Probes<L: Lane> = [[L; D]; M];
    fn probes<L: Lane>(&self, first_index: u64) -> [[L; D]; M] {
        let mut s = Streams::<L>::new(self.seed, first_index);
        let probe = self.probe;
        core::array::from_fn(|_| {
            crate::lane::array_fn(|_| match probe {
                Probe::Rademacher => s.rademacher(),
                Probe::Gaussian => s.normal(),
            })
        })
    }
    #[inline]
    fn eval<L: Lane>(&self, field: &V, v: &[[L; D]; M], t: L, x: &[L; D]) -> ([L; D], L) {
        // One pass with M tangents: tangent m of output i is (J vₘ)ᵢ.
        let xd: [Dual<L, M>; D] = crate::lane::array_fn(|i| Dual::new(x[i], v.map(|vm| vm[i])));
        let y = field.eval(Dual::constant(t), &xd);
        let mut acc = L::from_f64(0.0);
        for (i, yi) in y.iter().enumerate() {
            for (e, vm) in yi.eps.iter().zip(v) {
                acc += vm[i] * *e;
            }
        }
        (y.map(|yi| yi.re), acc / <L as Lane>::from_f64(M as f64))
    }
}
