//! Learned score models: [`ScoreNet`] s_θ(x, t) = MLP([x, emb(t)]) / σ_t (MATH.md §7,
//! score_sde's toy convention) and the linear model [`LinearScore`] s(x) = A x + b, both
//! [`TrainableScore`]s, so every loss of [`crate::loss`] trains them and every sampler and the
//! probability-flow likelihood run on them unchanged.
//!
//! Conditioning ([`Conditioning`]): on the time of an SDE ([`SdeTime`], σ_t its marginal
//! standard deviation) or directly on a discrete noise level ([`NoiseLevel`], NCSN: the time
//! argument *is* σ). Output scaling ([`OutputScale`]): divided by σ, so the network predicts −ε
//! (score_sde), or unscaled.

use core::fmt::Debug;

use crate::error::Error;
use crate::nn::{Activation, Mlp, MlpTape, Network, TimeEmbedding, TrainableNetwork};
use crate::params::{GradSink, Params};
use crate::real::Real;
use crate::score::{ScoreModel, TrainableScore};
use crate::sde::Sde;

/// How a score network's time argument gives its noise level σ.
pub trait Conditioning: Copy + Debug {
    /// The noise level σ at the time argument `t`.
    fn sigma<R: Real>(&self, t: R) -> R;
}

/// Conditioning on the time of an SDE: σ = σ_t, its marginal standard deviation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SdeTime<S>(pub S);

impl<S: Sde + Copy + Debug> Conditioning for SdeTime<S> {
    #[inline(always)]
    fn sigma<R: Real>(&self, t: R) -> R {
        self.0.marginal(t).1
    }
}

/// Conditioning on a noise level: the time argument is σ itself (NCSN, annealed Langevin).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NoiseLevel;

impl Conditioning for NoiseLevel {
    #[inline(always)]
    fn sigma<R: Real>(&self, t: R) -> R {
        t
    }
}

/// What the network's output is divided by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputScale {
    /// s = MLP/σ (score_sde's `scale_by_sigma`): the network predicts −ε.
    InverseSigma,
    /// s = MLP.
    Unscaled,
}

/// A learned score network s_θ(x, t) = MLP([x, emb(τ)]) (/ σ), with `F` embedding frequencies,
/// MLP input width `IN = D + 2F`, hidden width `H` and `1 + EXTRA` hidden layers.
///
/// Parameters ([`Params`]): the MLP's (the embedding's frequencies are fixed at
/// initialisation). Cost per sample: F sin/cos pairs, the MLP, one division per output; the
/// backward adds two multiply-adds per weight.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScoreNet<
    C,
    const D: usize,
    const F: usize,
    const IN: usize,
    const H: usize,
    const EXTRA: usize,
> {
    /// The network MLP: [x, emb] → D.
    pub net: Mlp<IN, H, D, EXTRA>,
    /// The time embedding.
    pub embedding: TimeEmbedding<F>,
    /// How the time argument gives σ.
    pub conditioning: C,
    /// Whether the output is divided by σ.
    pub output: OutputScale,
}

/// What a [`ScoreNet`]'s forward keeps for its backward.
#[derive(Clone, Copy, Debug)]
pub struct ScoreNetTape<R, const IN: usize, const H: usize, const EXTRA: usize> {
    input: [R; IN],
    mlp: MlpTape<R, H, EXTRA>,
    sigma: R,
}

impl<
    C: Conditioning,
    const D: usize,
    const F: usize,
    const IN: usize,
    const H: usize,
    const EXTRA: usize,
> ScoreNet<C, D, F, IN, H, EXTRA>
{
    /// A score network from its parts. `IN = D + 2F` is checked at compile time.
    pub fn new(
        net: Mlp<IN, H, D, EXTRA>,
        embedding: TimeEmbedding<F>,
        conditioning: C,
        output: OutputScale,
    ) -> Self {
        const { assert!(IN == D + 2 * F, "ScoreNet: the MLP input width must be D + 2F") };
        Self { net, embedding, conditioning, output }
    }

    /// Seeded initialisation: the MLP from stream 0 of `seed` ([`Mlp::init`]), the given
    /// embedding.
    pub fn init(
        activation: Activation,
        embedding: TimeEmbedding<F>,
        conditioning: C,
        output: OutputScale,
        seed: u64,
    ) -> Self {
        Self::new(Mlp::init(activation, seed), embedding, conditioning, output)
    }

    /// The MLP input [x, emb(τ)] and σ.
    #[inline(always)]
    fn input<R: Real>(&self, x: &[R; D], t: R) -> ([R; IN], R) {
        let sigma = self.conditioning.sigma(t);
        let mut input = [R::zero(); IN];
        let (xs, emb) = input.split_at_mut(D.min(IN));
        xs.copy_from_slice(&x[..xs.len()]);
        self.embedding.embed_into(self.embedding.tau(t, sigma), emb);
        (input, sigma)
    }

    /// The output scaling applied to the MLP output.
    #[inline(always)]
    fn scale<R: Real>(&self, y: [R; D], sigma: R) -> [R; D] {
        match self.output {
            OutputScale::InverseSigma => y.map(|v| v / sigma),
            OutputScale::Unscaled => y,
        }
    }
}

