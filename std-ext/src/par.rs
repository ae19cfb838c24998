//! The parallel batch driver: item i of a batch is computed by `f(i)` on rayon's pool, in
//! chunks of bounded size, and handed on in index order. Because every item is a function of
//! its index alone (sample i draws from the stream (seed, i)), the results do not depend on the
//! number of threads, and memory stays bounded whatever the batch size.

use flowscore::Lane;
use flowscore::dist::Distribution;
use flowscore::flow::{Bijector, Flow};
use rayon::prelude::*;

use crate::simd::{self, LaneWork};

/// Items computed and handed on together: memory stays bounded whatever N is.
pub const CHUNK: usize = 1 << 16;

/// Computes `f(i)` for every `i` in `0..n` in parallel, [`CHUNK`] items at a time, and hands
/// each chunk's results to `consume` in index order (every result, errors included, so the
/// consumer decides which failure is reported first). Stops at the first error `consume`
/// returns.
pub fn map_chunks<T: Send>(
    n: u64,
    f: impl Fn(u64) -> anyhow::Result<T> + Sync,
    mut consume: impl FnMut(Vec<anyhow::Result<T>>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let mut lo = 0u64;
    while lo < n {
        let hi = (lo + CHUNK as u64).min(n);
        let rows: Vec<anyhow::Result<T>> = (lo..hi).into_par_iter().map(&f).collect();
        consume(rows)?;
        lo = hi;
    }
    Ok(())
}

/// Computes `f(i)` for every `i` in `0..n` in parallel and returns the results in index order,
/// or the error of the first failing index.
pub fn map_all<T: Send>(
    n: u64,
    f: impl Fn(u64) -> anyhow::Result<T> + Sync,
) -> anyhow::Result<Vec<T>> {
    let rows: Vec<anyhow::Result<T>> = (0..n).into_par_iter().map(&f).collect();
    rows.into_iter().collect()
}

/// Points per parallel task of [`flow_sample_and_log_prob`]: whole chunks of the `f32` batch lanes (16).
pub const FLOW_BLOCK: usize = 4096;

/// Samples `0..xs.len()` of `flow` under `seed` with their log-densities, on all threads:
/// blocks of [`FLOW_BLOCK`] points in parallel, each on the core's
/// [`Flow::sample_and_log_prob_batch_on`] with the lanes of the dispatched path ([`simd`]).
/// Sample i uses the stream (seed, i), so the result is the same bits as one core call over the
/// whole slice, for any thread count and on every path.
///
/// Errors: `log_probs` not as long as `xs` (nothing is written).
pub fn flow_sample_and_log_prob<Base, B, const D: usize>(
    flow: &Flow<Base, B>,
    seed: u64,
    xs: &mut [[f32; D]],
    log_probs: &mut [f32],
) -> Result<(), flowscore::Error>
where
    Base: Distribution<D> + Sync,
    B: Bijector<D> + Sync,
{
    if xs.len() != log_probs.len() {
        return Err(flowscore::Error::InvalidParameter {
            name: "log_probs",
            reason: "must have one entry per item",
        });
    }
    xs.par_chunks_mut(FLOW_BLOCK)
        .zip(log_probs.par_chunks_mut(FLOW_BLOCK))
        .enumerate()
        .try_for_each(|(b, (x, lp))| {
            simd::run::<f32, _>(FlowBlock { flow, seed, first: (b * FLOW_BLOCK) as u64, x, lp })
        })
}

/// One block of [`flow_sample_and_log_prob`], on the lanes of the dispatched path.
struct FlowBlock<'a, F, const D: usize> {
    flow: &'a F,
    seed: u64,
    first: u64,
    x: &'a mut [[f32; D]],
    lp: &'a mut [f32],
}

impl<Base: Distribution<D>, B: Bijector<D>, const D: usize> LaneWork<f32>
    for FlowBlock<'_, Flow<Base, B>, D>
{
    type Output = Result<(), flowscore::Error>;
    #[inline(always)]
    fn run<W: Lane<Scalar = f32>>(self) -> Self::Output {
        self.flow.sample_and_log_prob_batch_on::<W, D>(self.seed, self.first, self.x, self.lp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_arrive_in_index_order_and_the_first_error_wins() {
        let n = CHUNK as u64 * 2 + 7;
        let mut seen = Vec::new();
        let mut sizes = Vec::new();
        map_chunks(
            n,
            |i| Ok(i * 3),
            |rows| {
                sizes.push(rows.len());
                for r in rows {
                    seen.push(r?);
                }
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(sizes, vec![CHUNK, CHUNK, 7]);
        assert!(seen.iter().enumerate().all(|(i, v)| *v == 3 * i as u64));
        let err =
            map_all(100, |i| if i % 30 == 29 { Err(anyhow::anyhow!("item {i}")) } else { Ok(i) })
                .unwrap_err();
        assert_eq!(err.to_string(), "item 29");
        assert_eq!(map_all(5, Ok).unwrap(), vec![0, 1, 2, 3, 4]);
    }

    #[test]
    fn parallel_flow_samples_are_the_bits_of_one_core_call() {
        use flowscore::dist::StandardNormal;
        use flowscore::flow::Planar;
        let layers = [
            Planar::new([0.9, -0.4], [1.2, 0.3], 0.1).unwrap(),
            Planar::new([-0.7, 0.8], [0.2, -1.1], -0.3).unwrap(),
        ];
        let flow = Flow::new(StandardNormal, layers);
        let n = 3 * FLOW_BLOCK + 5;
        let (mut x1, mut l1) = (vec![[0.0f32; 2]; n], vec![0.0f32; n]);
        flow.sample_and_log_prob_batch(7, 0, &mut x1, &mut l1).unwrap();
        for threads in [1, 3] {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            let (mut x2, mut l2) = (vec![[0.0f32; 2]; n], vec![0.0f32; n]);
            pool.install(|| flow_sample_and_log_prob(&flow, 7, &mut x2, &mut l2)).unwrap();
            assert!(x1 == x2 && l1.iter().zip(&l2).all(|(a, b)| a.to_bits() == b.to_bits()));
        }
        // Each dispatched path, block by block, against the core's batch lanes.
        for isa in [simd::Isa::Baseline, simd::Isa::Avx2] {
            let (mut x3, mut l3) = (vec![[0.0f32; 2]; n], vec![0.0f32; n]);
            for (b, (x, lp)) in x3.chunks_mut(100).zip(l3.chunks_mut(100)).enumerate() {
                let block = FlowBlock { flow: &flow, seed: 7, first: b as u64 * 100, x, lp };
                simd::run_on::<f32, _>(isa, block).unwrap();
            }
            let same = x1 == x3 && l1.iter().zip(&l3).all(|(a, b)| a.to_bits() == b.to_bits());
            assert!(same, "{} path", isa.name());
        }
        let mut short = vec![0.0f32; n - 1];
        let err = flow_sample_and_log_prob(&flow, 7, &mut x1, &mut short);
        assert!(matches!(err, Err(flowscore::Error::InvalidParameter { name: "log_probs", .. })));
    }
}
