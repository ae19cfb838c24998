//! Composition of bijectors without a heap: tuples `(A, B, …)` (up to 8 layers) and arrays
//! `[B; K]` are bijectors (MATH.md §1, chains).
//!
//! Forward applies the layers in order, f = f_K ∘ … ∘ f₁, and sums their log-determinants in the
//! same order; inverse applies the inverses in reverse order and sums theirs in that order, so
//! `[Planar<2>; 10]` is a 10-layer planar flow. Cost: the sum of the layers' costs.

use super::Bijector;
use crate::error::Error;
use crate::real::Real;

impl<const D: usize, B: Bijector<D>, const K: usize> Bijector<D> for [B; K] {
    #[inline(always)]
    fn forward<R: Real>(&self, z: [R; D]) -> ([R; D], R) {
        let mut x = z;
        let mut log_det = R::zero();
        for layer in self {
            let (y, l) = layer.forward(x);
            x = y;
            log_det += l;
        }
        (x, log_det)
    }

    #[inline(always)]
    fn inverse<R: Real>(&self, x: [R; D]) -> Result<([R; D], R), Error> {
        let mut z = x;
        let mut log_det = R::zero();
        for layer in self.iter().rev() {
            let (y, l) = layer.inverse(z)?;
            z = y;
            log_det += l;
        }
        Ok((z, log_det))
    }
}

/// `impl Bijector` for a tuple: the type parameters in order, then the indices in reverse order.
macro_rules! tuple_bijector {
    ($($t:ident)+ ; $($rev:tt)+) => {
        impl<const D: usize, $($t: Bijector<D>),+> Bijector<D> for ($($t,)+) {
            #[inline(always)]
            #[allow(non_snake_case)]
            fn forward<R: Real>(&self, z: [R; D]) -> ([R; D], R) {
                let ($($t,)+) = self;
                let mut x = z;
                let mut log_det = R::zero();
                $(
                    let (y, l) = $t.forward(x);
                    x = y;
                    log_det += l;
                )+
                (x, log_det)
            }

            #[inline(always)]
            fn inverse<R: Real>(&self, x: [R; D]) -> Result<([R; D], R), Error> {
                let mut z = x;
                let mut log_det = R::zero();
                $(
                    let (y, l) = self.$rev.inverse(z)?;
                    z = y;
                    log_det += l;
                )+
                Ok((z, log_det))
            }
        }
    };
}

tuple_bijector!(A; 0);
tuple_bijector!(A B; 1 0);
tuple_bijector!(A B C; 2 1 0);
tuple_bijector!(A B C E; 3 2 1 0);
tuple_bijector!(A B C E F; 4 3 2 1 0);
tuple_bijector!(A B C E F G; 5 4 3 2 1 0);
tuple_bijector!(A B C E F G H; 6 5 4 3 2 1 0);
tuple_bijector!(A B C E F G H I; 7 6 5 4 3 2 1 0);