impl<
    C: Conditioning,
    const D: usize,
    const F: usize,
    const IN: usize,
    const H: usize,
    const EXTRA: usize,
> ScoreModel<D> for ScoreNet<C, D, F, IN, H, EXTRA>
{
    #[inline]
    fn score<R: Real>(&self, x: &[R; D], t: R) -> [R; D] {
        let (input, sigma) = self.input(x, t);
        self.scale(self.net.forward(&input), sigma)
    }
}

impl<
    C: Conditioning,
    const D: usize,
    const F: usize,
    const IN: usize,
    const H: usize,
    const EXTRA: usize,
> Params for ScoreNet<C, D, F, IN, H, EXTRA>
{
    const LEN: usize = <Mlp<IN, H, D, EXTRA> as Params>::LEN;
    fn write_params(&self, out: &mut [f32]) -> Result<(), Error> {
        self.net.write_params(out)
    }
    fn read_params(&mut self, src: &[f32]) -> Result<(), Error> {
        self.net.read_params(src)
    }
}

impl<
    C: Conditioning,
    const D: usize,
    const F: usize,
    const IN: usize,
    const H: usize,
    const EXTRA: usize,
> TrainableScore<D> for ScoreNet<C, D, F, IN, H, EXTRA>
{
    type Tape<R: Real> = ScoreNetTape<R, IN, H, EXTRA>;

    #[inline]
    fn score_tape<R: Real>(&self, x: &[R; D], t: R) -> ([R; D], Self::Tape<R>) {
        let (input, sigma) = self.input(x, t);
        let (y, mlp) = self.net.forward_tape(&input);
        (self.scale(y, sigma), ScoreNetTape { input, mlp, sigma })
    }

    #[inline]
    fn score_backward<R: Real, G: GradSink<R> + ?Sized>(
        &self,
        tape: &Self::Tape<R>,
        sbar: &[R; D],
        grad: &mut G,
    ) {
        let ybar = self.scale(*sbar, tape.sigma);
        self.net.backward_params(&tape.input, &tape.mlp, &ybar, grad);
    }
}

/// The linear score model s(x) = A x + b (time-independent): the closed-form optimum of every
/// score-matching objective for Gaussian data is A = −Σ⁻¹, b = Σ⁻¹μ (MATH.md §7).
///
/// Parameters ([`Params`]): A row by row, then b.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LinearScore<const D: usize> {
    /// The affine map (weights A, bias b).
    pub map: crate::nn::Dense<D, D>,
}

impl<const D: usize> ScoreModel<D> for LinearScore<D> {
    #[inline]
    fn score<R: Real>(&self, x: &[R; D], _t: R) -> [R; D] {
        self.map.apply(x)
    }
}

impl<const D: usize> Params for LinearScore<D> {
    const LEN: usize = D * (D + 1);
    fn write_params(&self, out: &mut [f32]) -> Result<(), Error> {
        self.map.write_params(out)
    }
    fn read_params(&mut self, src: &[f32]) -> Result<(), Error> {
        self.map.read_params(src)
    }
}

impl<const D: usize> TrainableScore<D> for LinearScore<D> {
    type Tape<R: Real> = [R; D];
    #[inline]
    fn score_tape<R: Real>(&self, x: &[R; D], _t: R) -> ([R; D], [R; D]) {
        (self.map.apply(x), *x)
    }
    #[inline]
    fn score_backward<R: Real, G: GradSink<R> + ?Sized>(
        &self,
        tape: &[R; D],
        sbar: &[R; D],
        grad: &mut G,
    ) {
        self.map.backward_params(tape, sbar, grad);
    }
}
