//! Dense layers and one- and two-hidden-layer perceptrons with const-generic widths.
//!
//! Evaluation is a fixed sequence of multiply-adds in a fixed order (no fused multiply-add), so
//! a sample's output bits do not depend on the lane width. Cost per sample: one multiply-add per
//! weight plus one activation per hidden unit. Initialisation: Glorot & Bengio (2010) normal for
//! tanh, He et al. (2015) normal for ReLU and SiLU, biases zero.

use crate::error::{Error, all_finite};
use crate::real::Real;
use crate::rng::{LaneSource, Streams};

/// The hidden-layer nonlinearity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    /// tanh x.
    Tanh,
    /// max(x, 0).
    Relu,
    /// x · sigmoid(x) (SiLU, a.k.a. swish).
    Silu,
}

impl Activation {
    /// Apply the nonlinearity lane-wise.
    #[inline(always)]
    pub fn apply<R: Real>(self, x: R) -> R {
        match self {
            Activation::Tanh => x.tanh(),
            // `select` rather than `max`, so that a NaN stays NaN: x > 0 is false for NaN.
            Activation::Relu => R::select(x.lt(R::zero()), R::zero(), x),
            Activation::Silu => x * x.sigmoid(),
        }
    }

    /// The standard deviation of the initial weights of a layer with these fan-in and fan-out:
    /// Glorot √(2/(fan_in + fan_out)) for tanh, He √(2/fan_in) for ReLU and SiLU.
    pub fn init_std(self, fan_in: usize, fan_out: usize) -> f32 {
        let v = match self {
            Activation::Tanh => 2.0 / (fan_in + fan_out).max(1) as f64,
            Activation::Relu | Activation::Silu => 2.0 / fan_in.max(1) as f64,
        };
        libm::sqrt(v) as f32
    }
}

/// A network with a fixed input and output width, evaluated over any [`Real`].
pub trait Network<const IN: usize, const OUT: usize> {
    /// The output for one input per lane.
    fn forward<R: Real>(&self, x: &[R; IN]) -> [R; OUT];
}

/// An affine layer y = W x + b with `f32` parameters (`4·OUT·(IN + 1)` bytes).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Dense<const IN: usize, const OUT: usize> {
    weight: [[f32; IN]; OUT],
    bias: [f32; OUT],
}

impl<const IN: usize, const OUT: usize> Dense<IN, OUT> {
    /// A layer from its weight rows (`weight[o][i]` multiplies input `i` into output `o`) and
    /// biases. Any non-finite entry gives [`Error::NonFinite`].
    pub fn from_params(weight: [[f32; IN]; OUT], bias: [f32; OUT]) -> Result<Self, Error> {
        for row in &weight {
            all_finite("dense weight", row)?;
        }
        all_finite("dense bias", &bias)?;
        Ok(Self { weight, bias })
    }

    /// Weights drawn N(0, std²) from `rng` row by row, biases zero.
    fn random<S: LaneSource<f32>>(std: f32, rng: &mut S) -> Self {
        let mut weight = [[0.0f32; IN]; OUT];
        for row in weight.iter_mut() {
            for w in row.iter_mut() {
                *w = std * rng.normal();
            }
        }
        Self { weight, bias: [0.0; OUT] }
    }

    /// The weight rows.
    pub fn weight(&self) -> &[[f32; IN]; OUT] {
        &self.weight
    }

    /// The biases.
    pub fn bias(&self) -> &[f32; OUT] {
        &self.bias
    }

    /// The same layer with the weights where `mask[o][i]` is false set to zero (MADE's
    /// connectivity masks, Germain et al. 2015).
    pub fn masked(mut self, mask: &[[bool; IN]; OUT]) -> Self {
        for (row, mrow) in self.weight.iter_mut().zip(mask.iter()) {
            for (w, &m) in row.iter_mut().zip(mrow.iter()) {
                if !m {
                    *w = 0.0;
                }
            }
        }
        self
    }

