//! TEMPORARY ADAPTER: f64 stand-ins for the core's mixture score, samplers, ODE solver and
//! planar flow, with the interfaces the command line needs. Each file says which core module
//! replaces it; the dispatch in `crate::run` is the one place that calls into here.

// Small fixed-size linear algebra reads best with explicit indices.
#![allow(clippy::needless_range_loop)]

pub mod dopri5;
pub mod mixture;
pub mod planar;
pub mod samplers;
pub mod sde_kind;
