//! SPEC.json: a Gaussian mixture target
//! `{"weights": [..K], "means": [[..D]..K], "covariances": [[[..D]..D]..K]}`, parsed and
//! validated before any work starts.

use anyhow::{Context, bail, ensure};
use serde::Deserialize;

use crate::text::{num, one_line};

/// The largest dimension dispatched to the const-generic core.
pub const MAX_DIM: usize = 8;
/// The largest number of mixture components accepted.
pub const MAX_COMPONENTS: usize = 16;
/// Weights must sum to 1 within this (the issue's tolerance).
pub const WEIGHT_SUM_TOL: f64 = 1e-6;
/// The largest magnitude of a mean entry or covariance entry, and the range of covariance
/// eigenvalues: inside it the standardisation (in f64) squares values without overflow.
pub const MAX_MAGNITUDE: f64 = 1e100;
/// The smallest covariance eigenvalue accepted (see [`MAX_MAGNITUDE`]).
pub const MIN_EIGENVALUE: f64 = 1e-100;
/// The largest condition number of a covariance as given: the standardisation runs in f64, whose
/// 16 digits leave 4 after a condition number of 1e12.
pub const MAX_CONDITION: f64 = 1e12;
/// The smallest nonzero weight: the core holds weights in f32.
pub const MIN_WEIGHT: f64 = 1e-12;
/// Covariances must be symmetric within this, relative to their largest entry: JSON written
/// from floats round-trips exactly, so anything beyond rounding is a real asymmetry.
pub const SYMMETRY_TOL: f64 = 1e-9;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSpec {
    weights: Vec<f64>,
    means: Vec<Vec<f64>>,
    covariances: Vec<Vec<Vec<f64>>>,
}

/// A validated Gaussian-mixture spec: K ≥ 1 components in D ∈ 1..=8 dimensions, weights ≥ 0
/// summing to 1, symmetric positive-definite covariances.
#[derive(Clone, Debug, PartialEq)]
pub struct Spec {
    /// D.
    pub dim: usize,
    /// πₖ.
    pub weights: Vec<f64>,
    /// μₖ.
    pub means: Vec<Vec<f64>>,
    /// Σₖ.
    pub covariances: Vec<Vec<Vec<f64>>>,
}

impl Spec {
    /// Parses and validates SPEC.json text; `source` names it in messages.
    pub fn parse(text: &str, source: &str) -> anyhow::Result<Self> {
        let raw: RawSpec = serde_json::from_str(text).map_err(|e| {
            anyhow::anyhow!("{source} is not a valid mixture spec: {}", one_line(&e.to_string()))
        })?;
        Self::validate(raw.weights, raw.means, raw.covariances)
    }

