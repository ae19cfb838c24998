//! Normalizing flows: the [`Bijector`] trait, its layers, composition, and [`Flow`].

use crate::error::Error;
use crate::real::Real;

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

// The flow zoo.
pub mod actnorm;
pub mod coupling;
pub mod lu;
pub mod maf;
pub mod permute;
pub mod spline;
