//! Flat `f32` views of every trainable type, and gradients of the same layout (MATH.md §7).
//!
//! A trainable type (a dense layer, an MLP, a flow layer, a learned score network, and tuples and
//! arrays of them) implements [`Params`]: it has [`Params::LEN`] trainable numbers, writes them
//! into a flat slice in a fixed order ([`Params::write_params`]) and takes them back
//! ([`Params::read_params`]), validating them and re-establishing every invariant and cache that
//! depends on them (derived quantities are recomputed, never stored twice). Constrained
//! parameters appear in their *unconstrained* form, exactly as the forward code uses them, so no
//! optimizer step can produce an invalid layer.
//!
//! A gradient is a slice `&mut [R]` of the same length and layout, over any [`Real`](crate::Real)
//! lane type: each lane of an `f32x8` gradient holds its own sample's contribution, and a dual
//! lane's tangent part carries a forward-over-reverse product (sliced and implicit score
//! matching). Backward passes *accumulate* into it (`+=`), so one buffer sums over samples.
//!
//! ## Errors, not panics
//! Length mismatches are [`Error::InvalidParameter`]; a non-finite value is [`Error::NonFinite`];
//! on any error the target is left unchanged.

use crate::error::Error;

/// A type with a fixed number of trainable `f32` parameters in a fixed flat layout.
pub trait Params: Copy {
    /// The number of trainable parameters.
    const LEN: usize;

    /// Write the parameters into `out[..LEN]` in the type's layout.
    ///
    /// Errors: [`Error::InvalidParameter`] if `out.len() != LEN` (nothing is written).
    fn write_params(&self, out: &mut [f32]) -> Result<(), Error>;

    /// Set the parameters from `src` (the layout of [`Params::write_params`]) and recompute
    /// every derived quantity.
    ///
    /// Errors: [`Error::InvalidParameter`] if `src.len() != LEN`, [`Error::NonFinite`] for a NaN
    /// or infinite entry, or whatever the layer's constructor rejects; `self` is unchanged then.
    fn read_params(&mut self, src: &[f32]) -> Result<(), Error>;
}

/// The length check every [`Params`] method starts with.
#[inline]
pub(crate) fn check_len(name: &'static str, len: usize, expected: usize) -> Result<(), Error> {
    if len == expected {
        Ok(())
    } else {
        Err(Error::InvalidParameter { name, reason: "length must equal the parameter count" })
    }
}

/// Split `s` at `n`, or give `s` and an empty tail if it is shorter (never panics: callers check
/// the total length first, and a short slice only makes the accumulation a no-op).
#[inline(always)]
pub(crate) fn split<T>(s: &mut [T], n: usize) -> (&mut [T], &mut [T]) {
    let n = n.min(s.len());
    s.split_at_mut(n)
}

/// Split a shared slice the same way as [`split`].
#[inline(always)]
pub(crate) fn split_ref<T>(s: &[T], n: usize) -> (&[T], &[T]) {
    let n = n.min(s.len());
    s.split_at(n)
}

impl<P: Params, const K: usize> Params for [P; K] {
    const LEN: usize = P::LEN * K;

    fn write_params(&self, out: &mut [f32]) -> Result<(), Error> {
        check_len("params", out.len(), Self::LEN)?;
        let mut rest = out;
        for layer in self {
            let (head, tail) = split(rest, P::LEN);
            layer.write_params(head)?;
            rest = tail;
        }
        Ok(())
    }

    fn read_params(&mut self, src: &[f32]) -> Result<(), Error> {
        check_len("params", src.len(), Self::LEN)?;
        let mut new = *self;
        let mut rest = src;
        for layer in new.iter_mut() {
            let (head, tail) = split_ref(rest, P::LEN);
            layer.read_params(head)?;
            rest = tail;
        }
        *self = new;
        Ok(())
    }
}

