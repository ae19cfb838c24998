//! Dense layers and multilayer perceptrons with const-generic widths, with their backward passes.
//!
//! Evaluation is a fixed sequence of multiply-adds in a fixed order (no fused multiply-add), so
//! a sample's output bits do not depend on the lane width. Cost per sample: one multiply-add per
//! weight plus one activation per hidden unit; the backward pass costs two multiply-adds per
//! weight (input cotangent and weight gradient) and no transcendental (the activation's
//! derivative is kept from the forward pass). Initialisation: Glorot & Bengio (2010) normal for
//! tanh, He et al. (2015) normal for ReLU, SiLU and softplus, biases zero.
//!
//! ## Backward (MATH.md §7)
//! For y = W x + b with upstream cotangent ȳ: x̄ = Wᵀȳ, W̄ += ȳ xᵀ, b̄ += ȳ; for an activation
//! a = φ(z): z̄ = ā φ′(z). The backward is written over [`Real`] like the forward, so on dual
//! lanes it gives forward-over-reverse products. Register blocking: the forward computes four
//! outputs per pass over the inputs and the input cotangent four rows per pass over the outputs,
//! each sum still accumulated in the one fixed order (bias, then inputs in index order; rows in
//! index order), so the bits are those of the plain loops.

use crate::error::{Error, all_finite};
use crate::params::{GradSink, Offset, Params, check_len, split};
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
    /// ln(1 + eˣ) (ncsn's toy score network).
    Softplus,
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
            Activation::Softplus => x.softplus(),
        }
    }

    /// φ(x) and φ′(x) together, with one transcendental: tanh′ = 1 − tanh², ReLU′ = [x ≥ 0]
    /// (the branch the forward takes at 0), SiLU′ = σ(x)(1 + x(1 − σ(x))), softplus′ = σ(x).
    /// The value is bit-identical to [`Activation::apply`].
    #[inline(always)]
    pub fn apply_with_derivative<R: Real>(self, x: R) -> (R, R) {
        match self {
            Activation::Tanh => {
                let y = x.tanh();
                (y, R::one() - y * y)
            }
            Activation::Relu => {
                let neg = x.lt(R::zero());
                (R::select(neg, R::zero(), x), R::select(neg, R::zero(), R::one()))
            }
            Activation::Silu => {
                let s = x.sigmoid();
                (x * s, s * (R::one() + x * (R::one() - s)))
            }
            Activation::Softplus => (x.softplus(), x.sigmoid()),
        }
    }

    /// The standard deviation of the initial weights of a layer with these fan-in and fan-out:
    /// Glorot √(2/(fan_in + fan_out)) for tanh, He √(2/fan_in) for ReLU, SiLU and softplus.
    pub fn init_std(self, fan_in: usize, fan_out: usize) -> f32 {
        let v = match self {
            Activation::Tanh => 2.0 / (fan_in + fan_out).max(1) as f64,
            Activation::Relu | Activation::Silu | Activation::Softplus => {
                2.0 / fan_in.max(1) as f64
            }
        };
        libm::sqrt(v) as f32
    }
}

/// A network with a fixed input and output width, evaluated over any [`Real`].
pub trait Network<const IN: usize, const OUT: usize> {
    /// The output for one input per lane.
    fn forward<R: Real>(&self, x: &[R; IN]) -> [R; OUT];
}

