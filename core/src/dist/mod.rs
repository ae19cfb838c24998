//! Base distributions over `[R; D]`: standard normal, diagonal normal, uniform box.

use crate::lane::Lane;
use crate::real::Real;
use crate::rng::LaneSource;

/// A distribution on ℝᴰ that can be sampled lane-parallel and scored over any [`Real`].
pub trait Distribution<const D: usize> {
    /// One draw per lane.
    fn sample<L: Lane, S: LaneSource<L>>(&self, rng: &mut S) -> [L; D];
    /// log p(x), per lane (−∞ outside the support).
    fn log_prob<R: Real>(&self, x: &[R; D]) -> R;
}
