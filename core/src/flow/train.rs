//! Gradients of flow layers (MATH.md §7): reverse-mode backward passes written next to each
//! forward, over any [`Real`], allocation-free, accumulating into a [`GradSink`] in the
//! [`Params`] layout (a gradient slice, or a chunk's block recorder).
//!
//! Two directions, two traits, because not every layer has a cheap backward both ways:
//! - [`TrainableInverse`] (data → base, maximum likelihood): for z = f⁻¹(x) with
//!   l = log|det ∂z/∂x|, given cotangents z̄ and l̄, accumulate θ̄ += (∂z/∂θ)ᵀz̄ + l̄·∂l/∂θ and
//!   return x̄ = (∂z/∂x)ᵀz̄ + l̄·∂l/∂x.
//! - [`TrainableForward`] (base → data, reverse KL and sampling objectives): for x = f(z) with
//!   l = log|det ∂x/∂z|, given x̄ and l̄, accumulate θ̄ and return z̄.
//!
//! Each pass is split as in [`TrainableNetwork`](crate::nn::TrainableNetwork): a `*_tape`
//! evaluation that returns the value bit-identical to [`Bijector`]'s and what the backward
//! needs, then a `*_backward` that takes the input, the tape and the cotangents. Chains
//! (tuples and `[B; K]` arrays) keep every layer's input and tape, so one tape holds the whole
//! stack's intermediate states (on the stack, no heap).
//!
//! Sinks: a chain hands each layer the sink shifted to the layer's parameters ([`Offset`]); a
//! conditioner network's dense layers make [`GradSink::dense`] calls, and elementwise
//! parameters (scales, shifts, triangular factors, planar and radial parameters) one
//! [`GradSink::add`] per contiguous group from a small local array. The calls are the same, in
//! the same order, for every sample (what the block recorder of
//! [`chunk_gradient`](crate::loss::chunk_gradient) requires).
//!
//! Gradient slices shorter than [`Params::LEN`] receive only what fits (never a panic); the
//! input cotangent is always complete. Backward passes are lane-wise, so lane j of an `f32x8`
//! gradient is bit-identical to the scalar gradient of sample j.

use super::{Bijector, Flow};
use crate::dist::{Distribution, StandardNormal};
use crate::error::Error;
use crate::params::{GradSink, Offset, Params};
use crate::real::Real;

/// A bijector with a reverse-mode backward of its inverse (data → base) pass.
pub trait TrainableInverse<const D: usize>: Bijector<D> + Params {
    /// What the inverse keeps for its backward.
    type InverseTape<R: Real>: Copy;
    /// z = f⁻¹(x) and l = log|det ∂z/∂x| (bit-identical to [`Bijector::inverse`]), and the tape.
    ///
    /// Errors: those of [`Bijector::inverse`].
    #[allow(clippy::type_complexity)]
    fn inverse_tape<R: Real>(&self, x: [R; D]) -> Result<([R; D], R, Self::InverseTape<R>), Error>;
    /// Given the input `x`, its tape and the cotangents z̄, l̄: accumulate θ̄ into `grad`
    /// (offsets in the [`Params`] layout) and return x̄.
    fn inverse_backward<R: Real, G: GradSink<R> + ?Sized>(
        &self,
        x: &[R; D],
        tape: &Self::InverseTape<R>,
        zbar: &[R; D],
        lbar: R,
        grad: &mut G,
    ) -> [R; D];
}

/// A bijector with a reverse-mode backward of its forward (base → data) pass.
pub trait TrainableForward<const D: usize>: Bijector<D> + Params {
    /// What the forward keeps for its backward.
    type ForwardTape<R: Real>: Copy;
    /// x = f(z) and l = log|det ∂x/∂z| (bit-identical to [`Bijector::forward`]), and the tape.
    fn forward_tape<R: Real>(&self, z: [R; D]) -> ([R; D], R, Self::ForwardTape<R>);
    /// Given the input `z`, its tape and the cotangents x̄, l̄: accumulate θ̄ into `grad`
    /// (offsets in the [`Params`] layout) and return z̄.
    fn forward_backward<R: Real, G: GradSink<R> + ?Sized>(
        &self,
        z: &[R; D],
        tape: &Self::ForwardTape<R>,
        xbar: &[R; D],
        lbar: R,
        grad: &mut G,
    ) -> [R; D];
}

