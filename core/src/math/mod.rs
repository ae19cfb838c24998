//! Transcendental functions over [`Lane`], written once from exact primitives.
//!
//! PLACEHOLDER: evaluates each lane through `libm` in `f64`; replaced by lane-parallel
//! polynomial kernels with stated ULP budgets.

use crate::lane::{Lane, Scalar};

#[inline(always)]
fn map<L: Lane>(x: L, f: impl Fn(f64) -> f64) -> L {
    L::from_fn(|i| L::Scalar::from_f64(f(x.extract(i).to_f64())))
}

/// e^x.
pub fn exp<L: Lane>(x: L) -> L {
    map(x, libm::exp)
}
/// e^x − 1.
pub fn expm1<L: Lane>(x: L) -> L {
    map(x, libm::expm1)
}
/// ln x.
pub fn ln<L: Lane>(x: L) -> L {
    map(x, libm::log)
}
/// ln(1 + x).
pub fn ln_1p<L: Lane>(x: L) -> L {
    map(x, libm::log1p)
}
/// tanh x.
pub fn tanh<L: Lane>(x: L) -> L {
    map(x, libm::tanh)
}
/// ln(1 + e^x).
pub fn softplus<L: Lane>(x: L) -> L {
    map(x, |v| if v > 0.0 { v + libm::log1p(libm::exp(-v)) } else { libm::log1p(libm::exp(v)) })
}
/// 1 / (1 + e^−x).
pub fn sigmoid<L: Lane>(x: L) -> L {
    map(x, |v| 1.0 / (1.0 + libm::exp(-v)))
}
/// (sin x, cos x).
pub fn sin_cos<L: Lane>(x: L) -> (L, L) {
    (map(x, libm::sin), map(x, libm::cos))
}
