//! Flow losses (MATH.md §7): maximum likelihood (forward KL) and reverse KL to an unnormalised
//! target, for a bijector on a standard-normal base.
//!
//! Both hand the chunk's sink straight to the layers' backward passes
//! ([`crate::flow::train`]): the conditioners' dense layers become [`GradSink::dense`] calls
//! (recorded as cotangents and inputs, summed by the blocked reduction) and the elementwise
//! parameters small [`GradSink::add`] calls, the same sequence for every sample.

use crate::dist::{Distribution, StandardNormal};
use crate::flow::train::{TrainableForward, TrainableInverse};
use crate::lane::Lane;
use crate::loss::energy::LogDensity;
use crate::loss::{Loss, Scratch};
use crate::params::GradSink;
use crate::real::Real;
use crate::rng::LaneSource;

/// The negative log-likelihood −log p(x) = −(log N(f⁻¹(x); 0, I) + log|det ∂f⁻¹/∂x|) of a flow
/// with a standard-normal base, back-propagated through the inverse pass (no random draws).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlowNll;

impl<const D: usize, B: TrainableInverse<D>> Loss<D, B> for FlowNll {
    const NEEDS_DUAL: bool = false;
    const NEEDS_FLAT: bool = false;

    #[inline]
    fn loss_grad<L: Lane, G: LaneSource<L>, K: GradSink<L> + ?Sized>(
        &self,
        model: &B,
        x: &[L; D],
        _rng: &mut G,
        grad: &mut K,
        _scratch: &mut Scratch<'_, L>,
    ) -> L {
        let Ok((z, l, tape)) = model.inverse_tape(*x) else {
            return <L as Real>::from_f64(f64::NAN);
        };
        let lp = Distribution::<D>::log_prob(&StandardNormal, &z) + l;
        let _ = model.inverse_backward(x, &tape, &z, -<L as Real>::one(), grad);
        -lp
    }
}

/// Reverse KL to an unnormalised log-density log p̃ (Rezende & Mohamed 2015): per sample
/// z ~ N(0, I), x = f(z), loss log q(x) − log p̃(x) = log N(z) − log|det ∂f/∂z| − log p̃(x), whose
/// mean is KL(q ‖ p) − log Z. Gradients by the reparameterisation through the forward pass.
/// Draws per sample: D normals.
#[derive(Clone, Copy, Debug)]
pub struct ReverseKl<T> {
    target: T,
}

impl<T> ReverseKl<T> {
    /// Fit the flow to p̃ = exp(`target`).
    pub fn new(target: T) -> Self {
        Self { target }
    }
}

impl<const D: usize, B: TrainableForward<D>, T: LogDensity<D>> Loss<D, B> for ReverseKl<T> {
    const NEEDS_DUAL: bool = false;
    const NEEDS_FLAT: bool = false;

    #[inline]
    fn loss_grad<L: Lane, G: LaneSource<L>, K: GradSink<L> + ?Sized>(
        &self,
        model: &B,
        _x: &[L; D],
        rng: &mut G,
        grad: &mut K,
        _scratch: &mut Scratch<'_, L>,
    ) -> L {
        let z: [L; D] = rng.normal_array();
        let (x, l, tape) = model.forward_tape(z);
        let (lp, g) = self.target.grad(&x);
        let base = Distribution::<D>::log_prob(&StandardNormal, &z);
        let xbar: [L; D] = crate::lane::array_fn(|i| -g[i]);
        let _ = model.forward_backward(&z, &tape, &xbar, -<L as Real>::one(), grad);
        base - l - lp
    }
}
