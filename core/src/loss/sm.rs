//! Explicit, sliced and implicit score matching (MATH.md §3, §7).
//!
//! The sliced and implicit losses contain vᵀ(∂s/∂x)v. Its parameter gradient is
//! forward-over-reverse: the score runs on dual lanes `Dual<L, 1>` with input tangent v, and its
//! backward with the cotangent (re = v, tangent = c) gives, in the tangent part of θ̄,
//! ∇_θ[vᵀ(∂s/∂x)v] + J_θᵀ c; with c the cotangent of the loss's other term, one pass gives the
//! whole gradient (the backward is linear in its cotangent).

use crate::dual::Dual;
use crate::error::Error;
use crate::lane::Lane;
use crate::loss::{Loss, Scratch};
use crate::params::GradSink;
use crate::real::Real;
use crate::rng::LaneSource;
use crate::score::{ScoreModel, TrainableScore};

/// Explicit score matching against a known score s*: loss ‖s_θ(x, t) − s*(x, t)‖² at a fixed
/// time argument t (no random draws).
#[derive(Clone, Copy, Debug)]
pub struct ExplicitSm<'a, T> {
    target: &'a T,
    t: f32,
}

impl<'a, T> ExplicitSm<'a, T> {
    /// Match the score of `target` at time argument `t`.
    pub fn new(target: &'a T, t: f32) -> Self {
        Self { target, t }
    }
}

impl<const D: usize, T: ScoreModel<D>, M: TrainableScore<D>> Loss<D, M> for ExplicitSm<'_, T> {
    const NEEDS_DUAL: bool = false;
    const NEEDS_FLAT: bool = false;

    #[inline]
    fn loss_grad<L: Lane, G: LaneSource<L>, K: GradSink<L> + ?Sized>(
        &self,
        model: &M,
        x: &[L; D],
        _rng: &mut G,
        grad: &mut K,
        _scratch: &mut Scratch<'_, L>,
    ) -> L {
        let t = <L as Real>::from_f32(self.t);
        let (s, tape) = model.score_tape(x, t);
        let target = self.target.score(x, t);
        let mut loss = <L as Real>::zero();
        let sbar: [L; D] = crate::lane::array_fn(|i| {
            let r = s[i] - target[i];
            loss += r * r;
            <L as Real>::from_f64(2.0) * r
        });
        model.score_backward(&tape, &sbar, grad);
        loss
    }
}

/// The distribution of the sliced projections v.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Projection {
    /// Each coordinate ±1 (smallest variance for the trace estimate).
    Rademacher,
    /// Each coordinate N(0, 1).
    Gaussian,
}

/// Sliced score matching (Song et al. 2019): loss vᵀ(∂s/∂x)v + ½(vᵀs)², or in the
/// variance-reduced form vᵀ(∂s/∂x)v + ½‖s‖², one projection v per sample at a fixed time
/// argument t. Draws per sample: D projection coordinates.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Ssm {
    projection: Projection,
    variance_reduced: bool,
    t: f32,
}

impl Ssm {
    /// Sliced score matching with the given projections and form, at time argument `t`.
    pub fn new(projection: Projection, variance_reduced: bool, t: f32) -> Result<Self, Error> {
        if !t.is_finite() {
            return Err(Error::NonFinite("t"));
        }
        Ok(Self { projection, variance_reduced, t })
    }
}

