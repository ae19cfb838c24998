//! Per-sample training losses with their parameter gradients (MATH.md §3, §7), and the
//! deterministic chunk reduction that sums them.
//!
//! Score matching ([`Loss`]): denoising with continuous t under VE / VP / sub-VP
//! ([`Dsm`]) or with discrete noise levels ([`DsmLevels`], NCSN), explicit with a known score
//! ([`ExplicitSm`]), sliced ([`Ssm`]) and implicit ([`Ism`]). Every random draw (t, noise,
//! projections) comes from the sample's own stream, so a loss and its gradient are a pure function
//! of (parameters, data point, seed, index). The sliced and implicit gradients are
//! forward-over-reverse: the score's backward runs on dual lanes whose input tangent is the
//! projection ([`crate::score::TrainableScore`]).
//!
//! ## Deterministic reduction, register-blocked
//! [`chunk_gradient`] sums the per-sample gradients of a chunk of data in a fixed order that does
//! not depend on the lane width. Sample i (its index in the chunk) belongs to slot i mod 8. The
//! chunk is cut into blocks: [64k, 64k + 64) up to the last multiple of 8, then the remainder.
//! Within a block, for each gradient call of the backward pass (a dense layer's W̄ += ȳxᵀ, b̄ += ȳ,
//! or a flat `add`), in call order, each slot sums its samples' contributions in index order
//! starting from −0 and adds that sum to its running total; the eight totals are combined by the
//! pairwise tree ((s₀+s₁)+(s₂+s₃))+((s₄+s₅)+(s₆+s₇)). So `f32`, `f32x4` and `f32x8` give the
//! same bits (lane j of an `f32x8` chunk is slot j). A trainer cuts a batch into fixed chunks,
//! whatever its thread count, and combines the chunk sums pairwise in chunk order (MATH.md §7,
//! "Determinism").
//!
//! Why blocks: a dense layer's weight gradient is an outer product per sample. Added to memory
//! sample by sample it costs a read and a write of the whole gradient per lane chunk (for a
//! 2 → 128 → 128 → 2 network: 600 KB per 8 samples), which bounds the speed by memory bandwidth.
//! The block recorder ([`GradSink`] on the recorded cotangents and inputs) keeps each
//! 2 × 4 tile of W̄ in registers over the block's 64 samples, so the gradient memory is touched
//! once per block (MATH.md §7; the same idea as a GEMM's register blocking).

use crate::dual::Dual;
use crate::error::Error;
use crate::lane::Lane;
use crate::params::{GradSink, Params};
use crate::real::Real;
use crate::rng::{LaneSource, Streams};

mod dsm;
pub mod energy;
mod flow;
mod sm;

pub use dsm::{DSM_EPS, Dsm, DsmLevels, Weighting};
pub use flow::{FlowNll, ReverseKl};
pub use sm::{ExplicitSm, Ism, Projection, Ssm};

/// The number of interleaved accumulation slots of [`chunk_gradient`] (the widest lane).
pub const SLOTS: usize = 8;
/// Samples per block of [`chunk_gradient`].
pub const BLOCK: usize = 64;
/// The most gradient calls one sample's backward may make (a recorder's descriptor table).
pub const MAX_CALLS: usize = 64;

/// Per-sample scratch space for the losses that differentiate on dual lanes (sliced, implicit):
/// both of the model's parameter count, or empty for the other losses.
#[derive(Debug)]
pub struct Scratch<'a, L: Lane> {
    /// Dual-lane gradient of one backward pass.
    pub dual: &'a mut [Dual<L, 1>],
    /// Its tangent parts, summed over the sample's passes.
    pub flat: &'a mut [L],
}

/// A per-sample training loss of a model `M`: its value and the gradient of that value with
/// respect to the model's parameters.
pub trait Loss<const D: usize, M: Params> {
    /// Whether [`Loss::loss_grad`] needs `scratch.dual` (sliced and implicit score matching).
    const NEEDS_DUAL: bool;
    /// Whether [`Loss::loss_grad`] needs `scratch.flat` (losses that form a sample's whole
    /// gradient before handing it to the sink: the dual-lane ones).
    const NEEDS_FLAT: bool;

