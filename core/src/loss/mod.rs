//! Per-sample training losses with their parameter gradients (MATH.md §3, §7), and the
//! deterministic chunk reduction that sums them.
//!
//! Score matching ([`ScoreLoss`]): denoising with continuous t under VE / VP / sub-VP
//! ([`Dsm`]) or with discrete noise levels ([`DsmLevels`], NCSN), explicit with a known score
//! ([`ExplicitSm`]), sliced ([`Ssm`]) and implicit ([`Ism`]). Every random draw (t, noise,
//! projections) comes from the sample's own stream, so a loss and its gradient are a pure function
//! of (parameters, data point, seed, index). The sliced and implicit gradients are
//! forward-over-reverse: the score's backward runs on dual lanes whose input tangent is the
//! projection ([`crate::score::TrainableScore`]).
//!
//! ## Deterministic reduction
//! [`chunk_gradient`] sums the per-sample gradients of a chunk of data in a fixed order that does
//! not depend on the lane width: sample i's complete gradient gᵢ is added to slot i mod 8 in index
//! order, and the eight slots are combined by the pairwise tree ((s₀+s₁)+(s₂+s₃))+((s₄+s₅)+(s₆+s₇)).
//! `f32`, `f32x4` and `f32x8` give the same bits (lane j of an `f32x8` chunk is slot j). A trainer
//! cuts a batch into fixed chunks, whatever its thread count, and combines the chunk sums
//! pairwise in chunk order (MATH.md §7, "Determinism").

use crate::dual::Dual;
use crate::error::Error;
use crate::lane::Lane;
use crate::rng::{LaneSource, Streams};
use crate::score::TrainableScore;

mod dsm;
pub mod energy;
mod sm;

pub use dsm::{Dsm, DsmLevels, Weighting};
pub use sm::{ExplicitSm, Ism, Projection, Ssm};

/// The number of interleaved accumulation slots of [`chunk_gradient`] (the widest lane).
pub const SLOTS: usize = 8;

/// A score-matching loss: per sample, its value and the gradient of that value with respect to
/// the model's parameters.
pub trait ScoreLoss<const D: usize, M: TrainableScore<D>> {
    /// Whether [`ScoreLoss::loss_grad`] needs the dual scratch buffer (sliced and implicit).
    const NEEDS_DUAL: bool;

    /// The loss of the data point `x` (one per lane), drawing its randomness from `rng`, and
    /// its parameter gradient accumulated into `grad` (length `M::LEN`). `scratch` (length
    /// `M::LEN` when [`ScoreLoss::NEEDS_DUAL`], else unused) holds dual-lane gradients.
    fn loss_grad<L: Lane, G: LaneSource<L>>(
        &self,
        model: &M,
        x: &[L; D],
        rng: &mut G,
        grad: &mut [L],
        scratch: &mut [Dual<L, 1>],
    ) -> L;
}

/// The buffers [`chunk_gradient`] works in, all borrowed from the caller (nothing is
/// allocated). With P = the model's parameter count and W = the lane width:
#[derive(Debug)]
pub struct Workspace<'a, L: Lane> {
    /// P · 8/W lanes: the eight accumulation slots.
    pub slots: &'a mut [L],
    /// P lanes: one lane chunk's gradient.
    pub sample: &'a mut [L],
    /// P scalars: one tail sample's gradient.
    pub sample_scalar: &'a mut [f32],
    /// P dual lanes if the loss needs them, else may be empty.
    pub dual: &'a mut [Dual<L, 1>],
    /// P dual scalars if the loss needs them, else may be empty.
    pub dual_scalar: &'a mut [Dual<f32, 1>],
}

fn length_error(name: &'static str) -> Error {
    Error::InvalidParameter { name, reason: "length does not fit the model's parameter count" }
}