    /// y = W x + b, each output summed in input order.
    #[inline]
    pub fn apply<R: Real>(&self, x: &[R; IN]) -> [R; OUT] {
        let mut y = [R::zero(); OUT];
        for ((yo, row), &b) in y.iter_mut().zip(self.weight.iter()).zip(self.bias.iter()) {
            let mut acc = R::from_f32(b);
            for (&w, &xi) in row.iter().zip(x.iter()) {
                acc += R::from_f32(w) * xi;
            }
            *yo = acc;
        }
        y
    }

    /// The layer followed by `act` on every output.
    #[inline]
    fn apply_act<R: Real>(&self, x: &[R; IN], act: Activation) -> [R; OUT] {
        let mut y = self.apply(x);
        for v in y.iter_mut() {
            *v = act.apply(*v);
        }
        y
    }
}

/// A perceptron with one hidden layer: IN → HIDDEN → OUT, `act` after the hidden layer only.
///
/// Size: `4·(HIDDEN·(IN + 1) + OUT·(HIDDEN + 1))` bytes, held inline (no heap).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Mlp1<const IN: usize, const HIDDEN: usize, const OUT: usize> {
    /// The hidden-layer nonlinearity.
    pub activation: Activation,
    /// Input → hidden.
    pub hidden: Dense<IN, HIDDEN>,
    /// Hidden → output (linear).
    pub output: Dense<HIDDEN, OUT>,
}

impl<const IN: usize, const HIDDEN: usize, const OUT: usize> Mlp1<IN, HIDDEN, OUT> {
    /// A network from its layers.
    pub fn from_layers(
        activation: Activation,
        hidden: Dense<IN, HIDDEN>,
        output: Dense<HIDDEN, OUT>,
    ) -> Self {
        Self { activation, hidden, output }
    }

    /// Seeded initialisation ([`Activation::init_std`]; the output layer uses Glorot), drawn
    /// from sample stream 0 of `seed` ([`Streams`]).
    pub fn init(activation: Activation, seed: u64) -> Self {
        let mut rng = Streams::<f32>::new(seed, 0);
        let hidden = Dense::random(activation.init_std(IN, HIDDEN), &mut rng);
        let output = Dense::random(Activation::Tanh.init_std(HIDDEN, OUT), &mut rng);
        Self { activation, hidden, output }
    }
}

impl<const IN: usize, const HIDDEN: usize, const OUT: usize> Network<IN, OUT>
    for Mlp1<IN, HIDDEN, OUT>
{
    #[inline]
    fn forward<R: Real>(&self, x: &[R; IN]) -> [R; OUT] {
        let h = self.hidden.apply_act(x, self.activation);
        self.output.apply(&h)
    }
}

/// A perceptron with two hidden layers: IN → HIDDEN → HIDDEN → OUT, `act` after each hidden
/// layer.
///
/// Size: `4·(HIDDEN·(IN + 1) + HIDDEN·(HIDDEN + 1) + OUT·(HIDDEN + 1))` bytes, held inline
/// (2 → 64 → 64 → 2: 17 672 bytes). Evaluation keeps two `[R; HIDDEN]` arrays on the stack
/// (for `f32x8` and HIDDEN = 64: 2 KiB each).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Mlp2<const IN: usize, const HIDDEN: usize, const OUT: usize> {
    /// The hidden-layer nonlinearity.
    pub activation: Activation,
    /// Input → first hidden.
    pub hidden1: Dense<IN, HIDDEN>,
    /// First hidden → second hidden.
    pub hidden2: Dense<HIDDEN, HIDDEN>,
    /// Second hidden → output (linear).
    pub output: Dense<HIDDEN, OUT>,
}

impl<const IN: usize, const HIDDEN: usize, const OUT: usize> Mlp2<IN, HIDDEN, OUT> {
    /// A network from its layers.
    pub fn from_layers(
        activation: Activation,
        hidden1: Dense<IN, HIDDEN>,
        hidden2: Dense<HIDDEN, HIDDEN>,
        output: Dense<HIDDEN, OUT>,
    ) -> Self {
        Self { activation, hidden1, hidden2, output }
    }

