//! The one batch driver: a batch of independent items (samples, points) run on lanes.
//!
//! Every batch API of the crate (a flow's [`crate::flow::Flow::sample_batch`],
//! [`crate::flow::Flow::sample_and_log_prob_batch`] and [`crate::flow::Flow::log_prob_batch`],
//! [`crate::sample::LaneSampler::run_batch`], the adaptive sampler's batch, the likelihood
//! batches and [`crate::likelihood::sampling::pf_sample_batch`]) is a [`ChunkKernel`] run by
//! [`for_each_chunk`], which owns what they share:
//! - the length check: every slice of the batch has one entry per item, else
//!   [`Error::InvalidParameter`] naming the slice, before anything is computed or written;
//! - the wide head and the scalar tail: full chunks of `W::LANES` items on the wide lane type
//!   `W`, the rest one item at a time on the scalar lane type;
//! - the index arithmetic: item `k` of the batch is item `first_index + k` (wrapping), which is
//!   what it draws its random stream from, so its result is the same bits whatever the batch
//!   split, the lane width or the thread count.
//!
//! A kernel is generic in the lane type, so the wide type is a parameter of the driver, not a
//! choice baked into each API: the `*_batch` functions use [`WideScalar::Wide`]
//! (`Duo<f32x8>`, `f64x4`), and a caller that picks its lanes at run time passes its own.

use core::ops::Range;

use wide::{f32x8, f64x4};

use crate::error::Error;
use crate::lane::{Duo, Lane, Scalar};

/// A scalar float with the lane type its batches run on: `f32` → `Duo<f32x8>` (16 lanes),
/// `f64` → `f64x4`.
///
/// Why two `f32x8` for `f32`: a chunk's work is one long chain of dependent operations, and two
/// independent chains interleaved keep the processor busy while each waits on its results
/// ([`Duo`]); measured on the planar flow, 23 % faster than one `f32x8` (four were slower:
/// the vectors no longer fit in the registers). The `f64` batches are mostly adaptive ODE
/// solves, whose lanes step in lockstep until the slowest is done: wider chunks idle more, and
/// measured no faster.
pub trait WideScalar: Scalar + Lane<Scalar = Self> {
    /// The lane type of this scalar's batches.
    type Wide: Lane<Scalar = Self>;
}
impl WideScalar for f32 {
    type Wide = Duo<f32x8>;
}
impl WideScalar for f64 {
    type Wide = f64x4;
}

/// The work on one chunk of a batch, written once for every lane type.
pub trait ChunkKernel<T: Scalar> {
    /// Process the batch's items `items` (`L::LANES` of them: lane j is item
    /// `items.start + j`), whose first item has the stream index `index`. An error ends the
    /// batch (the items before this chunk keep their results).
    fn chunk<L: Lane<Scalar = T>>(&mut self, index: u64, items: Range<usize>) -> Result<(), Error>;
}

/// Runs `kernel` over a batch: full chunks of `W::LANES` items on `W`, the tail one item at a
/// time on `T`, item k with the stream index `first_index + k`.
///
/// `slices` names every slice of the batch with its length; the first is the batch's size.
/// Errors: [`Error::InvalidParameter`] naming the first slice whose length differs from the
/// first's (nothing is run); else the first error of the kernel.
///
/// Always inlined (it is a loop around the kernel's calls), so that a caller compiled with wider
/// target features than the build's (flowscore-std's run-time dispatch) runs the kernel with
/// them.
#[inline(always)]
pub fn for_each_chunk<W, T, K>(
    first_index: u64,
    slices: &[(&'static str, usize)],
    kernel: &mut K,
) -> Result<(), Error>
where
    W: Lane<Scalar = T>,
    T: Scalar + Lane<Scalar = T>,
    K: ChunkKernel<T>,
{
    let n = slices.first().map_or(0, |s| s.1);
    if let Some(&(name, _)) = slices.iter().find(|s| s.1 != n) {
        return Err(Error::InvalidParameter { name, reason: "must have one entry per item" });
    }
    let w = W::LANES.max(1);
    let full = n / w * w;
    let mut start = 0;
    let mut index = first_index;
    while start < full {
        kernel.chunk::<W>(index, start..start + w)?;
        start += w;
        index = index.wrapping_add(w as u64);
    }
    while start < n {
        kernel.chunk::<T>(index, start..start + 1)?;
        start += 1;
        index = index.wrapping_add(1);
    }
    Ok(())
}

/// `s[items]`, or an error if the range is outside `s` (a kernel given a range that
/// [`for_each_chunk`] checked never sees it).
#[inline]
pub fn part<'a, X>(s: &'a [X], items: &Range<usize>) -> Result<&'a [X], Error> {
    s.get(items.clone()).ok_or(OUT_OF_RANGE)
}