/// A network with trainable parameters and a reverse-mode backward pass.
///
/// `forward_tape` evaluates the network and keeps what the backward needs (the tape);
/// `backward` takes the output cotangent ȳ, accumulates J_θᵀ ȳ into `grad` (layout of
/// [`Params`]) and returns the input cotangent x̄ = J_xᵀ ȳ. Both are written over [`Real`].
pub trait TrainableNetwork<const IN: usize, const OUT: usize>: Network<IN, OUT> + Params {
    /// What the forward keeps for the backward.
    type Tape<R: Real>: Copy;
    /// The output (bit-identical to [`Network::forward`]) and the tape.
    fn forward_tape<R: Real>(&self, x: &[R; IN]) -> ([R; OUT], Self::Tape<R>);
    /// Accumulate θ̄ += J_θᵀ ȳ into `grad` (offsets in the [`Params`] layout; a slice shorter
    /// than [`Params::LEN`] receives only what fits) and return x̄ = J_xᵀ ȳ.
    fn backward<R: Real, G: GradSink<R> + ?Sized>(
        &self,
        x: &[R; IN],
        tape: &Self::Tape<R>,
        ybar: &[R; OUT],
        grad: &mut G,
    ) -> [R; IN];
    /// As [`TrainableNetwork::backward`] without the input cotangent (cheaper for a first layer).
    fn backward_params<R: Real, G: GradSink<R> + ?Sized>(
        &self,
        x: &[R; IN],
        tape: &Self::Tape<R>,
        ybar: &[R; OUT],
        grad: &mut G,
    ) {
        let _ = self.backward(x, tape, ybar, grad);
    }
}

/// An affine layer y = W x + b with `f32` parameters (`4·OUT·(IN + 1)` bytes).
///
/// Parameter layout ([`Params`]): the weights row by row (`weight[o][i]` at `o·IN + i`), then
/// the biases.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Dense<const IN: usize, const OUT: usize> {
    weight: [[f32; IN]; OUT],
    bias: [f32; OUT],
}

impl<const IN: usize, const OUT: usize> Dense<IN, OUT> {
    /// A layer from its weight rows (`weight[o][i]` multiplies input `i` into output `o`) and
    /// biases. Any non-finite entry gives [`Error::NonFinite`].
    ///
    /// `const`, so that a model can be a `static` in flash, built at compile time.
    pub const fn from_params(weight: [[f32; IN]; OUT], bias: [f32; OUT]) -> Result<Self, Error> {
        let mut o = 0;
        while o < OUT {
            if let Err(e) = all_finite("dense weight", &weight[o]) {
                return Err(e);
            }
            o += 1;
        }
        if let Err(e) = all_finite("dense bias", &bias) {
            return Err(e);
        }
        Ok(Self { weight, bias })
    }

