//! Coordinate permutations: x_i = z_{π(i)}, log-det 0. Between coupling layers they let every
//! coordinate be transformed (Dinh et al. 2017; Papamakarios et al. 2017 between MAF layers).
//! Cost: D moves per sample, no arithmetic.

use crate::error::Error;
use crate::flow::Bijector;
use crate::flow::train::{TrainableForward, TrainableInverse};
use crate::params::{GradSink, Params, check_len};
use crate::real::Real;
use crate::rng::{LaneSource, Streams};

/// A fixed permutation π of the coordinates: forward x_i = z_{π(i)}, inverse z_{π(i)} = x_i.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Permutation<const D: usize> {
    perm: [usize; D],
}

impl<const D: usize> Permutation<D> {
    /// The permutation given by `perm` (x_i = z_{perm\[i\]}). An entry ≥ D or a repeated entry
    /// gives [`Error::InvalidParameter`].
    pub fn new(perm: [usize; D]) -> Result<Self, Error> {
        let mut seen = [false; D];
        for &p in &perm {
            match seen.get_mut(p) {
                Some(s) if !*s => *s = true,
                _ => {
                    return Err(Error::InvalidParameter {
                        name: "perm",
                        reason: "must hold each index 0..D exactly once",
                    });
                }
            }
        }
        Ok(Self { perm })
    }

    /// Reversal: x_i = z_{D−1−i}. `const`, so that a flow can be a `static` in flash.
    pub const fn reverse() -> Self {
        let mut perm = [0; D];
        let mut i = 0;
        while i < D {
            perm[i] = D - 1 - i;
            i += 1;
        }
        Self { perm }
    }

    /// A fixed random permutation: Fisher–Yates driven by sample stream 0 of `seed`
    /// ([`Streams`]); index j ≤ i drawn as ⌊u·(i+1)/2³²⌋ from a 32-bit word u (bias < D/2³²).
    pub fn seeded(seed: u64) -> Self {
        let mut rng = Streams::<f32>::new(seed, 0);
        let mut perm: [usize; D] = crate::lane::array_fn(|i| i);
        for i in (1..D).rev() {
            let u: u32 = LaneSource::<f32>::next_u32s(&mut rng);
            let j = ((u as u64 * (i as u64 + 1)) >> 32) as usize;
            perm.swap(i, j);
        }
        Self { perm }
    }

    /// π as an array: x_i = z_{π\[i\]}.
    pub fn indices(&self) -> &[usize; D] {
        &self.perm
    }
}

impl<const D: usize> Bijector<D> for Permutation<D> {
    #[inline]
    fn forward<R: Real>(&self, z: [R; D]) -> ([R; D], R) {
        // Entries are < D by construction, so `get` always finds its entry; unlike indexing it
        // leaves no panic path in the image (the firmware's link check looks for one).
        (crate::lane::array_fn(|i| z.get(self.perm[i]).copied().unwrap_or(R::zero())), R::zero())
    }

    #[inline]
    fn inverse<R: Real>(&self, x: [R; D]) -> Result<([R; D], R), Error> {
        let mut z = x;
        for (&p, &xi) in self.perm.iter().zip(x.iter()) {
            if let Some(zp) = z.get_mut(p) {
                *zp = xi;
            }
        }
        Ok((z, R::zero()))
    }
}

/// A permutation has no trainable parameters (`LEN = 0`; π is fixed).
impl<const D: usize> Params for Permutation<D> {
    const LEN: usize = 0;

    fn write_params(&self, out: &mut [f32]) -> Result<(), Error> {
        check_len("permutation params", out.len(), 0)
    }

    fn read_params(&mut self, src: &[f32]) -> Result<(), Error> {
        check_len("permutation params", src.len(), 0)
    }
}

/// The inverse z_{π(i)} = x_i has x̄_i = z̄_{π(i)}, i.e. x̄ = forward(z̄).
impl<const D: usize> TrainableInverse<D> for Permutation<D> {
    type InverseTape<R: Real> = ();

    #[inline]
    fn inverse_tape<R: Real>(&self, x: [R; D]) -> Result<([R; D], R, ()), Error> {
        let (z, l) = self.inverse(x)?;
        Ok((z, l, ()))
    }

    #[inline]
    fn inverse_backward<R: Real, G: GradSink<R> + ?Sized>(
        &self,
        _x: &[R; D],
        _: &(),
        zbar: &[R; D],
        _lbar: R,
        _grad: &mut G,
    ) -> [R; D] {
        self.forward(*zbar).0
    }
}

/// The forward x_i = z_{π(i)} has z̄_{π(i)} = x̄_i, i.e. z̄ = inverse(x̄).
impl<const D: usize> TrainableForward<D> for Permutation<D> {
    type ForwardTape<R: Real> = ();

    #[inline]
    fn forward_tape<R: Real>(&self, z: [R; D]) -> ([R; D], R, ()) {
        let (x, l) = self.forward(z);
        (x, l, ())
    }

    #[inline]
    fn forward_backward<R: Real, G: GradSink<R> + ?Sized>(
        &self,
        _z: &[R; D],
        _: &(),
        xbar: &[R; D],
        _lbar: R,
        _grad: &mut G,
    ) -> [R; D] {
        let mut zbar = *xbar;
        for (&p, &xb) in self.perm.iter().zip(xbar.iter()) {
            zbar[p] = xb;
        }
        zbar
    }
}