/// The sum over `data` of the per-sample loss gradients, into `out` (length P), in the fixed
/// order of the module doc; returns the sum of the per-sample losses (in f64, index order).
///
/// Sample `i` draws from stream `(seed, first_index + i)`: full chunks of `L::LANES` samples on
/// lane `L`, the tail one sample at a time on `f32`.
///
/// Errors: [`Error::InvalidParameter`] if a buffer's length does not fit P or `8` is not a
/// multiple of the lane width; [`Error::NonFinite`]`("gradient")` if a gradient entry is NaN or
/// infinite (`out` then holds the non-finite sums: the caller must not apply them).
pub fn chunk_gradient<L, const D: usize, M, Lo>(
    loss: &Lo,
    model: &M,
    data: &[[f32; D]],
    seed: u64,
    first_index: u64,
    ws: &mut Workspace<'_, L>,
    out: &mut [f32],
) -> Result<f64, Error>
where
    L: Lane<Scalar = f32>,
    M: TrainableScore<D>,
    Lo: ScoreLoss<D, M>,
{
    let p = M::LEN;
    let w = L::LANES;
    if w == 0 || SLOTS % w != 0 {
        return Err(Error::InvalidParameter { name: "lane", reason: "width must divide 8" });
    }
    let groups = SLOTS / w;
    if ws.slots.len() != p * groups {
        return Err(length_error("slots"));
    }
    if ws.sample.len() != p {
        return Err(length_error("sample"));
    }
    if ws.sample_scalar.len() != p {
        return Err(length_error("sample_scalar"));
    }
    if out.len() != p {
        return Err(length_error("out"));
    }
    if Lo::NEEDS_DUAL && (ws.dual.len() != p || ws.dual_scalar.len() != p) {
        return Err(length_error("dual"));
    }
    ws.slots.fill(<L as crate::real::Real>::zero());
    let mut loss_sum = 0.0f64;
    let mut chunks = data.chunks_exact(w);
    let mut index = 0usize;
    for chunk in &mut chunks {
        let x: [L; D] =
            core::array::from_fn(|d| L::from_fn(|j| chunk.get(j).map_or(0.0, |r| r[d])));
        let mut rng = Streams::<L>::new(seed, first_index.wrapping_add(index as u64));
        ws.sample.fill(<L as crate::real::Real>::zero());
        let l = loss.loss_grad(model, &x, &mut rng, ws.sample, ws.dual);
        for j in 0..w {
            loss_sum += l.extract(j) as f64;
        }
        let sub = (index % SLOTS) / w;
        let slot = ws.slots.chunks_exact_mut(p.max(1)).nth(sub).unwrap_or(&mut []);
        for (s, g) in slot.iter_mut().zip(ws.sample.iter()) {
            *s += *g;
        }
        index += w;
    }
    for x in chunks.remainder() {
        let mut rng = Streams::<f32>::new(seed, first_index.wrapping_add(index as u64));
        ws.sample_scalar.fill(0.0);
        loss_sum += loss.loss_grad(model, x, &mut rng, ws.sample_scalar, ws.dual_scalar) as f64;
        let j = index % SLOTS;
        let (sub, lane) = (j / w, j % w);
        let slot = ws.slots.chunks_exact_mut(p.max(1)).nth(sub).unwrap_or(&mut []);
        for (s, &g) in slot.iter_mut().zip(ws.sample_scalar.iter()) {
            *s = L::from_fn(|k| if k == lane { s.extract(k) + g } else { s.extract(k) });
        }
        index += 1;
    }
    let mut finite = true;
    for (k, o) in out.iter_mut().enumerate() {
        let v: [f32; SLOTS] = core::array::from_fn(|j| {
            ws.slots.get((j / w) * p + k).map_or(0.0, |s| s.extract(j % w))
        });
        *o = ((v[0] + v[1]) + (v[2] + v[3])) + ((v[4] + v[5]) + (v[6] + v[7]));
        finite &= o.is_finite();
    }
    if finite { Ok(loss_sum) } else { Err(Error::NonFinite("gradient")) }
}