    /// The loss of the data point `x` (one per lane), drawing its randomness from `rng`, and
    /// its parameter gradient accumulated into `grad`. `scratch` holds the buffers the loss
    /// asks for ([`Loss::NEEDS_DUAL`], [`Loss::NEEDS_FLAT`]), each of length `M::LEN`.
    /// A lane whose loss cannot be evaluated (e.g. an inverse that did not converge) returns a
    /// NaN loss.
    fn loss_grad<L: Lane, G: LaneSource<L>, K: GradSink<L> + ?Sized>(
        &self,
        model: &M,
        x: &[L; D],
        rng: &mut G,
        grad: &mut K,
        scratch: &mut Scratch<'_, L>,
    ) -> L;
}

/// One recorded gradient call: where it lands, its lengths, where its data sit in the record.
#[derive(Clone, Copy, Debug, Default)]
struct Call {
    offset: usize,
    /// ȳ length (dense) or v length (add).
    a: usize,
    /// x length (dense), 0 for add.
    b: usize,
    dense: bool,
    pos: usize,
}

/// A [`GradSink`] that records a block's gradient calls (cotangents and inputs) for a blocked
/// reduction into the slots.
struct Recorder<'a, L: Lane> {
    buf: &'a mut [L],
    calls: [Call; MAX_CALLS],
    ncalls: usize,
    cursor: usize,
    chunk: usize,
    chunks: usize,
    used: usize,
    error: Option<Error>,
}

impl<'a, L: Lane> Recorder<'a, L> {
    fn new(buf: &'a mut [L], chunks: usize) -> Self {
        Self {
            buf,
            calls: [Call::default(); MAX_CALLS],
            ncalls: 0,
            cursor: 0,
            chunk: 0,
            chunks,
            used: 0,
            error: None,
        }
    }

    fn fail(&mut self, reason: &'static str) {
        if self.error.is_none() {
            self.error = Some(Error::InvalidParameter { name: "gradient record", reason });
        }
    }

    /// Register or check the next call; the position of this chunk's data.
    fn call(&mut self, offset: usize, a: usize, b: usize, dense: bool) -> Option<usize> {
        if self.error.is_some() {
            return None;
        }
        let len = a + b;
        if self.chunk == 0 {
            if self.ncalls == MAX_CALLS {
                self.fail("more gradient calls per sample than MAX_CALLS");
                return None;
            }
            let need = self.used + len * self.chunks;
            if need > self.buf.len() {
                self.fail("buffer too small for a block (see record_len)");
                return None;
            }
            self.calls[self.ncalls] = Call { offset, a, b, dense, pos: self.used };
            self.ncalls += 1;
            self.used = need;
        }
        let c = *self.calls.get(self.cursor)?;
        if c.offset != offset || c.a != a || c.b != b || c.dense != dense {
            self.fail("samples made different gradient calls");
            return None;
        }
        self.cursor += 1;
        Some(c.pos + self.chunk * len)
    }

    fn next_chunk(&mut self) {
        if self.cursor != self.ncalls {
            self.fail("samples made different gradient calls");
        }
        self.chunk += 1;
        self.cursor = 0;
    }
}

impl<L: Lane> GradSink<L> for Recorder<'_, L> {
    #[inline]
    fn dense(&mut self, offset: usize, ybar: &[L], x: &[L]) {
        if let Some(pos) = self.call(offset, ybar.len(), x.len(), true) {
            let dst = self.buf.get_mut(pos..pos + ybar.len() + x.len()).unwrap_or(&mut []);
            let (dy, dx) = dst.split_at_mut(ybar.len().min(dst.len()));
            dy.copy_from_slice(&ybar[..dy.len()]);
            dx.copy_from_slice(&x[..dx.len()]);
        }
    }
    #[inline]
    fn add(&mut self, offset: usize, v: &[L]) {
        if let Some(pos) = self.call(offset, v.len(), 0, false) {
            let dst = self.buf.get_mut(pos..pos + v.len()).unwrap_or(&mut []);
            dst.copy_from_slice(&v[..dst.len()]);
        }
    }
}