    /// Reads and validates a SPEC.json file.
    pub fn read(path: &std::path::Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read spec {}", path.display()))?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Validates the parts of a spec.
    pub fn validate(
        weights: Vec<f64>,
        means: Vec<Vec<f64>>,
        covariances: Vec<Vec<Vec<f64>>>,
    ) -> anyhow::Result<Self> {
        let k = weights.len();
        ensure!(k >= 1, "spec has no components (weights is empty)");
        ensure!(
            k <= MAX_COMPONENTS,
            "spec has {k} components; at most {MAX_COMPONENTS} are supported"
        );
        ensure!(means.len() == k, "spec has {k} weights but {} means", means.len());
        ensure!(
            covariances.len() == k,
            "spec has {k} weights but {} covariances",
            covariances.len()
        );
        for (i, w) in weights.iter().enumerate() {
            ensure!(w.is_finite(), "weight {i} is not finite");
            ensure!(*w >= 0.0, "weight {i} is negative ({})", num(*w));
            ensure!(
                *w == 0.0 || *w >= MIN_WEIGHT,
                "weight {i} is {}: nonzero weights must be at least {MIN_WEIGHT:e} (f32 precision)",
                num(*w)
            );
        }
        let sum: f64 = weights.iter().sum();
        ensure!(
            (sum - 1.0).abs() <= WEIGHT_SUM_TOL,
            "weights sum to {}, not 1 (tolerance {WEIGHT_SUM_TOL:e})",
            num(sum)
        );
        let dim = means[0].len();
        ensure!(
            (1..=MAX_DIM).contains(&dim),
            "dimension D = {dim} is not supported (D must be 1..={MAX_DIM})"
        );
        for (i, m) in means.iter().enumerate() {
            ensure!(m.len() == dim, "mean {i} has {} entries, expected D = {dim}", m.len());
            ensure!(m.iter().all(|v| v.is_finite()), "mean {i} has a non-finite entry");
            if let Some(v) = m.iter().find(|v| v.abs() > MAX_MAGNITUDE) {
                bail!(
                    "mean {i} has the entry {}, beyond the supported magnitude {MAX_MAGNITUDE:e}",
                    num(*v)
                );
            }
        }
        for (i, c) in covariances.iter().enumerate() {
            ensure!(
                c.len() == dim && c.iter().all(|r| r.len() == dim),
                "covariance {i} is not {dim}×{dim}"
            );
            ensure!(
                c.iter().flatten().all(|v| v.is_finite()),
                "covariance {i} has a non-finite entry"
            );
            let scale = c.iter().flatten().fold(0.0f64, |a, v| a.max(v.abs()));
            for (r, row) in c.iter().enumerate() {
                for (s, v) in row.iter().enumerate().take(r) {
                    if (v - c[s][r]).abs() > SYMMETRY_TOL * scale {
                        bail!("covariance {i} is not symmetric (entry [{r}][{s}] ≠ [{s}][{r}])");
                    }
                }
            }
            if let Some(v) = c.iter().flatten().find(|v| v.abs() > MAX_MAGNITUDE) {
                bail!(
                    "covariance {i} has the entry {}, beyond the supported magnitude \
                     {MAX_MAGNITUDE:e}",
                    num(*v)
                );
            }
            let m = nalgebra::DMatrix::from_fn(dim, dim, |r, s| 0.5 * (c[r][s] + c[s][r]));
            let eig = m.symmetric_eigenvalues();
            let (lmin, lmax) = (eig.min(), eig.max());
            ensure!(
                lmin > 0.0,
                "covariance {i} is not positive definite (smallest eigenvalue {})",
                num(lmin)
            );
            ensure!(
                lmin >= MIN_EIGENVALUE,
                "covariance {i} has the eigenvalue {}, below the supported {MIN_EIGENVALUE:e}",
                num(lmin)
            );
            ensure!(
                lmax / lmin <= MAX_CONDITION,
                "covariance {i} has condition number {}; at most {MAX_CONDITION:e} is supported \
                 (the standardisation runs in f64)",
                num(lmax / lmin)
            );
        }
        Ok(Self { dim, weights, means, covariances })
    }

    /// The ncsn two-mode mixture used by the demo: weights 0.8/0.2 at ±(5, 5), identity
    /// covariances (MATH.md §4).
    pub fn ncsn_mixture() -> Self {
        Self {
            dim: 2,
            weights: vec![0.8, 0.2],
            means: vec![vec![5.0, 5.0], vec![-5.0, -5.0]],
            covariances: vec![vec![vec![1.0, 0.0], vec![0.0, 1.0]]; 2],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_a_valid_spec_and_rejects_bad_ones() {
        let ok = r#"{"weights":[0.5,0.5],"means":[[0,0],[1,1]],
            "covariances":[[[1,0.5],[0.5,1]],[[2,0],[0,2]]]}"#;
        assert_eq!(Spec::parse(ok, "s").unwrap().dim, 2);
        for bad in [
            r#"{"weights":[0.5,0.6],"means":[[0],[1]],"covariances":[[[1]],[[1]]]}"#,
            r#"{"weights":[-0.5,1.5],"means":[[0],[1]],"covariances":[[[1]],[[1]]]}"#,
            r#"{"weights":[1],"means":[[0,0]],"covariances":[[[1,2],[2,1]]]}"#,
            r#"{"weights":[1],"means":[[0,0]],"covariances":[[[1,0.1],[0,1]]]}"#,
            r#"{"weights":[1],"means":[[0,0]],"covariances":[[[1,0]]]}"#,
            r#"{"weights":[1],"means":[[0,0,0,0,0,0,0,0,0]],"covariances":[]}"#,
            r#"{"weights":[],"means":[],"covariances":[]}"#,
            r#"{"weights":[1],"means":[[0]]"#,
            r#"{"weights":[1],"means":[[1e101]],"covariances":[[[1]]]}"#,
            r#"{"weights":[1],"means":[[0,0]],"covariances":[[[1,0],[0,1e-13]]]}"#,
        ] {
            assert!(Spec::parse(bad, "s").is_err(), "{bad}");
        }
    }
}
