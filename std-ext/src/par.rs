//! The parallel batch driver: item i of a batch is computed by `f(i)` on rayon's pool, in
//! chunks of bounded size, and handed on in index order. Because every item is a function of
//! its index alone (sample i draws from the stream (seed, i)), the results do not depend on the
//! number of threads, and memory stays bounded whatever the batch size.

use rayon::prelude::*;

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
}
