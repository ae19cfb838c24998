//! Normalizing flows (MATH.md §1): the [`Bijector`] trait, its layers ([`Affine`], [`Planar`],
//! [`Radial`]), heap-free composition (tuples and `[B; K]` arrays), and [`Flow`], which pairs a
//! base distribution with a bijector to sample and score.
//!
//! Change of variables for x = f(z), z ~ p_Z: log p_X(x) = log p_Z(f⁻¹(x)) + log|det ∂f⁻¹/∂x|.
//! Sampling draws z, applies the layers and accumulates their log-determinants in one pass
//! ([`Flow::sample_and_log_prob`]); scoring a given x needs the inverse pass ([`Flow::log_prob`]).
//! All layers store their parameters as `f32`, validate them at construction, and prepare
//! everything that depends only on parameters (the planar û and wᵀû, the radial α and β, the
//! affine log-determinant) once, so each layer costs O(D) per point.
//!
//! Training (MATH.md §7): every layer is [`Params`](crate::params::Params) (its unconstrained
//! parameters), and has hand-written backward passes in the density direction
//! ([`TrainableInverse`]: all layers but planar and radial, whose inverses are a solve or a
//! root) and/or the sampling direction ([`TrainableForward`]: all layers but MAF, whose forward
//! takes D passes); [`Flow::nll_backward`] gives the negative log-likelihood's gradient.
//!
//! ## Errors, not panics
//! - Constructors validate: a NaN or infinite parameter gives [`Error::NonFinite`]; a finite but
//!   invalid one (a zero affine scale, a box with lo ≥ hi) gives [`Error::InvalidParameter`].
//! - Evaluation never panics and never loops unboundedly. Every operation is lane-wise: a NaN (or
//!   infinite) input in one lane of an `f32x8` gives NaN (or ±∞) in that lane's outputs only;
//!   the other lanes are bit-identical to what they would be alone.
//! - The planar inverse is iterative: it stops after [`planar::PLANAR_INVERSE_MAX_ITERS`]
//!   iterations and returns [`Error::NotConverged`]`("planar inverse")` if a *finite* lane has
//!   not converged; non-finite lanes do not count as unconverged. Inverses of a chain propagate
//!   the first error (`?`), and the batched functions return it for the whole batch.
//! - The batched functions check that their output slices match the input length
//!   ([`Error::InvalidParameter`] otherwise) instead of indexing out of bounds.
//!
//! ## Reproducibility
//! Batched sampling gives sample `first_index + i` the stream `Streams::new(seed, first_index + i)`
//! and runs the `f32` batch lanes ([`WideScalar::Wide`], two `f32x8`) over full chunks of 16 and
//! scalar `f32` over the tail. Every lane operation is
//! exact or built from exact primitives ([`crate::math`]), so batch size and lane width never
//! change a sample or its log-probability, bit for bit.

use core::ops::Range;

use crate::batch::{ChunkKernel, WideScalar, for_each_chunk, gather, part, part_mut, scatter};
use crate::dist::Distribution;
use crate::error::Error;
use crate::lane::{Lane, Scalar};
use crate::real::Real;
use crate::rng::{LaneSource, Streams};

pub mod affine;
mod compose;
pub mod planar;
pub mod radial;
pub mod train;

pub use affine::Affine;
pub use planar::Planar;
pub use radial::Radial;
pub use train::{TrainableForward, TrainableInverse};

/// An invertible map f: ℝᴰ → ℝᴰ with a tractable log-determinant, evaluated over any [`Real`].
///
/// `forward` maps the base side to the data side (z → x = f(z)) and returns log|det ∂f/∂z|;
/// `inverse` maps x → z = f⁻¹(x) and returns log|det ∂f⁻¹/∂x| (= −log|det ∂f/∂z| at z).
/// Neither panics. A NaN lane yields NaN in that lane only. Layers whose inverse is iterative
/// return [`Error::NotConverged`] if a finite lane fails to converge in the bounded iterations.
pub trait Bijector<const D: usize> {
    /// x = f(z) and log|det ∂f/∂z|.
    fn forward<R: Real>(&self, z: [R; D]) -> ([R; D], R);
    /// z = f⁻¹(x) and log|det ∂f⁻¹/∂x|.
    fn inverse<R: Real>(&self, x: [R; D]) -> Result<([R; D], R), Error>;
}