    /// Weights drawn N(0, std²) from `rng` row by row, biases zero.
    pub(crate) fn random<S: LaneSource<f32>>(std: f32, rng: &mut S) -> Self {
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

    /// The all-zero layer (a placeholder to load parameters into).
    pub const fn zeros() -> Self {
        Self { weight: [[0.0; IN]; OUT], bias: [0.0; OUT] }
    }

    /// The weight rows, to mask in place (a masked weight is 0, so the layer stays valid).
    pub(crate) const fn weight_mut(&mut self) -> &mut [[f32; IN]; OUT] {
        &mut self.weight
    }

    /// The weight rows and biases, to read parameters into in place (each value checked
    /// finite before it is written, so the layer stays valid).
    pub(crate) fn parts_mut(&mut self) -> (&mut [[f32; IN]; OUT], &mut [f32; OUT]) {
        (&mut self.weight, &mut self.bias)
    }

    /// y = W x + b, each output summed in input order (bias first).
    #[inline]
    pub fn apply<R: Real>(&self, x: &[R; IN]) -> [R; OUT] {
        let mut y = [R::zero(); OUT];
        let mut rows = self.weight.chunks_exact(4);
        let mut biases = self.bias.chunks_exact(4);
        let mut outs = y.chunks_exact_mut(4);
        for ((w, b), yo) in (&mut rows).zip(&mut biases).zip(&mut outs) {
            let (w0, w1, w2, w3) = (&w[0], &w[1], &w[2], &w[3]);
            let mut a0 = R::from_f32(b[0]);
            let mut a1 = R::from_f32(b[1]);
            let mut a2 = R::from_f32(b[2]);
            let mut a3 = R::from_f32(b[3]);
            for i in 0..IN {
                let xi = x[i];
                a0 += R::from_f32(w0[i]) * xi;
                a1 += R::from_f32(w1[i]) * xi;
                a2 += R::from_f32(w2[i]) * xi;
                a3 += R::from_f32(w3[i]) * xi;
            }
            yo[0] = a0;
            yo[1] = a1;
            yo[2] = a2;
            yo[3] = a3;
        }
        let tail = rows.remainder().iter().zip(biases.remainder()).zip(outs.into_remainder());
        for ((row, &b), yo) in tail {
            let mut acc = R::from_f32(b);
            for (&w, &xi) in row.iter().zip(x.iter()) {
                acc += R::from_f32(w) * xi;
            }
            *yo = acc;
        }
        y
    }

    /// The layer followed by `act` on every output, with the activation's derivative.
    #[inline]
    fn apply_act_tape<R: Real>(&self, x: &[R; IN], act: Activation) -> ([R; OUT], [R; OUT]) {
        let mut y = self.apply(x);
        let mut d = [R::zero(); OUT];
        for (v, dv) in y.iter_mut().zip(d.iter_mut()) {
            let (a, da) = act.apply_with_derivative(*v);
            *v = a;
            *dv = da;
        }
        (y, d)
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

    /// Accumulate W̄ += ȳ xᵀ and b̄ += ȳ into `grad` (layout of [`Params`]).
    #[inline]
    pub fn backward_params<R: Real, G: GradSink<R> + ?Sized>(
        &self,
        x: &[R; IN],
        ybar: &[R; OUT],
        grad: &mut G,
    ) {
        grad.dense(0, ybar, x);
    }

    /// As [`Dense::backward_params`], but only the weights where `keep(o, i)` holds receive a
    /// gradient (a masked layer's structurally zero weights are not parameters of the model).
    /// The weight gradient is formed in a local array and handed over with one `add`, the
    /// masked entries as −0 (the identity of `+=`, so they stay exactly what they were), then
    /// the biases with another.
    #[inline]
    pub(crate) fn backward_params_masked<R: Real, G: GradSink<R> + ?Sized>(
        &self,
        x: &[R; IN],
        ybar: &[R; OUT],
        grad: &mut G,
        keep: impl Fn(usize, usize) -> bool,
    ) {
        let nz = -R::zero();
        let mut gw = [[nz; IN]; OUT];
        for (o, (grow, &yo)) in gw.iter_mut().zip(ybar.iter()).enumerate() {
            for (i, (g, &xi)) in grow.iter_mut().zip(x.iter()).enumerate() {
                if keep(o, i) {
                    *g = yo * xi;
                }
            }
        }
        grad.add(0, gw.as_flattened());
        grad.add(OUT * IN, ybar);
    }

    /// x̄ = Wᵀ ȳ, each input's sum taken over the rows in index order.
    #[inline]
    pub fn backward_input<R: Real>(&self, ybar: &[R; OUT]) -> [R; IN] {
        let mut xbar = [R::zero(); IN];
        let mut rows = self.weight.chunks_exact(4);
        let mut ys = ybar.chunks_exact(4);
        for (w, y) in (&mut rows).zip(&mut ys) {
            let (w0, w1, w2, w3) = (&w[0], &w[1], &w[2], &w[3]);
            let (y0, y1, y2, y3) = (y[0], y[1], y[2], y[3]);
            for i in 0..IN {
                let mut acc = xbar[i];
                acc += R::from_f32(w0[i]) * y0;
                acc += R::from_f32(w1[i]) * y1;
                acc += R::from_f32(w2[i]) * y2;
                acc += R::from_f32(w3[i]) * y3;
                xbar[i] = acc;
            }
        }
        for (row, &yo) in rows.remainder().iter().zip(ys.remainder()) {
            for (xb, &w) in xbar.iter_mut().zip(row.iter()) {
                *xb += R::from_f32(w) * yo;
            }
        }
        xbar
    }

    /// Both halves of the backward: accumulate the parameter gradient, return x̄.
    #[inline]
    pub fn backward<R: Real, G: GradSink<R> + ?Sized>(
        &self,
        x: &[R; IN],
        ybar: &[R; OUT],
        grad: &mut G,
    ) -> [R; IN] {
        self.backward_params(x, ybar, grad);
        self.backward_input(ybar)
    }
}

impl<const IN: usize, const OUT: usize> Params for Dense<IN, OUT> {
    const LEN: usize = OUT * (IN + 1);

    fn write_params(&self, out: &mut [f32]) -> Result<(), Error> {
        check_len("dense params", out.len(), Self::LEN)?;
        let (ow, ob) = split(out, OUT * IN);
        for (dst, src) in ow.iter_mut().zip(self.weight.iter().flatten()) {
            *dst = *src;
        }
        ob.copy_from_slice(&self.bias);
        Ok(())
    }

    fn read_params(&mut self, src: &[f32]) -> Result<(), Error> {
        check_len("dense params", src.len(), Self::LEN)?;
        all_finite("dense params", src)?;
        for (dst, s) in self.weight.iter_mut().flatten().zip(src.iter()) {
            *dst = *s;
        }
        for (dst, s) in self.bias.iter_mut().zip(src.iter().skip(OUT * IN)) {
            *dst = *s;
        }
        Ok(())
    }
}

impl<const IN: usize, const OUT: usize> Network<IN, OUT> for Dense<IN, OUT> {
    #[inline]
    fn forward<R: Real>(&self, x: &[R; IN]) -> [R; OUT] {
        self.apply(x)
    }
}

impl<const IN: usize, const OUT: usize> TrainableNetwork<IN, OUT> for Dense<IN, OUT> {
    type Tape<R: Real> = ();
    #[inline]
    fn forward_tape<R: Real>(&self, x: &[R; IN]) -> ([R; OUT], ()) {
        (self.apply(x), ())
    }
    #[inline]
    fn backward<R: Real, G: GradSink<R> + ?Sized>(
        &self,
        x: &[R; IN],
        _: &(),
        ybar: &[R; OUT],
        grad: &mut G,
    ) -> [R; IN] {
        Dense::backward(self, x, ybar, grad)
    }
    #[inline]
    fn backward_params<R: Real, G: GradSink<R> + ?Sized>(
        &self,
        x: &[R; IN],
        _: &(),
        ybar: &[R; OUT],
        grad: &mut G,
    ) {
        Dense::backward_params(self, x, ybar, grad)
    }
}

/// A multilayer perceptron IN → H → (H → H)×EXTRA → OUT, `activation` after every hidden layer,
/// a linear output. [`Mlp1`] (one hidden layer) and [`Mlp2`] (two) are its common shapes.
///
/// Size: `4·(H·(IN + 1) + EXTRA·H·(H + 1) + OUT·(H + 1))` bytes, held inline (no heap)
/// (2 → 64 → 64 → 2: 17 672 bytes). Evaluation keeps two `[R; H]` arrays on the stack; the
/// tape for the backward keeps two per hidden layer (activation and its derivative).
///
/// Parameter layout ([`Params`]): input layer, hidden layers in order, output layer, each as
/// [`Dense`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Mlp<const IN: usize, const H: usize, const OUT: usize, const EXTRA: usize> {
    /// The hidden-layer nonlinearity.
    pub activation: Activation,
    /// Input → first hidden.
    pub input: Dense<IN, H>,
    /// The further hidden layers, in order.
    pub hidden: [Dense<H, H>; EXTRA],
    /// Last hidden → output (linear).
    pub output: Dense<H, OUT>,
}

/// One hidden layer: IN → HIDDEN → OUT.
pub type Mlp1<const IN: usize, const HIDDEN: usize, const OUT: usize> = Mlp<IN, HIDDEN, OUT, 0>;
/// Two hidden layers: IN → HIDDEN → HIDDEN → OUT.
pub type Mlp2<const IN: usize, const HIDDEN: usize, const OUT: usize> = Mlp<IN, HIDDEN, OUT, 1>;

impl<const IN: usize, const H: usize, const OUT: usize, const EXTRA: usize> Mlp<IN, H, OUT, EXTRA> {
    /// A network from its layers.
    pub fn new(
        activation: Activation,
        input: Dense<IN, H>,
        hidden: [Dense<H, H>; EXTRA],
        output: Dense<H, OUT>,
    ) -> Self {
        Self { activation, input, hidden, output }
    }