/// [`Params::LEN`] of a value's type.
#[inline(always)]
fn len_of<P: Params>(_: &P) -> usize {
    P::LEN
}

/// A chain's inverse tape: per layer, in the order the inverse applies them (last layer first),
/// the layer's input and tape (`None` after a layer's inverse failed).
impl<const D: usize, B: TrainableInverse<D>, const K: usize> TrainableInverse<D> for [B; K] {
    type InverseTape<R: Real> = [([R; D], Option<B::InverseTape<R>>); K];

    fn inverse_tape<R: Real>(&self, x: [R; D]) -> Result<([R; D], R, Self::InverseTape<R>), Error> {
        let mut z = x;
        let mut log_det = R::zero();
        let mut err = None;
        let tape = core::array::from_fn(|i| {
            let input = z;
            if err.is_some() {
                return (input, None);
            }
            match self[K - 1 - i].inverse_tape(z) {
                Ok((y, l, t)) => {
                    z = y;
                    log_det += l;
                    (input, Some(t))
                }
                Err(e) => {
                    err = Some(e);
                    (input, None)
                }
            }
        });
        match err {
            Some(e) => Err(e),
            None => Ok((z, log_det, tape)),
        }
    }

    fn inverse_backward<R: Real, G: GradSink<R> + ?Sized>(
        &self,
        _x: &[R; D],
        tape: &Self::InverseTape<R>,
        zbar: &[R; D],
        lbar: R,
        grad: &mut G,
    ) -> [R; D] {
        let mut bar = *zbar;
        for (i, (input, t)) in tape.iter().enumerate().rev() {
            let k = K - 1 - i;
            if let Some(t) = t {
                let g = &mut Offset::new(&mut *grad, k * B::LEN);
                bar = self[k].inverse_backward(input, t, &bar, lbar, g);
            }
        }
        bar
    }
}

/// A chain's forward tape: per layer, in order, the layer's input and tape.
impl<const D: usize, B: TrainableForward<D>, const K: usize> TrainableForward<D> for [B; K] {
    type ForwardTape<R: Real> = [([R; D], B::ForwardTape<R>); K];

    fn forward_tape<R: Real>(&self, z: [R; D]) -> ([R; D], R, Self::ForwardTape<R>) {
        let mut x = z;
        let mut log_det = R::zero();
        let tape = core::array::from_fn(|k| {
            let input = x;
            let (y, l, t) = self[k].forward_tape(x);
            x = y;
            log_det += l;
            (input, t)
        });
        (x, log_det, tape)
    }

    fn forward_backward<R: Real, G: GradSink<R> + ?Sized>(
        &self,
        _z: &[R; D],
        tape: &Self::ForwardTape<R>,
        xbar: &[R; D],
        lbar: R,
        grad: &mut G,
    ) -> [R; D] {
        let mut bar = *xbar;
        for (k, (input, t)) in tape.iter().enumerate().rev() {
            let g = &mut Offset::new(&mut *grad, k * B::LEN);
            bar = self[k].forward_backward(input, t, &bar, lbar, g);
        }
        bar
    }
}

