//! The CPU backend: rayon threads over fixed chunks, `f32x8` lanes, a pairwise tree over the
//! chunk sums — the same bits for any thread count.

use flowscore::wide::f32x8;
use rayon::prelude::*;

use super::{Backend, CHUNK, pairwise_sum, pairwise_sum_f64};
use flowscore::Error;
use flowscore::dual::Dual;
use flowscore::loss::{Loss, Scratch, Workspace, chunk_gradient, record_len};
use flowscore::params::Params;

/// One chunk's buffers (allocated once, reused every step).
struct ChunkBuffers {
    slots: Vec<f32x8>,
    record: Vec<f32x8>,
    dual: Vec<Dual<f32x8, 1>>,
    flat: Vec<f32x8>,
    dual_s: Vec<Dual<f32, 1>>,
    flat_s: Vec<f32>,
    out: Vec<f32>,
    loss: f64,
}

/// rayon over chunks of [`CHUNK`] points.
pub struct Cpu {
    pool: rayon::ThreadPool,
    bufs: Vec<ChunkBuffers>,
    record_len: usize,
}

impl std::fmt::Debug for Cpu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cpu").field("threads", &self.pool.current_num_threads()).finish()
    }
}

impl Cpu {
    /// A backend on `threads` threads (0: rayon's default, `RAYON_NUM_THREADS` or the number of
    /// cores).
    ///
    /// Errors: the thread pool cannot be built.
    pub fn new(threads: usize) -> Result<Self, String> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .map_err(|e| format!("cannot start {threads} threads: {e}"))?;
        Ok(Self { pool, bufs: Vec::new(), record_len: 0 })
    }

    /// The number of threads.
    pub fn threads(&self) -> usize {
        self.pool.current_num_threads()
    }

    fn ensure<const D: usize, M: Params, Lo: Loss<D, M>>(
        &mut self,
        loss: &Lo,
        model: &M,
        chunks: usize,
    ) {
        let p = M::LEN;
        if self.record_len == 0 || self.bufs.first().is_some_and(|b| b.out.len() != p) {
            self.bufs.clear();
            let z = f32x8::splat(0.0);
            let mut dual = vec![Dual::constant(z); p];
            let mut flat = vec![z; p];
            self.record_len = record_len::<f32x8, D, M, Lo>(
                loss,
                model,
                &mut Scratch { dual: &mut dual, flat: &mut flat },
            );
        }
        let (dual_len, flat_len) = (
            if Lo::NEEDS_DUAL { p } else { 0 },
            if Lo::NEEDS_FLAT || Lo::NEEDS_DUAL { p } else { 0 },
        );
        while self.bufs.len() < chunks {
            let z = f32x8::splat(0.0);
            self.bufs.push(ChunkBuffers {
                slots: vec![z; p],
                record: vec![z; self.record_len],
                dual: vec![Dual::constant(z); dual_len],
                flat: vec![z; flat_len],
                dual_s: vec![Dual::constant(0.0); dual_len],
                flat_s: vec![0.0; flat_len],
                out: vec![0.0; p],
                loss: 0.0,
            });
        }
    }
}

impl<const D: usize, M: Params + Sync, Lo: Loss<D, M> + Sync> Backend<D, M, Lo> for Cpu {
    fn batch_gradient(
        &mut self,
        loss: &Lo,
        model: &M,
        batch: &[[f32; D]],
        seed: u64,
        first_index: u64,
        out: &mut [f32],
    ) -> Result<f64, Error> {
        if out.len() != M::LEN {
            return Err(Error::InvalidParameter {
                name: "out",
                reason: "length must equal the parameter count",
            });
        }
        let chunks = batch.len().div_ceil(CHUNK);
        self.ensure::<D, M, Lo>(loss, model, chunks);
        let bufs = &mut self.bufs[..chunks];
        let results: Vec<Result<(), Error>> = self.pool.install(|| {
            bufs.par_iter_mut()
                .zip(batch.par_chunks(CHUNK))
                .enumerate()
                .map(|(k, (b, data))| {
                    let mut ws = Workspace {
                        slots: &mut b.slots,
                        record: &mut b.record,
                        scratch: Scratch { dual: &mut b.dual, flat: &mut b.flat },
                        scratch_scalar: Scratch { dual: &mut b.dual_s, flat: &mut b.flat_s },
                    };
                    let first = first_index.wrapping_add((k * CHUNK) as u64);
                    b.loss = chunk_gradient(loss, model, data, seed, first, &mut ws, &mut b.out)?;
                    Ok(())
                })
                .collect()
        });
        for r in results {
            r?;
        }
        let losses: Vec<f64> = bufs.iter().map(|b| b.loss).collect();
        let mut parts: Vec<Vec<f32>> =
            bufs.iter_mut().map(|b| std::mem::take(&mut b.out)).collect();
        pairwise_sum(&mut parts);
        if let Some(first) = parts.first() {
            out.copy_from_slice(first);
        } else {
            out.fill(0.0);
        }
        for (b, part) in bufs.iter_mut().zip(parts) {
            b.out = part;
        }
        Ok(pairwise_sum_f64(&losses))
    }
}