    /// Seeded initialisation ([`Activation::init_std`]; the output layer uses Glorot), drawn
    /// from sample stream 0 of `seed` ([`Streams`]).
    pub fn init(activation: Activation, seed: u64) -> Self {
        let mut rng = Streams::<f32>::new(seed, 0);
        let hidden1 = Dense::random(activation.init_std(IN, HIDDEN), &mut rng);
        let hidden2 = Dense::random(activation.init_std(HIDDEN, HIDDEN), &mut rng);
        let output = Dense::random(Activation::Tanh.init_std(HIDDEN, OUT), &mut rng);
        Self { activation, hidden1, hidden2, output }
    }
}

impl<const IN: usize, const HIDDEN: usize, const OUT: usize> Network<IN, OUT>
    for Mlp2<IN, HIDDEN, OUT>
{
    #[inline]
    fn forward<R: Real>(&self, x: &[R; IN]) -> [R; OUT] {
        let h1 = self.hidden1.apply_act(x, self.activation);
        let h2 = self.hidden2.apply_act(&h1, self.activation);
        self.output.apply(&h2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wide::f32x8;

    #[test]
    fn dense_matches_hand_computation() {
        let d =
            Dense::from_params([[1.0, 2.0], [-0.5, 0.25], [0.0, 3.0]], [0.5, -1.0, 2.0]).unwrap();
        let y = d.apply(&[2.0f64, -4.0]);
        assert_eq!(y, [2.0 - 8.0 + 0.5, -1.0 - 1.0 - 1.0, -12.0 + 2.0]);
    }

    #[test]
    fn activations_are_their_formulas() {
        for x in [-3.0f64, -0.5, 0.0, 0.7, 4.0] {
            assert_eq!(Activation::Relu.apply(x), x.max(0.0));
            assert!((Activation::Tanh.apply(x) - x.tanh()).abs() < 1e-15);
            assert!((Activation::Silu.apply(x) - x / (1.0 + (-x).exp())).abs() < 1e-15);
        }
        assert!(Activation::Relu.apply(f64::NAN).is_nan());
    }

    #[test]
    fn from_params_rejects_non_finite() {
        assert_eq!(
            Dense::<1, 1>::from_params([[f32::NAN]], [0.0]),
            Err(Error::NonFinite("dense weight"))
        );
        assert_eq!(
            Dense::<1, 1>::from_params([[0.0]], [f32::INFINITY]),
            Err(Error::NonFinite("dense bias"))
        );
    }

    #[test]
    fn init_is_seeded_and_scaled() {
        let a = Mlp2::<2, 64, 2>::init(Activation::Relu, 7);
        assert_eq!(a, Mlp2::<2, 64, 2>::init(Activation::Relu, 7));
        assert_ne!(a, Mlp2::<2, 64, 2>::init(Activation::Relu, 8));
        // He: the 64·64 second-layer weights have variance 2/64; the sample variance of 4096
        // normals is within 10 % of it with overwhelming probability (sd of the ratio ≈ 2.2 %).
        let w = a.hidden2.weight();
        let var: f64 = w.iter().flatten().map(|&v| (v as f64).powi(2)).sum::<f64>() / 4096.0;
        assert!((var / (2.0 / 64.0) - 1.0).abs() < 0.1, "variance {var}");
    }

    #[test]
    fn scalar_and_f32x8_agree_bit_for_bit() {
        for act in [Activation::Tanh, Activation::Relu, Activation::Silu] {
            let net = Mlp2::<3, 16, 4>::init(act, 3);
            let xs: [[f32; 3]; 8] = core::array::from_fn(|j| {
                core::array::from_fn(|i| (j as f32 - 3.5) * 0.7 + i as f32)
            });
            let wide: [f32x8; 3] = core::array::from_fn(|i| {
                f32x8::from(core::array::from_fn::<f32, 8, _>(|j| xs[j][i]))
            });
            let yw = net.forward(&wide);
            for (j, x) in xs.iter().enumerate() {
                let ys = net.forward(x);
                for o in 0..4 {
                    assert_eq!(ys[o].to_bits(), yw[o].to_array()[j].to_bits());
                }
            }
        }
    }
}