/// Add the recorded block into the slots: for each call, each accumulator group g (lane chunks
/// c ≡ g mod groups) sums its chunks in order from −0, register-blocked 2 × 4 for dense calls.
fn flush<L: Lane>(rec: &Recorder<'_, L>, slots: &mut [L], p: usize, groups: usize) {
    let nz = <L as Lane>::splat(<L::Scalar as crate::lane::Scalar>::from_f64(-0.0));
    let chunks = rec.chunk;
    for call in &rec.calls[..rec.ncalls] {
        let len = call.a + call.b;
        let data = rec.buf.get(call.pos..call.pos + len * chunks).unwrap_or(&[]);
        for g in 0..groups.min(chunks) {
            let slot = slots.get_mut(g * p..(g + 1) * p).unwrap_or(&mut []);
            let dst = slot.get_mut(call.offset..).unwrap_or(&mut []);
            // The lane chunks of this group, each `len` long: ȳ then x.
            let group = data.chunks_exact(len.max(1)).skip(g).step_by(groups);
            if call.dense {
                dense_flush(group, call.a, call.b, dst, nz);
            } else {
                let (a, _) = dst.split_at_mut(call.a.min(dst.len()));
                let mut tiles = a.chunks_mut(4);
                let mut k = 0;
                for tile in &mut tiles {
                    let mut acc = [nz; 4];
                    for c in group.clone() {
                        for (j, v) in acc.iter_mut().enumerate().take(tile.len()) {
                            *v += c.get(k + j).copied().unwrap_or(nz);
                        }
                    }
                    for (d, v) in tile.iter_mut().zip(acc) {
                        *d += v;
                    }
                    k += 4;
                }
            }
        }
    }
}

/// W̄ (row-major a × b, then b̄) += Σ over the group's chunks of ȳ xᵀ (and ȳ), 2 × 4 tiles kept in
/// registers over the chunks.
#[inline]
fn dense_flush<'d, L: Lane>(
    group: impl Iterator<Item = &'d [L]> + Clone,
    a: usize,
    b: usize,
    dst: &mut [L],
    nz: L,
) {
    let (w, bias) = dst.split_at_mut((a * b).min(dst.len()));
    let mut o = 0;
    while o < a {
        let to = (a - o).min(2);
        let mut i = 0;
        while i < b {
            let ti = (b - i).min(4);
            let mut acc = [[nz; 4]; 2];
            if to == 2 && ti == 4 {
                for c in group.clone() {
                    let (y, x) = c.split_at(a.min(c.len()));
                    let (y0, y1) =
                        (y.get(o).copied().unwrap_or(nz), y.get(o + 1).copied().unwrap_or(nz));
                    let xs = x.get(i..i + 4).unwrap_or(&[]);
                    if let [x0, x1, x2, x3] = *xs {
                        acc[0][0] += y0 * x0;
                        acc[0][1] += y0 * x1;
                        acc[0][2] += y0 * x2;
                        acc[0][3] += y0 * x3;
                        acc[1][0] += y1 * x0;
                        acc[1][1] += y1 * x1;
                        acc[1][2] += y1 * x2;
                        acc[1][3] += y1 * x3;
                    }
                }
            } else {
                for c in group.clone() {
                    let (y, x) = c.split_at(a.min(c.len()));
                    for (r, row) in acc.iter_mut().enumerate().take(to) {
                        for (q, v) in row.iter_mut().enumerate().take(ti) {
                            let yv = y.get(o + r).copied().unwrap_or(nz);
                            let xv = x.get(i + q).copied().unwrap_or(nz);
                            *v += yv * xv;
                        }
                    }
                }
            }
            for (r, tile) in acc.iter().enumerate().take(to) {
                let row = w.get_mut((o + r) * b + i..(o + r) * b + i + ti).unwrap_or(&mut []);
                for (d, v) in row.iter_mut().zip(tile.iter().copied()) {
                    *d += v;
                }
            }
            i += 4;
        }
        o += 2;
    }
    // Biases: b̄[o] += Σ ȳ[o].
    for (k, d) in bias.iter_mut().enumerate().take(a) {
        let mut acc = nz;
        for c in group.clone() {
            acc += c.get(k).copied().unwrap_or(nz);
        }
        *d += acc;
    }
}

