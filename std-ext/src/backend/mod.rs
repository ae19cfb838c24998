//! Batch-gradient backends the trainer drives ([`crate::train`]).
//!
//! A backend computes the sum of a loss's per-sample parameter gradients over a minibatch, in a
//! fixed order, so the result is the same bits whatever the thread count: the batch is cut into
//! chunks of [`CHUNK`] points (independent of the threads), each chunk's gradient is the core's
//! [`chunk_gradient`](flowscore::loss::chunk_gradient), and the chunk sums are combined as a
//! pairwise tree in chunk order (MATH.md §7, "Determinism").
//!
//! - [`cpu::Cpu`]: rayon threads over the chunks, `f32x8` lanes.
//! - [`cuda::CudaBackend`] (feature `cuda`): NVRTC-compiled kernels on an NVIDIA GPU, the same
//!   reduction order.

pub mod cpu;
#[cfg(feature = "cuda")]
#[allow(unsafe_code)]
pub mod cuda;

use flowscore::Error;
use flowscore::loss::Loss;
use flowscore::params::Params;

/// Points per chunk of the deterministic reduction.
pub const CHUNK: usize = 256;

/// A backend that sums per-sample gradients over a minibatch.
pub trait Backend<const D: usize, M: Params, Lo: Loss<D, M>> {
    /// The sum over `batch` of the per-sample gradients of `loss` at `model` into `out` (length
    /// `M::LEN`); returns the sum of the per-sample losses. Point `i` of the batch draws its
    /// randomness from stream `(seed, first_index + i)`.
    ///
    /// Errors: those of [`chunk_gradient`](flowscore::loss::chunk_gradient) (a non-finite loss
    /// or gradient, a buffer that does not fit).
    fn batch_gradient(
        &mut self,
        loss: &Lo,
        model: &M,
        batch: &[[f32; D]],
        seed: u64,
        first_index: u64,
        out: &mut [f32],
    ) -> Result<f64, Error>;
}

/// Combine `parts` pairwise in order: ((p₀ + p₁) + (p₂ + p₃)) + …, the sum left in `parts[0]`.
pub fn pairwise_sum(parts: &mut [Vec<f32>]) {
    let mut width = 1;
    while width < parts.len() {
        let mut i = 0;
        while i + width < parts.len() {
            let (a, b) = parts.split_at_mut(i + width);
            for (x, y) in a[i].iter_mut().zip(b[0].iter()) {
                *x += *y;
            }
            i += 2 * width;
        }
        width *= 2;
    }
}

/// The same pairwise order over scalars.
pub fn pairwise_sum_f64(parts: &[f64]) -> f64 {
    match parts.len() {
        0 => 0.0,
        1 => parts[0],
        n => {
            let mid = n.next_power_of_two() / 2;
            pairwise_sum_f64(&parts[..mid]) + pairwise_sum_f64(&parts[mid..])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairwise_orders_agree() {
        // The vector tree and the scalar tree are the same tree: compare on values whose sum
        // depends on the order.
        for n in 1..20usize {
            let vals: Vec<f64> = (0..n)
                .map(|k| {
                    (1e16f64).powi((k % 3) as i32) * if k % 2 == 0 { 1.0 } else { -1.0 } + k as f64
                })
                .collect();
            let mut parts: Vec<Vec<f32>> = vals.iter().map(|&v| vec![v as f32]).collect();
            pairwise_sum(&mut parts);
            let f: Vec<f64> = vals.iter().map(|&v| v as f32 as f64).collect();
            // Recompute the scalar tree in f32 to compare bit for bit.
            fn tree(p: &[f32]) -> f32 {
                match p.len() {
                    0 => 0.0,
                    1 => p[0],
                    n => {
                        let mid = n.next_power_of_two() / 2;
                        tree(&p[..mid]) + tree(&p[mid..])
                    }
                }
            }
            let f32s: Vec<f32> = f.iter().map(|&v| v as f32).collect();
            assert_eq!(parts[0][0].to_bits(), tree(&f32s).to_bits(), "n = {n}");
        }
    }
}