/// Forward and backward of the score on dual lanes with input tangent `v` and cotangent
/// (re = v, tangent = `c(s)`), adding the tangent part of θ̄ to `scratch.flat` (the caller zeroes
/// it first and hands it to the sink after its last pass). Returns s and vᵀ(∂s/∂x)v.
#[inline]
fn dual_pass<const D: usize, L: Lane, M: TrainableScore<D>>(
    model: &M,
    x: &[L; D],
    t: L,
    v: &[L; D],
    c: impl FnOnce(&[L; D]) -> [L; D],
    scratch: &mut Scratch<'_, L>,
) -> ([L; D], L) {
    let xd: [Dual<L, 1>; D] = crate::lane::array_fn(|i| Dual::new(x[i], [v[i]]));
    let (sd, tape) = model.score_tape(&xd, Dual::constant(t));
    let s: [L; D] = crate::lane::array_fn(|i| sd[i].re);
    let mut vjv = <L as Real>::zero();
    for i in 0..D {
        vjv += v[i] * sd[i].eps[0];
    }
    let ce = c(&s);
    let cot: [Dual<L, 1>; D] = crate::lane::array_fn(|i| Dual::new(v[i], [ce[i]]));
    scratch.dual.fill(Dual::constant(<L as Real>::zero()));
    model.score_backward(&tape, &cot, &mut *scratch.dual);
    for (f, d) in scratch.flat.iter_mut().zip(scratch.dual.iter()) {
        *f += d.eps[0];
    }
    (s, vjv)
}

impl<const D: usize, M: TrainableScore<D>> Loss<D, M> for Ssm {
    const NEEDS_DUAL: bool = true;
    const NEEDS_FLAT: bool = true;

    #[inline]
    fn loss_grad<L: Lane, G: LaneSource<L>, K: GradSink<L> + ?Sized>(
        &self,
        model: &M,
        x: &[L; D],
        rng: &mut G,
        grad: &mut K,
        scratch: &mut Scratch<'_, L>,
    ) -> L {
        let v: [L; D] = match self.projection {
            Projection::Rademacher => crate::lane::array_fn(|_| rng.rademacher()),
            Projection::Gaussian => rng.normal_array(),
        };
        let half = <L as Real>::from_f64(0.5);
        let mut second = <L as Real>::zero();
        let vr = self.variance_reduced;
        scratch.flat.fill(<L as Real>::zero());
        let (_, vjv) = dual_pass(
            model,
            x,
            <L as Real>::from_f32(self.t),
            &v,
            |s| {
                if vr {
                    for si in s {
                        second += half * *si * *si;
                    }
                    *s
                } else {
                    let mut vs = <L as Real>::zero();
                    for i in 0..D {
                        vs += v[i] * s[i];
                    }
                    second = half * vs * vs;
                    crate::lane::array_fn(|i| vs * v[i])
                }
            },
            scratch,
        );
        grad.add(0, scratch.flat);
        vjv + second
    }
}

/// Implicit (Hyvärinen 2005) score matching: loss tr(∂s/∂x) + ½‖s‖² with the exact trace from
/// D dual passes (one per basis vector), at a fixed time argument t (no random draws).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Ism {
    t: f32,
}

impl Ism {
    /// Implicit score matching at time argument `t`.
    pub fn new(t: f32) -> Result<Self, Error> {
        if !t.is_finite() {
            return Err(Error::NonFinite("t"));
        }
        Ok(Self { t })
    }
}

impl<const D: usize, M: TrainableScore<D>> Loss<D, M> for Ism {
    const NEEDS_DUAL: bool = true;
    const NEEDS_FLAT: bool = true;

    #[inline]
    fn loss_grad<L: Lane, G: LaneSource<L>, K: GradSink<L> + ?Sized>(
        &self,
        model: &M,
        x: &[L; D],
        _rng: &mut G,
        grad: &mut K,
        scratch: &mut Scratch<'_, L>,
    ) -> L {
        let t = <L as Real>::from_f32(self.t);
        let half = <L as Real>::from_f64(0.5);
        let mut loss = <L as Real>::zero();
        scratch.flat.fill(<L as Real>::zero());
        for k in 0..D {
            let v: [L; D] = crate::lane::array_fn(|i| {
                if i == k { <L as Real>::one() } else { <L as Real>::zero() }
            });
            let mut sq = <L as Real>::zero();
            let (_, jkk) = dual_pass(
                model,
                x,
                t,
                &v,
                |s| {
                    if k == 0 {
                        for si in s {
                            sq += half * *si * *si;
                        }
                        *s
                    } else {
                        [<L as Real>::zero(); D]
                    }
                },
                scratch,
            );
            loss += jkk + sq;
        }
        grad.add(0, scratch.flat);
        loss
    }
}