/// A [`GradSink`] of scalars that adds into one lane of the slots (the chunk's remainder).
struct LaneSink<'a, L: Lane> {
    slot: &'a mut [L],
    lane: usize,
}

impl<L: Lane<Scalar = f32>> LaneSink<'_, L> {
    #[inline]
    fn add_at(&mut self, k: usize, v: f32) {
        if let Some(s) = self.slot.get_mut(k) {
            let lane = self.lane;
            *s = L::from_fn(|j| if j == lane { s.extract(j) + v } else { s.extract(j) });
        }
    }
}

impl<L: Lane<Scalar = f32>> GradSink<f32> for LaneSink<'_, L> {
    fn dense(&mut self, offset: usize, ybar: &[f32], x: &[f32]) {
        let n = x.len();
        for (o, &y) in ybar.iter().enumerate() {
            for (i, &xi) in x.iter().enumerate() {
                self.add_at(offset + o * n + i, y * xi);
            }
        }
        for (o, &y) in ybar.iter().enumerate() {
            self.add_at(offset + ybar.len() * n + o, y);
        }
    }
    fn add(&mut self, offset: usize, v: &[f32]) {
        for (k, &a) in v.iter().enumerate() {
            self.add_at(offset + k, a);
        }
    }
}

/// The buffers [`chunk_gradient`] works in, all borrowed from the caller (nothing is
/// allocated). With P = the model's parameter count and W = the lane width:
#[derive(Debug)]
pub struct Workspace<'a, L: Lane> {
    /// P · 8/W lanes: the eight accumulation slots.
    pub slots: &'a mut [L],
    /// The block record: [`record_len`] lanes.
    pub record: &'a mut [L],
    /// Dual-lane scratch if the loss needs it ([`Loss::NEEDS_DUAL`]), else may be empty.
    pub scratch: Scratch<'a, L>,
    /// The same for the scalar remainder.
    pub scratch_scalar: Scratch<'a, f32>,
}

fn length_error(name: &'static str) -> Error {
    Error::InvalidParameter { name, reason: "length does not fit the model's parameter count" }
}

/// The record length (in lanes of `L`) that [`chunk_gradient`] needs for `loss` on `model`:
/// one block's worth of the cotangents and inputs of one sample's gradient calls, found by
/// evaluating one sample with a counting sink.
pub fn record_len<L, const D: usize, M, Lo>(
    loss: &Lo,
    model: &M,
    scratch: &mut Scratch<'_, L>,
) -> usize
where
    L: Lane<Scalar = f32>,
    M: Params,
    Lo: Loss<D, M>,
{
    struct Count(usize);
    impl<L> GradSink<L> for Count {
        fn dense(&mut self, _: usize, ybar: &[L], x: &[L]) {
            self.0 += ybar.len() + x.len();
        }
        fn add(&mut self, _: usize, v: &[L]) {
            self.0 += v.len();
        }
    }
    let mut count = Count(0);
    let x = [<L as Real>::zero(); D];
    let _ = loss.loss_grad(model, &x, &mut Streams::<L>::new(0, 0), &mut count, scratch);
    count.0 * (BLOCK / L::LANES.max(1))
}

