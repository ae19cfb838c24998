//! Masked autoregressive flow layer (Papamakarios et al. 2017) with a MADE conditioner
//! (Germain et al. 2015), MATH.md §1 ("Masked autoregressive"):
//!   xᵢ = zᵢ·exp(αᵢ) + μᵢ,  (μᵢ, α̂ᵢ) = MADE(x)ᵢ depends on x₍<ᵢ₎ only,  αᵢ = c·tanh(α̂ᵢ/c),
//!   log|det ∂x/∂z| = Σ αᵢ.
//! Density direction (inverse) in one pass: zᵢ = (xᵢ − μᵢ)·exp(−αᵢ) with one MADE evaluation.
//! Sampling direction (forward) in D passes: coordinate i is final after pass i.
//! The log-scale uses the same smooth bound as the affine coupling
//! ([`bounded_log_scale`]).
//! Cost per sample: inverse one MADE evaluation + D exp; forward D MADE evaluations + D exp.
//!
//! MADE degrees (natural order): input i has degree i + 1; hidden unit k of either hidden
//! layer has degree (k mod (D − 1)) + 1; a hidden unit sees inputs/units of degree ≤ its own; the
//! outputs of coordinate i see hidden units of degree ≤ i. Other orders: put a
//! [`Permutation`](crate::flow::permute::Permutation) between layers.

use crate::error::Error;
use crate::flow::Bijector;
use crate::flow::coupling::bounded_log_scale;
use crate::nn::{Mlp2, Network};
use crate::real::Real;

/// One MAF layer: a two-hidden-layer MADE `D → H → H → O` with `O = 2D` outputs (μ₀..μ_{D−1},
/// then α̂₀..α̂_{D−1}).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Maf<const D: usize, const H: usize, const O: usize> {
    made: Mlp2<D, H, O>,
}

/// MADE degree of hidden unit `k` for dimension `d` (≥ 2): (k mod (d − 1)) + 1.
#[inline]
fn hidden_degree(k: usize, d: usize) -> usize {
    (k % (d - 1)) + 1
}

impl<const D: usize, const H: usize, const O: usize> Maf<D, H, O> {
    /// A layer from an unmasked network: the MADE masks are applied (masked weights set to 0),
    /// so any [`Mlp2`] (e.g. [`Mlp2::init`]) becomes autoregressive. `D ≥ 2` and `O = 2D` are
    /// checked at compile time.
    pub fn new(net: Mlp2<D, H, O>) -> Self {
        const { assert!(D >= 2 && O == 2 * D, "MAF: needs D >= 2 and a MADE with O = 2D outputs") };
        let m1: [[bool; D]; H] =
            core::array::from_fn(|k| core::array::from_fn(|i| hidden_degree(k, D) > i));
        let m2: [[bool; H]; H] = core::array::from_fn(|k| {
            core::array::from_fn(|j| hidden_degree(k, D) >= hidden_degree(j, D))
        });
        let m3: [[bool; H]; O] =
            core::array::from_fn(|o| core::array::from_fn(|k| hidden_degree(k, D) < (o % D) + 1));
        let made = Mlp2::from_layers(
            net.activation,
            net.input.masked(&m1),
            net.hidden[0].masked(&m2),
            net.output.masked(&m3),
        );
        Self { made }
    }

    /// The masked network.
    pub fn made(&self) -> &Mlp2<D, H, O> {
        &self.made
    }
}

impl<const D: usize, const H: usize, const O: usize> Bijector<D> for Maf<D, H, O> {
    /// Sampling direction: D passes of the MADE.
    #[inline]
    fn forward<R: Real>(&self, z: [R; D]) -> ([R; D], R) {
        let mut x = [R::zero(); D];
        let mut log_det = R::zero();
        for i in 0..D {
            // Coordinates ≥ i of x are still 0 here; output i ignores them by the masks.
            let h = self.made.forward(&x);
            let a = bounded_log_scale(h[D + i]);
            x[i] = z[i] * a.exp() + h[i];
            log_det += a;
        }
        (x, log_det)
    }

    /// Density direction: one pass of the MADE.
    #[inline]
    fn inverse<R: Real>(&self, x: [R; D]) -> Result<([R; D], R), Error> {
        let h = self.made.forward(&x);
        let mut z = [R::zero(); D];
        let mut log_det = R::zero();
        for i in 0..D {
            let a = bounded_log_scale(h[D + i]);
            z[i] = (x[i] - h[i]) * (-a).exp();
            log_det -= a;
        }
        Ok((z, log_det))
    }
}