/// The trainable traits for a tuple: `(Type, index, tape name)` in member order, then
/// `(index, tape name)` in reverse order.
macro_rules! tuple_trainable {
    ($(($t:ident, $i:tt, $v:ident)),+ ; $(($ri:tt, $rv:ident)),+) => {
        impl<const D: usize, $($t: TrainableInverse<D>),+> TrainableInverse<D> for ($($t,)+) {
            type InverseTape<R: Real> = ($(([R; D], $t::InverseTape<R>),)+);

            #[inline]
            fn inverse_tape<R: Real>(
                &self,
                x: [R; D],
            ) -> Result<([R; D], R, Self::InverseTape<R>), Error> {
                let mut z = x;
                let mut log_det = R::zero();
                $(
                    let input = z;
                    let (y, l, t) = self.$ri.inverse_tape(z)?;
                    let $rv = (input, t);
                    z = y;
                    log_det += l;
                )+
                Ok((z, log_det, ($($v,)+)))
            }

            #[inline]
            fn inverse_backward<R: Real, S: GradSink<R> + ?Sized>(
                &self,
                _x: &[R; D],
                tape: &Self::InverseTape<R>,
                zbar: &[R; D],
                lbar: R,
                grad: &mut S,
            ) -> [R; D] {
                let ($($v,)+) = tape;
                let mut bar = *zbar;
                let mut offset = 0usize;
                // The inverse applied the last member first: member 0's output is z.
                $(
                    let len = len_of(&self.$i);
                    let g = &mut Offset::new(&mut *grad, offset);
                    bar = self.$i.inverse_backward(&$v.0, &$v.1, &bar, lbar, g);
                    offset += len;
                )+
                let _ = offset;
                bar
            }
        }

        impl<const D: usize, $($t: TrainableForward<D>),+> TrainableForward<D> for ($($t,)+) {
            type ForwardTape<R: Real> = ($(([R; D], $t::ForwardTape<R>),)+);

            #[inline]
            fn forward_tape<R: Real>(&self, z: [R; D]) -> ([R; D], R, Self::ForwardTape<R>) {
                let mut x = z;
                let mut log_det = R::zero();
                $(
                    let input = x;
                    let (y, l, t) = self.$i.forward_tape(x);
                    let $v = (input, t);
                    x = y;
                    log_det += l;
                )+
                (x, log_det, ($($v,)+))
            }

            #[inline]
            fn forward_backward<R: Real, S: GradSink<R> + ?Sized>(
                &self,
                _z: &[R; D],
                tape: &Self::ForwardTape<R>,
                xbar: &[R; D],
                lbar: R,
                grad: &mut S,
            ) -> [R; D] {
                let ($($v,)+) = tape;
                let mut bar = *xbar;
                let mut end = <Self as Params>::LEN;
                $(
                    let len = len_of(&self.$ri);
                    end -= len;
                    let g = &mut Offset::new(&mut *grad, end);
                    bar = self.$ri.forward_backward(&$rv.0, &$rv.1, &bar, lbar, g);
                )+
                let _ = end;
                bar
            }
        }
    };
}

tuple_trainable!((A, 0, a); (0, a));
tuple_trainable!((A, 0, a), (B, 1, b); (1, b), (0, a));
tuple_trainable!((A, 0, a), (B, 1, b), (C, 2, c); (2, c), (1, b), (0, a));
tuple_trainable!((A, 0, a), (B, 1, b), (C, 2, c), (E, 3, e); (3, e), (2, c), (1, b), (0, a));
tuple_trainable!(
    (A, 0, a), (B, 1, b), (C, 2, c), (E, 3, e), (F, 4, f);
    (4, f), (3, e), (2, c), (1, b), (0, a)
);
tuple_trainable!(
    (A, 0, a), (B, 1, b), (C, 2, c), (E, 3, e), (F, 4, f), (G, 5, g);
    (5, g), (4, f), (3, e), (2, c), (1, b), (0, a)
);
tuple_trainable!(
    (A, 0, a), (B, 1, b), (C, 2, c), (E, 3, e), (F, 4, f), (G, 5, g), (H, 6, h);
    (6, h), (5, g), (4, f), (3, e), (2, c), (1, b), (0, a)
);
tuple_trainable!(
    (A, 0, a), (B, 1, b), (C, 2, c), (E, 3, e), (F, 4, f), (G, 5, g), (H, 6, h), (I, 7, i);
    (7, i), (6, h), (5, g), (4, f), (3, e), (2, c), (1, b), (0, a)
);

impl<B> Flow<StandardNormal, B> {
    /// The negative log-likelihood −log p(x) = −(log N(z; 0, I) + l), z = f⁻¹(x), of one point
    /// per lane, with its parameter gradient accumulated into `grad` (layout of the bijector's
    /// [`Params`]; each lane its own sample's contribution). The backward is the inverse's
    /// with z̄ = z (the gradient of ‖z‖²/2) and l̄ = −1. Cost: one taped inverse pass and one
    /// backward.
    ///
    /// Errors: those of the bijector's inverse (then `grad` is unchanged).
    #[inline]
    pub fn nll_backward<R: Real, const D: usize, G: GradSink<R> + ?Sized>(
        &self,
        x: [R; D],
        grad: &mut G,
    ) -> Result<R, Error>
    where
        B: TrainableInverse<D>,
    {
        let (z, l, tape) = self.bijector.inverse_tape(x)?;
        let lp = Distribution::<D>::log_prob(&self.base, &z) + l;
        let _ = self.bijector.inverse_backward(&x, &tape, &z, -R::one(), grad);
        Ok(-lp)
    }
}
