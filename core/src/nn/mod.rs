//! Fixed-size neural networks: dense layers and multilayer perceptrons with const shapes.
//!
//! Parameters are stored as `f32` (the project's storage precision, DESIGN.md); evaluation runs
//! over any [`Real`](crate::Real), so one network serves scalars, SIMD lanes (one sample per
//! lane) and dual numbers. The networks serve as coupling conditioners in [`crate::flow`] and as
//! learned score networks; they know nothing of either.

pub mod embedding;
pub mod mlp;

pub use embedding::{TimeEmbedding, TimeFeature};
pub use mlp::{Activation, Dense, Mlp, Mlp1, Mlp2, MlpTape, Network, TrainableNetwork};