    /// The all-zero network with `activation` (a placeholder to load parameters into).
    pub const fn zeros(activation: Activation) -> Self {
        Self {
            activation,
            input: Dense::zeros(),
            hidden: [Dense::zeros(); EXTRA],
            output: Dense::zeros(),
        }
    }

    /// Seeded initialisation ([`Activation::init_std`]; the output layer uses Glorot), drawn
    /// layer by layer from sample stream 0 of `seed` ([`Streams`]).
    pub fn init(activation: Activation, seed: u64) -> Self {
        let mut rng = Streams::<f32>::new(seed, 0);
        let input = Dense::random(activation.init_std(IN, H), &mut rng);
        let hidden = core::array::from_fn(|_| Dense::random(activation.init_std(H, H), &mut rng));
        let output = Dense::random(Activation::Tanh.init_std(H, OUT), &mut rng);
        Self { activation, input, hidden, output }
    }

    /// The activation of the last hidden layer on the tape.
    #[inline(always)]
    fn last<R: Real>(tape: &MlpTape<R, H, EXTRA>) -> &[R; H] {
        match tape.a.last() {
            Some(a) => a,
            None => &tape.a0,
        }
    }
}

impl<const IN: usize, const H: usize, const OUT: usize> Mlp1<IN, H, OUT> {
    /// A one-hidden-layer network from its layers.
    pub fn from_layers(
        activation: Activation,
        hidden: Dense<IN, H>,
        output: Dense<H, OUT>,
    ) -> Self {
        Self::new(activation, hidden, [], output)
    }
}

impl<const IN: usize, const H: usize, const OUT: usize> Mlp2<IN, H, OUT> {
    /// A two-hidden-layer network from its layers.
    pub fn from_layers(
        activation: Activation,
        hidden1: Dense<IN, H>,
        hidden2: Dense<H, H>,
        output: Dense<H, OUT>,
    ) -> Self {
        Self::new(activation, hidden1, [hidden2], output)
    }
}

impl<const IN: usize, const H: usize, const OUT: usize, const EXTRA: usize> Network<IN, OUT>
    for Mlp<IN, H, OUT, EXTRA>
{
    #[inline]
    fn forward<R: Real>(&self, x: &[R; IN]) -> [R; OUT] {
        let mut h = self.input.apply_act(x, self.activation);
        for layer in &self.hidden {
            h = layer.apply_act(&h, self.activation);
        }
        self.output.apply(&h)
    }
}

/// What an [`Mlp`]'s forward keeps for its backward: each hidden layer's activation and the
/// activation's derivative.
#[derive(Clone, Copy, Debug)]
pub struct MlpTape<R, const H: usize, const EXTRA: usize> {
    pub(crate) a0: [R; H],
    pub(crate) d0: [R; H],
    pub(crate) a: [[R; H]; EXTRA],
    pub(crate) d: [[R; H]; EXTRA],
}

impl<const IN: usize, const H: usize, const OUT: usize, const EXTRA: usize> Params
    for Mlp<IN, H, OUT, EXTRA>
{
    const LEN: usize = <Dense<IN, H> as Params>::LEN
        + EXTRA * <Dense<H, H> as Params>::LEN
        + <Dense<H, OUT> as Params>::LEN;

    fn write_params(&self, out: &mut [f32]) -> Result<(), Error> {
        check_len("mlp params", out.len(), Self::LEN)?;
        let (a, rest) = split(out, <Dense<IN, H> as Params>::LEN);
        let (b, c) = split(rest, EXTRA * <Dense<H, H> as Params>::LEN);
        self.input.write_params(a)?;
        self.hidden.write_params(b)?;
        self.output.write_params(c)
    }

    fn read_params(&mut self, src: &[f32]) -> Result<(), Error> {
        check_len("mlp params", src.len(), Self::LEN)?;
        all_finite("mlp params", src)?;
        let mut new = *self;
        let (a, rest) = src.split_at(<Dense<IN, H> as Params>::LEN.min(src.len()));
        let (b, c) = rest.split_at((EXTRA * <Dense<H, H> as Params>::LEN).min(rest.len()));
        new.input.read_params(a)?;
        new.hidden.read_params(b)?;
        new.output.read_params(c)?;
        *self = new;
        Ok(())
    }
}

impl<const IN: usize, const H: usize, const OUT: usize, const EXTRA: usize>
    TrainableNetwork<IN, OUT> for Mlp<IN, H, OUT, EXTRA>
{
    type Tape<R: Real> = MlpTape<R, H, EXTRA>;

    #[inline]
    fn forward_tape<R: Real>(&self, x: &[R; IN]) -> ([R; OUT], MlpTape<R, H, EXTRA>) {
        let (a0, d0) = self.input.apply_act_tape(x, self.activation);
        let mut tape = MlpTape { a0, d0, a: [[R::zero(); H]; EXTRA], d: [[R::zero(); H]; EXTRA] };
        let mut prev = a0;
        for (k, layer) in self.hidden.iter().enumerate() {
            let (a, d) = layer.apply_act_tape(&prev, self.activation);
            tape.a[k] = a;
            tape.d[k] = d;
            prev = a;
        }
        (self.output.apply(&prev), tape)
    }

    #[inline]
    fn backward<R: Real, G: GradSink<R> + ?Sized>(
        &self,
        x: &[R; IN],
        tape: &MlpTape<R, H, EXTRA>,
        ybar: &[R; OUT],
        grad: &mut G,
    ) -> [R; IN] {
        let zbar = self.backward_hidden(tape, ybar, grad);
        self.input.backward(x, &zbar, grad)
    }

    #[inline]
    fn backward_params<R: Real, G: GradSink<R> + ?Sized>(
        &self,
        x: &[R; IN],
        tape: &MlpTape<R, H, EXTRA>,
        ybar: &[R; OUT],
        grad: &mut G,
    ) {
        let zbar = self.backward_hidden(tape, ybar, grad);
        self.input.backward_params(x, &zbar, grad);
    }
}

impl<const IN: usize, const H: usize, const OUT: usize, const EXTRA: usize> Mlp<IN, H, OUT, EXTRA> {
    /// The backward through the output and the hidden layers: accumulates their gradients and
    /// returns the cotangent of the first layer's pre-activation.
    #[inline]
    fn backward_hidden<R: Real, G: GradSink<R> + ?Sized>(
        &self,
        tape: &MlpTape<R, H, EXTRA>,
        ybar: &[R; OUT],
        grad: &mut G,
    ) -> [R; H] {
        let l_in = <Dense<IN, H> as Params>::LEN;
        let l_h = <Dense<H, H> as Params>::LEN;
        let out_at = l_in + EXTRA * l_h;
        let mut abar = self.output.backward(Self::last(tape), ybar, &mut Offset::new(grad, out_at));
        for k in (0..EXTRA).rev() {
            let zbar: [R; H] = crate::lane::array_fn(|j| abar[j] * tape.d[k][j]);
            let prev = if k == 0 { &tape.a0 } else { &tape.a[k - 1] };
            abar = self.hidden[k].backward(prev, &zbar, &mut Offset::new(grad, l_in + k * l_h));
        }
        crate::lane::array_fn(|j| abar[j] * tape.d0[j])
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
        let w = a.hidden[0].weight();
        let var: f64 = w.iter().flatten().map(|&v| (v as f64).powi(2)).sum::<f64>() / 4096.0;
        assert!((var / (2.0 / 64.0) - 1.0).abs() < 0.1, "variance {var}");
    }

    #[test]
    fn scalar_and_f32x8_agree_bit_for_bit() {
        for act in [Activation::Tanh, Activation::Relu, Activation::Silu] {
            let net = Mlp2::<3, 16, 4>::init(act, 3);
            let xs: [[f32; 3]; 8] = crate::lane::array_fn(|j| {
                crate::lane::array_fn(|i| (j as f32 - 3.5) * 0.7 + i as f32)
            });
            let wide: [f32x8; 3] = crate::lane::array_fn(|i| {
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