/// `&mut s[items]`, or an error if the range is outside `s` (see [`part`]).
#[inline]
pub fn part_mut<'a, X>(s: &'a mut [X], items: &Range<usize>) -> Result<&'a mut [X], Error> {
    s.get_mut(items.clone()).ok_or(OUT_OF_RANGE)
}

const OUT_OF_RANGE: Error =
    Error::InvalidParameter { name: "items", reason: "chunk outside the batch" };

/// Lanes from up to `L::LANES` points: lane j of coordinate d is `points[j][d]` (missing
/// points read as 0).
#[inline(always)]
pub fn gather<L: Lane, const D: usize>(points: &[[L::Scalar; D]]) -> [L; D] {
    crate::lane::array_fn(|d| L::from_fn(|j| points.get(j).map_or_else(Default::default, |p| p[d])))
}

/// Lane j of `x` into `points[j]` (as many points as there are, at most `L::LANES`).
#[inline(always)]
pub fn scatter<L: Lane, const D: usize>(x: &[L; D], points: &mut [[L::Scalar; D]]) {
    for (j, p) in points.iter_mut().enumerate().take(L::LANES) {
        for (pd, xd) in p.iter_mut().zip(x.iter()) {
            *pd = xd.extract(j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records which items each chunk covered, on which width, with which index.
    struct Record {
        seen: [(u64, usize, usize); 16],
        calls: usize,
        fail_at: Option<usize>,
    }

    impl ChunkKernel<f32> for Record {
        fn chunk<L: Lane<Scalar = f32>>(
            &mut self,
            index: u64,
            items: Range<usize>,
        ) -> Result<(), Error> {
            if self.fail_at == Some(items.start) {
                return Err(Error::MaxStepsExceeded);
            }
            assert_eq!(items.len(), L::LANES);
            self.seen[self.calls] = (index, items.start, L::LANES);
            self.calls += 1;
            Ok(())
        }
    }

    fn record(n: usize, first: u64, fail_at: Option<usize>) -> (Result<(), Error>, Record) {
        let mut k = Record { seen: [(0, 0, 0); 16], calls: 0, fail_at };
        let r = for_each_chunk::<f32x8, f32, _>(first, &[("xs", n), ("out", n)], &mut k);
        (r, k)
    }

    #[test]
    fn wide_head_scalar_tail_and_wrapping_indices() {
        let (r, k) = record(19, u64::MAX - 1, None);
        assert_eq!(r, Ok(()));
        let want = [(u64::MAX - 1, 0, 8), (6, 8, 8), (14, 16, 1), (15, 17, 1), (16, 18, 1)];
        assert_eq!(&k.seen[..k.calls], &want);
        let (r, k) = record(0, 3, None);
        assert_eq!((r, k.calls), (Ok(()), 0));
    }

    #[test]
    fn lengths_are_checked_before_anything_runs_and_errors_stop_the_batch() {
        let mut k = Record { seen: [(0, 0, 0); 16], calls: 0, fail_at: None };
        let r = for_each_chunk::<f32x8, f32, _>(0, &[("xs", 9), ("out", 9), ("status", 8)], &mut k);
        assert!(matches!(r, Err(Error::InvalidParameter { name: "status", .. })));
        assert_eq!(k.calls, 0);
        let (r, k) = record(20, 0, Some(16));
        assert_eq!(r, Err(Error::MaxStepsExceeded));
        assert_eq!(k.calls, 2, "the two full chunks ran, the tail stopped at its first item");
    }

    #[test]
    fn gather_and_scatter_are_inverse() {
        let pts: [[f32; 3]; 5] = crate::lane::array_fn(|i| [i as f32, -(i as f32), 0.5 * i as f32]);
        let x: [f32x8; 3] = gather(&pts);
        assert_eq!(x[1].extract(4), -4.0);
        assert_eq!(x[0].extract(6), 0.0, "missing points read as 0");
        let mut back = [[9.0f32; 3]; 5];
        scatter(&x, &mut back);
        assert_eq!(back, pts);
    }
}
