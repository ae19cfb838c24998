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
use crate::flow::coupling::{bounded_log_scale, bounded_log_scale_derivative};
use crate::flow::train::TrainableInverse;
use crate::nn::mlp::MlpTape;
use crate::nn::{Mlp2, Network, TrainableNetwork};
use crate::params::{GradSink, Offset, Params, check_len};
use crate::real::Real;

/// One MAF layer: a two-hidden-layer MADE `D → H → H → O` with `O = 2D` outputs (μ₀..μ_{D−1},
/// then α̂₀..α̂_{D−1}).
///
/// Parameter layout ([`Params`]): the MADE's ([`Mlp2`]'s), masked weights included;
/// [`Params::read_params`] re-applies the masks (masked weights read back as 0, whatever the
/// source holds) and the backward gives them no gradient, so the layer stays autoregressive.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Maf<const D: usize, const H: usize, const O: usize> {
    made: Mlp2<D, H, O>,
}

/// MADE degree of hidden unit `k` for dimension `d` (≥ 2): (k mod (d − 1)) + 1.
#[inline]
const fn hidden_degree(k: usize, d: usize) -> usize {
    (k % (d - 1)) + 1
}

/// MADE's masks, the one definition the masking and the backward pass both use: first-layer
/// unit k sees input i when i < m(k); second-layer unit k sees first-layer unit j when
/// m(j) ≤ m(k); output o (coordinate o mod D) sees unit k when m(k) ≤ o mod D.
const fn input_mask(k: usize, i: usize, d: usize) -> bool {
    hidden_degree(k, d) > i
}
const fn hidden_mask(k: usize, j: usize, d: usize) -> bool {
    hidden_degree(k, d) >= hidden_degree(j, d)
}
const fn output_mask(o: usize, k: usize, d: usize) -> bool {
    hidden_degree(k, d) < (o % d) + 1
}

/// Which of the three mask rules a layer's weights follow.
#[derive(Clone, Copy)]
enum Rule {
    Input,
    Hidden,
    Output,
}

/// Sets to 0 every weight `w[o][i]` that `rule` removes (`while` loops: `const`).
const fn mask<const IN: usize, const OUT: usize>(w: &mut [[f32; IN]; OUT], rule: Rule, d: usize) {
    let mut o = 0;
    while o < OUT {
        let mut i = 0;
        while i < IN {
            let keep = match rule {
                Rule::Input => input_mask(o, i, d),
                Rule::Hidden => hidden_mask(o, i, d),
                Rule::Output => output_mask(o, i, d),
            };
            if !keep {
                w[o][i] = 0.0;
            }
            i += 1;
        }
        o += 1;
    }
}

impl<const D: usize, const H: usize, const O: usize> Maf<D, H, O> {
    /// A layer from an unmasked network: the MADE masks are applied (masked weights set to 0),
    /// so any [`Mlp2`] (e.g. [`Mlp2::init`]) becomes autoregressive. `D ≥ 2` and `O = 2D` are
    /// checked at compile time. `const`, so that a layer can be a `static` in flash.
    pub const fn new(net: Mlp2<D, H, O>) -> Self {
        const { assert!(D >= 2 && O == 2 * D, "MAF: needs D >= 2 and a MADE with O = 2D outputs") };
        let mut layer = Self { made: net };
        layer.apply_masks();
        layer
    }

    /// Sets the weights MADE's masks remove to 0, in place.
    pub(crate) const fn apply_masks(&mut self) {
        mask(self.made.input.weight_mut(), Rule::Input, D);
        mask(self.made.hidden[0].weight_mut(), Rule::Hidden, D);
        mask(self.made.output.weight_mut(), Rule::Output, D);
    }

    /// The masked network, to read parameters into in place (the masks are re-applied after).
    pub(crate) fn made_mut(&mut self) -> &mut Mlp2<D, H, O> {
        &mut self.made
    }

    /// The masked network.
    pub fn made(&self) -> &Mlp2<D, H, O> {
        &self.made
    }
}

impl<const D: usize, const H: usize, const O: usize> Params for Maf<D, H, O> {
    const LEN: usize = <Mlp2<D, H, O> as Params>::LEN;

