//! Base distributions over `[R; D]`: standard normal, diagonal normal, uniform box.
//!
//! They are the base p_Z of a normalizing flow (MATH.md §1): each draws one independent point
//! per lane from a [`LaneSource`] and scores points over any [`Real`]. Parameters are stored as
//! `f32` and validated at construction; whatever depends only on them (normalising constants,
//! reciprocal scales) is prepared once there. Every method costs O(D) and never panics; a NaN
//! coordinate gives a NaN log-density in its own lane only.

use crate::lane::Lane;
use crate::real::Real;
use crate::rng::LaneSource;

mod normal;
mod uniform;

pub use normal::{DiagonalNormal, StandardNormal};
pub use uniform::UniformBox;

/// ln(2π)/2, the per-coordinate normalising constant of a standard normal.
pub(crate) const HALF_LN_TAU: f64 = 0.918_938_533_204_672_8;

/// A distribution on ℝᴰ that can be sampled lane-parallel and scored over any [`Real`].
pub trait Distribution<const D: usize> {
    /// One draw per lane.
    fn sample<L: Lane, S: LaneSource<L>>(&self, rng: &mut S) -> [L; D];
    /// log p(x), per lane (−∞ outside the support).
    fn log_prob<R: Real>(&self, x: &[R; D]) -> R;
}