/// `impl Params` for a tuple: the members' parameters one after another, in member order.
macro_rules! tuple_params {
    ($($t:ident)+) => {
        impl<$($t: Params),+> Params for ($($t,)+) {
            const LEN: usize = 0 $(+ $t::LEN)+;

            #[allow(non_snake_case)]
            fn write_params(&self, out: &mut [f32]) -> Result<(), Error> {
                check_len("params", out.len(), Self::LEN)?;
                let ($($t,)+) = self;
                let rest = out;
                $(
                    let (head, rest) = split(rest, $t::LEN);
                    $t.write_params(head)?;
                )+
                let _ = rest;
                Ok(())
            }

            #[allow(non_snake_case)]
            fn read_params(&mut self, src: &[f32]) -> Result<(), Error> {
                check_len("params", src.len(), Self::LEN)?;
                let mut new = *self;
                {
                    let ($($t,)+) = &mut new;
                    let rest = src;
                    $(
                        let (head, rest) = split_ref(rest, $t::LEN);
                        $t.read_params(head)?;
                    )+
                    let _ = rest;
                }
                *self = new;
                Ok(())
            }
        }
    };
}

tuple_params!(A);
tuple_params!(A B);
tuple_params!(A B C);
tuple_params!(A B C E);
tuple_params!(A B C E F);
tuple_params!(A B C E F G);
tuple_params!(A B C E F G H);
tuple_params!(A B C E F G H I);

/// Where a backward pass puts parameter gradients: a flat slice (accumulated at once) or a
/// recorder that sums a block of samples later ([`crate::loss::chunk_gradient`]).
///
/// Offsets are in the [`Params`] layout of the model being differentiated. A backward pass
/// makes the same calls, in the same order, for every sample.
pub trait GradSink<R> {
    /// A dense layer's gradient: `W̄[o][i] += ȳ[o]·x[i]` at `offset + o·x.len() + i`
    /// (row-major), then `b̄[o] += ȳ[o]` at `offset + ȳ.len()·x.len() + o`.
    fn dense(&mut self, offset: usize, ybar: &[R], x: &[R]);
    /// v̄ += v at `offset + k`.
    fn add(&mut self, offset: usize, v: &[R]);
}

impl<R: crate::real::Real> GradSink<R> for [R] {
    #[inline]
    fn dense(&mut self, offset: usize, ybar: &[R], x: &[R]) {
        let n_in = x.len();
        let (_, rest) = split(self, offset);
        let (gw, gb) = split(rest, ybar.len() * n_in);
        for (grow, &yo) in gw.chunks_exact_mut(n_in.max(1)).zip(ybar.iter()) {
            for (g, &xi) in grow.iter_mut().zip(x.iter()) {
                *g += yo * xi;
            }
        }
        for (g, &yo) in gb.iter_mut().zip(ybar.iter()) {
            *g += yo;
        }
    }
    #[inline]
    fn add(&mut self, offset: usize, v: &[R]) {
        let (_, rest) = split(self, offset);
        for (g, &a) in rest.iter_mut().zip(v.iter()) {
            *g += a;
        }
    }
}

/// A sink seen at an offset: calls at `k` land at `base + k` of the inner sink (how a layer
/// inside a model writes its part of the model's gradient).
#[derive(Debug)]
pub struct Offset<'a, G: ?Sized> {
    inner: &'a mut G,
    base: usize,
}

impl<'a, G: ?Sized> Offset<'a, G> {
    /// The sink `inner` shifted by `base`.
    #[inline(always)]
    pub fn new(inner: &'a mut G, base: usize) -> Self {
        Self { inner, base }
    }
}

impl<R, G: GradSink<R> + ?Sized> GradSink<R> for Offset<'_, G> {
    #[inline(always)]
    fn dense(&mut self, offset: usize, ybar: &[R], x: &[R]) {
        self.inner.dense(self.base + offset, ybar, x)
    }
    #[inline(always)]
    fn add(&mut self, offset: usize, v: &[R]) {
        self.inner.add(self.base + offset, v)
    }
}