    fn write_params(&self, out: &mut [f32]) -> Result<(), Error> {
        check_len("maf params", out.len(), Self::LEN)?;
        self.made.write_params(out)
    }

    fn read_params(&mut self, src: &[f32]) -> Result<(), Error> {
        check_len("maf params", src.len(), Self::LEN)?;
        let mut net = self.made;
        net.read_params(src)?;
        *self = Self::new(net);
        Ok(())
    }
}

/// What the MAF inverse keeps: the MADE's tape, α (entries `0..D`) and exp(−α) (`D..2D`),
/// and z.
#[derive(Clone, Copy, Debug)]
pub struct MafTape<R, const D: usize, const H: usize, const O: usize> {
    net: MlpTape<R, H, 1>,
    a_exp: [R; O],
    z: [R; D],
}

/// Backward of the one-pass inverse zᵢ = (xᵢ − μᵢ)·e^−αᵢ, l = −Σα: x̄ᵢ = z̄ᵢ e^−αᵢ plus the
/// MADE's input cotangent of μ̄ᵢ = −z̄ᵢ e^−αᵢ and α̂̄ᵢ = −(z̄ᵢ zᵢ + l̄)·dα/dα̂; the MADE's
/// backward skips the masked weights.
impl<const D: usize, const H: usize, const O: usize> TrainableInverse<D> for Maf<D, H, O> {
    type InverseTape<R: Real> = MafTape<R, D, H, O>;

    #[inline]
    fn inverse_tape<R: Real>(&self, x: [R; D]) -> Result<([R; D], R, MafTape<R, D, H, O>), Error> {
        let (h, net) = self.made.forward_tape(&x);
        let mut a_exp = [R::zero(); O];
        let mut z = [R::zero(); D];
        let mut log_det = R::zero();
        for i in 0..D {
            let a = bounded_log_scale(h[D + i]);
            let e = (-a).exp();
            z[i] = (x[i] - h[i]) * e;
            log_det -= a;
            a_exp[i] = a;
            a_exp[D + i] = e;
        }
        Ok((z, log_det, MafTape { net, a_exp, z }))
    }

    fn inverse_backward<R: Real, G: GradSink<R> + ?Sized>(
        &self,
        x: &[R; D],
        tape: &MafTape<R, D, H, O>,
        zbar: &[R; D],
        lbar: R,
        grad: &mut G,
    ) -> [R; D] {
        let mut hbar = [R::zero(); O];
        let mut xbar = [R::zero(); D];
        for i in 0..D {
            let (a, e) = (tape.a_exp[i], tape.a_exp[D + i]);
            let ze = zbar[i] * e;
            xbar[i] = ze;
            hbar[i] = -ze;
            hbar[D + i] = -(zbar[i] * tape.z[i] + lbar) * bounded_log_scale_derivative(a);
        }
        let n1 = <crate::nn::Dense<D, H> as Params>::LEN;
        let n2 = <crate::nn::Dense<H, H> as Params>::LEN;
        let made = &self.made;
        let t = &tape.net;
        let a1 = &t.a[0];
        let g3 = &mut Offset::new(&mut *grad, n1 + n2);
        made.output.backward_params_masked(a1, &hbar, g3, |o, k| output_mask(o, k, D));
        let abar = made.output.backward_input(&hbar);
        let zbar2: [R; H] = crate::lane::array_fn(|j| abar[j] * t.d[0][j]);
        let g2 = &mut Offset::new(&mut *grad, n1);
        made.hidden[0].backward_params_masked(&t.a0, &zbar2, g2, |k, j| hidden_mask(k, j, D));
        let abar0 = made.hidden[0].backward_input(&zbar2);
        let zbar1: [R; H] = crate::lane::array_fn(|j| abar0[j] * t.d0[j]);
        made.input.backward_params_masked(x, &zbar1, grad, |k, i| input_mask(k, i, D));
        let ubar = made.input.backward_input(&zbar1);
        for (xb, &u) in xbar.iter_mut().zip(ubar.iter()) {
            *xb += u;
        }
        xbar
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