/// A reference to a bijector is the bijector: a [`Flow`] can borrow its layers (e.g. a
/// `static` in a microcontroller's flash) instead of holding a copy.
impl<const D: usize, B: Bijector<D> + ?Sized> Bijector<D> for &B {
    #[inline(always)]
    fn forward<R: Real>(&self, z: [R; D]) -> ([R; D], R) {
        (**self).forward(z)
    }
    #[inline(always)]
    fn inverse<R: Real>(&self, x: [R; D]) -> Result<([R; D], R), Error> {
        (**self).inverse(x)
    }
}

/// Machine epsilon (2^−mantissa bits) of the lane scalar under `R`, as `f64`.
#[inline(always)]
pub(crate) fn eps_of<R: Real>() -> f64 {
    let bits = <<R::Lane as Lane>::Scalar as Scalar>::MANTISSA_BITS;
    1.0 / (1u64 << bits) as f64
}

/// A normalizing flow: a base distribution p_Z and a bijector f, x = f(z).
///
/// `B` is any [`Bijector`], e.g. a single layer, a tuple of layers or an array `[Planar<2>; 10]`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Flow<Base, B> {
    /// The base distribution p_Z.
    pub base: Base,
    /// The bijector f (base side → data side).
    pub bijector: B,
}

impl<Base, B> Flow<Base, B> {
    /// The flow x = f(z), z ~ `base`.
    pub fn new(base: Base, bijector: B) -> Self {
        Self { base, bijector }
    }

    /// One sample per lane: z ~ p_Z, x = f(z). Cost: the base draw plus one forward pass.
    #[inline]
    pub fn sample<L: Lane, S: LaneSource<L>, const D: usize>(&self, rng: &mut S) -> [L; D]
    where
        Base: Distribution<D>,
        B: Bijector<D>,
    {
        let z = self.base.sample(rng);
        self.bijector.forward(z).0
    }

    crate::math::with_inlined! {
    /// One sample per lane and its log-density, in one forward pass:
    /// log p(x) = log p_Z(z) − log|det ∂f/∂z|. Uses the same draws as [`Flow::sample`].
    pub fn sample_and_log_prob / sample_and_log_prob_inlined
        <L: Lane, S: LaneSource<L>, const D: usize>(&self, rng: &mut S) -> ([L; D], L)
    where
        Base: Distribution<D>,
        B: Bijector<D>,
    {
        let z = self.base.sample(rng);
        let base_lp: L = self.base.log_prob(&z);
        let (x, log_det) = self.bijector.forward(z);
        (x, base_lp - log_det)
    }
    }

    /// log p(x) per lane by the inverse pass: log p_Z(f⁻¹(x)) + log|det ∂f⁻¹/∂x|.
    ///
    /// Errors: whatever the bijector's inverse returns ([`Error::NotConverged`] for a planar
    /// layer whose solve fails on a finite lane).
    #[inline]
    pub fn log_prob<R: Real, const D: usize>(&self, x: [R; D]) -> Result<R, Error>
    where
        Base: Distribution<D>,
        B: Bijector<D>,
    {
        let (z, log_det) = self.bijector.inverse(x)?;
        Ok(self.base.log_prob(&z) + log_det)
    }

    /// Samples `first_index .. first_index + out.len()` under `seed` into `out`; sample `i` uses
    /// `Streams::new(seed, first_index + i)`, [`WideScalar::Wide`] over full chunks of 16, `f32` for
    /// the tail.
    pub fn sample_batch<const D: usize>(&self, seed: u64, first_index: u64, out: &mut [[f32; D]])
    where
        Base: Distribution<D>,
        B: Bijector<D>,
    {
        let n = out.len();
        let mut k = SampleKernel { flow: self, seed, out, log_probs: None };
        // One slice: the length check cannot fail, and sampling has no error.
        let _ =
            for_each_chunk::<<f32 as WideScalar>::Wide, f32, _>(first_index, &[("out", n)], &mut k);
    }

    /// Samples and their log-densities (one forward pass each), with the streams of
    /// [`Flow::sample_batch`]; `out` and `log_probs` must have the same length.
    ///
    /// Errors: [`Error::InvalidParameter`] if the lengths differ (nothing is written).
    pub fn sample_and_log_prob_batch<const D: usize>(
        &self,
        seed: u64,
        first_index: u64,
        out: &mut [[f32; D]],
        log_probs: &mut [f32],
    ) -> Result<(), Error>
    where
        Base: Distribution<D>,
        B: Bijector<D>,
    {
        self.sample_and_log_prob_batch_on::<<f32 as WideScalar>::Wide, D>(
            seed,
            first_index,
            out,
            log_probs,
        )
    }