/// The sum over `data` of the per-sample loss gradients, into `out` (length P), in the fixed
/// order of the module doc; returns the sum of the per-sample losses (in f64, index order).
///
/// Sample `i` draws from stream `(seed, first_index + i)`: lane chunks of `L::LANES` samples on
/// `L` up to the last multiple of 8, the remainder one sample at a time on `f32`.
///
/// Errors: [`Error::InvalidParameter`] if a buffer's length does not fit, `8` is not a multiple
/// of the lane width, or the model's backward is not the same call sequence for every sample;
/// [`Error::NonFinite`]`("loss")` if a sample's loss is NaN or infinite (e.g. a failed inverse),
/// [`Error::NonFinite`]`("gradient")` if a gradient entry is (`out` then holds the non-finite
/// sums: the caller must not apply them).
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
    M: Params,
    Lo: Loss<D, M>,
{
    let p = M::LEN;
    let w = L::LANES;
    if w == 0 || !SLOTS.is_multiple_of(w) {
        return Err(Error::InvalidParameter { name: "lane", reason: "width must divide 8" });
    }
    let groups = SLOTS / w;
    if ws.slots.len() != p * groups {
        return Err(length_error("slots"));
    }
    if out.len() != p {
        return Err(length_error("out"));
    }
    if Lo::NEEDS_DUAL && (ws.scratch.dual.len() != p || ws.scratch_scalar.dual.len() != p) {
        return Err(length_error("scratch dual"));
    }
    if Lo::NEEDS_FLAT && (ws.scratch.flat.len() != p || ws.scratch_scalar.flat.len() != p) {
        return Err(length_error("scratch flat"));
    }
    ws.slots.fill(<L as Real>::zero());
    let mut loss_sum = 0.0f64;
    let n8 = data.len() - data.len() % SLOTS;
    let (whole, rest) = data.split_at(n8);
    for (b, block) in whole.chunks(BLOCK).enumerate() {
        let mut rec = Recorder::new(&mut *ws.record, BLOCK / w);
        for (c, chunk) in block.chunks_exact(w).enumerate() {
            let x: [L; D] =
                crate::lane::array_fn(|d| L::from_fn(|j| chunk.get(j).map_or(0.0, |r| r[d])));
            let index = (b * BLOCK + c * w) as u64;
            let mut rng = Streams::<L>::new(seed, first_index.wrapping_add(index));
            let l = loss.loss_grad(model, &x, &mut rng, &mut rec, &mut ws.scratch);
            for j in 0..w {
                loss_sum += l.extract(j) as f64;
            }
            rec.next_chunk();
        }
        if let Some(e) = rec.error {
            return Err(e);
        }
        flush(&rec, ws.slots, p, groups);
    }
    for (k, x) in rest.iter().enumerate() {
        let j = (n8 + k) % SLOTS;
        let index = (n8 + k) as u64;
        let mut rng = Streams::<f32>::new(seed, first_index.wrapping_add(index));
        let slot = ws.slots.get_mut((j / w) * p..(j / w + 1) * p).unwrap_or(&mut []);
        let mut sink = LaneSink { slot, lane: j % w };
        loss_sum += loss.loss_grad(model, x, &mut rng, &mut sink, &mut ws.scratch_scalar) as f64;
    }
    let mut finite = true;
    for (k, o) in out.iter_mut().enumerate() {
        let v: [f32; SLOTS] = crate::lane::array_fn(|j| {
            ws.slots.get((j / w) * p + k).map_or(0.0, |s| s.extract(j % w))
        });
        *o = ((v[0] + v[1]) + (v[2] + v[3])) + ((v[4] + v[5]) + (v[6] + v[7]));
        finite &= o.is_finite();
    }
    if !loss_sum.is_finite() {
        return Err(Error::NonFinite("loss"));
    }
    if finite { Ok(loss_sum) } else { Err(Error::NonFinite("gradient")) }
}