    /// [`Flow::sample_and_log_prob_batch`] with full chunks on the lane type `W` (the same bits
    /// for any `W`: a run-time dispatcher picks the widest lanes the machine has).
    #[inline(always)]
    pub fn sample_and_log_prob_batch_on<W: Lane<Scalar = f32>, const D: usize>(
        &self,
        seed: u64,
        first_index: u64,
        out: &mut [[f32; D]],
        log_probs: &mut [f32],
    ) -> Result<(), Error>
    where
        Base: Distribution<D>,
        B: Bijector<D>,
    {
        let lens = [("out", out.len()), ("log_probs", log_probs.len())];
        let mut k = SampleKernel { flow: self, seed, out, log_probs: Some(log_probs) };
        for_each_chunk::<W, f32, _>(first_index, &lens, &mut k)
    }

    /// log p(x) of every point of `xs` into `out` (same length), by the inverse pass:
    /// [`WideScalar::Wide`] over full chunks of 16, `f32` for the tail (bit-identical to scoring each point alone).
    ///
    /// Errors: [`Error::InvalidParameter`] if the lengths differ (nothing is written); the first
    /// inverse error of any chunk (e.g. [`Error::NotConverged`]), in which case the chunks
    /// before it are written.
    pub fn log_prob_batch<const D: usize>(
        &self,
        xs: &[[f32; D]],
        out: &mut [f32],
    ) -> Result<(), Error>
    where
        Base: Distribution<D>,
        B: Bijector<D>,
    {
        self.log_prob_batch_on::<<f32 as WideScalar>::Wide, D>(xs, out)
    }

    /// [`Flow::log_prob_batch`] with full chunks on the lane type `W` (the same bits for any
    /// `W`).
    #[inline(always)]
    pub fn log_prob_batch_on<W: Lane<Scalar = f32>, const D: usize>(
        &self,
        xs: &[[f32; D]],
        out: &mut [f32],
    ) -> Result<(), Error>
    where
        Base: Distribution<D>,
        B: Bijector<D>,
    {
        let lens = [("xs", xs.len()), ("out", out.len())];
        for_each_chunk::<W, f32, _>(0, &lens, &mut LogProbKernel { flow: self, xs, out })
    }
}

/// [`Flow::sample_batch`] and [`Flow::sample_and_log_prob_batch`] on one chunk.
struct SampleKernel<'a, F, const D: usize> {
    flow: &'a F,
    seed: u64,
    out: &'a mut [[f32; D]],
    log_probs: Option<&'a mut [f32]>,
}

impl<Base: Distribution<D>, B: Bijector<D>, const D: usize> ChunkKernel<f32>
    for SampleKernel<'_, Flow<Base, B>, D>
{
    #[inline(always)]
    fn chunk<L: Lane<Scalar = f32>>(
        &mut self,
        index: u64,
        items: Range<usize>,
    ) -> Result<(), Error> {
        let mut rng = Streams::<L>::new(self.seed, index);
        match self.log_probs.as_deref_mut() {
            None => scatter(&self.flow.sample::<L, _, D>(&mut rng), part_mut(self.out, &items)?),
            Some(lps) => {
                // Inlined for lanes that ask for it (see `Lane::INLINE_KERNELS`).
                let (x, lp) = if L::INLINE_KERNELS {
                    self.flow.sample_and_log_prob_inlined::<L, _, D>(&mut rng)
                } else {
                    self.flow.sample_and_log_prob::<L, _, D>(&mut rng)
                };
                scatter(&x, part_mut(self.out, &items)?);
                lp.store(part_mut(lps, &items)?);
            }
        }
        Ok(())
    }
}

/// [`Flow::log_prob_batch`] on one chunk.
struct LogProbKernel<'a, F, const D: usize> {
    flow: &'a F,
    xs: &'a [[f32; D]],
    out: &'a mut [f32],
}

impl<Base: Distribution<D>, B: Bijector<D>, const D: usize> ChunkKernel<f32>
    for LogProbKernel<'_, Flow<Base, B>, D>
{
    #[inline]
    fn chunk<L: Lane<Scalar = f32>>(&mut self, _: u64, items: Range<usize>) -> Result<(), Error> {
        let lp: L = self.flow.log_prob(gather::<L, D>(part(self.xs, &items)?))?;
        lp.store(part_mut(self.out, &items)?);
        Ok(())
    }
}

// The flow zoo.
pub mod actnorm;
pub mod coupling;
pub mod lu;
pub mod maf;
pub mod permute;
pub mod spline;
