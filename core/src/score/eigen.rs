//! The symmetric eigen-decomposition used to prepare covariances: cyclic Jacobi rotations in
//! `f64` on a `[[f64; D]; D]`, at construction only.
//!
//! Why not nalgebra's `SymmetricEigen`: for a const-generic `D` it needs `DimSub`/`Allocator`
//! bounds that every generic caller must repeat, and those bounds stop resolving when any other
//! crate in the build enables nalgebra's `alloc` feature; its tridiagonal QR also needs several
//! KiB of stack on a Cortex-M. Jacobi needs no bounds, no heap, only the matrix itself, and is
//! accurate to a few ulps of ‖Σ‖ in every eigenpair (Demmel & Veselić 1992) — ample for D ≤ 16.

use crate::error::Error;

/// Bound on the number of Jacobi sweeps. Cyclic Jacobi converges quadratically; D ≤ 16
/// needs fewer than 12 sweeps, so reaching the bound means non-finite input, never a hang.
pub const JACOBI_MAX_SWEEPS: usize = 64;

/// Off-diagonal entries this many times smaller than both diagonal entries they couple are
/// below their rounding and are set to zero (Numerical Recipes' threshold, 100 ≈ 2⁷).
const NEGLIGIBLE_FACTOR: f64 = 100.0;

/// Eigen-decomposition of the symmetric `a` (only the upper triangle is read): returns
/// `(q, lambda)` with `a = Q diag(λ) Qᵀ`, where `q[j]` is the j-th unit eigenvector (the j-th
/// column of Q). Eigenvalues are in the order Jacobi leaves them (not sorted).
///
/// Errors: [`Error::NonFinite`] for a non-finite entry, [`Error::NotConverged`] if the sweeps
/// run out (not reachable for finite input of moderate size).
// Index loops mirror the textbook rotation formulas (rows and columns p, q of one matrix).
#[allow(clippy::needless_range_loop)]
pub fn symmetric_eigen<const D: usize>(
    a: &[[f64; D]; D],
) -> Result<([[f64; D]; D], [f64; D]), Error> {
    if !a.iter().flatten().all(|v| v.is_finite()) {
        return Err(Error::NonFinite("covariance"));
    }
    // Symmetrise from the upper triangle.
    let mut m = [[0.0f64; D]; D];
    for i in 0..D {
        for j in 0..D {
            m[i][j] = if i <= j { a[i][j] } else { a[j][i] };
        }
    }
    // v[k][j]: component k of eigenvector j (V accumulates the rotations, A = V Λ Vᵀ).
    let mut v = [[0.0f64; D]; D];
    for (i, row) in v.iter_mut().enumerate() {
        row[i] = 1.0;
    }
    for _ in 0..JACOBI_MAX_SWEEPS {
        let mut off = 0.0f64;
        for p in 0..D {
            for q in p + 1..D {
                off += m[p][q] * m[p][q];
            }
        }
        if off == 0.0 {
            let lambda = core::array::from_fn(|i| m[i][i]);
            let q = core::array::from_fn(|j| core::array::from_fn(|k| v[k][j]));
            return Ok((q, lambda));
        }
        for p in 0..D {
            for q in p + 1..D {
                let apq = m[p][q];
                if apq == 0.0 {
                    continue;
                }
                let (app, aqq) = (m[p][p], m[q][q]);
                let g = NEGLIGIBLE_FACTOR * apq.abs();
                if app.abs() + g == app.abs() && aqq.abs() + g == aqq.abs() {
                    m[p][q] = 0.0;
                    m[q][p] = 0.0;
                    continue;
                }
                // Rotation J(p, q, θ) that zeroes m[p][q]: t = tan θ is the smaller root of
                // t² + 2ζt − 1 = 0, ζ = (a_qq − a_pp) / (2 a_pq).
                let zeta = (aqq - app) / (2.0 * apq);
                let t = if zeta.abs() > 1e150 {
                    0.5 / zeta
                } else {
                    let r = libm::sqrt(zeta * zeta + 1.0);
                    if zeta >= 0.0 { 1.0 / (zeta + r) } else { -1.0 / (-zeta + r) }
                };
                let c = 1.0 / libm::sqrt(t * t + 1.0);
                let s = t * c;
                for k in 0..D {
                    let (mkp, mkq) = (m[k][p], m[k][q]);
                    m[k][p] = c * mkp - s * mkq;
                    m[k][q] = s * mkp + c * mkq;
                }
                for k in 0..D {
                    let (mpk, mqk) = (m[p][k], m[q][k]);
                    m[p][k] = c * mpk - s * mqk;
                    m[q][k] = s * mpk + c * mqk;
                }
                m[p][q] = 0.0;
                m[q][p] = 0.0;
                for row in v.iter_mut() {
                    let (vp, vq) = (row[p], row[q]);
                    row[p] = c * vp - s * vq;
                    row[q] = s * vp + c * vq;
                }
            }
        }
    }
    Err(Error::NotConverged("covariance eigen-decomposition"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{LaneSource, Streams};

    /// ‖A − Q Λ Qᵀ‖_max and ‖QᵀQ − I‖_max.
    fn residuals<const D: usize>(a: &[[f64; D]; D], q: &[[f64; D]; D], l: &[f64; D]) -> (f64, f64) {
        let (mut rec, mut orth) = (0.0f64, 0.0f64);
        for i in 0..D {
            for j in 0..D {
                let s: f64 = (0..D).map(|k| q[k][i] * l[k] * q[k][j]).sum();
                rec = rec.max((s - a[i][j]).abs());
                let d: f64 = (0..D).map(|k| q[i][k] * q[j][k]).sum();
                orth = orth.max((d - if i == j { 1.0 } else { 0.0 }).abs());
            }
        }
        (rec, orth)
    }

    fn random_spd<const D: usize>(seed: u64) -> [[f64; D]; D] {
        let mut rng = Streams::<f64>::new(seed, 0);
        let b: [[f64; D]; D] = core::array::from_fn(|_| rng.normal_array());
        core::array::from_fn(|i| {
            core::array::from_fn(|j| {
                (0..D).map(|k| b[i][k] * b[j][k]).sum::<f64>() + if i == j { 0.1 } else { 0.0 }
            })
        })
    }

    #[test]
    fn reconstructs_random_spd_matrices_to_rounding() {
        for seed in 0..50 {
            let a = random_spd::<8>(seed);
            let (q, l) = symmetric_eigen(&a).expect("finite input converges");
            let scale = l.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            let (rec, orth) = residuals(&a, &q, &l);
            assert!(rec <= 64.0 * f64::EPSILON * scale, "seed {seed}: reconstruction {rec}");
            assert!(orth <= 64.0 * f64::EPSILON, "seed {seed}: orthogonality {orth}");
        }
    }

    #[test]
    fn known_eigenvalues() {
        // [[2, 1], [1, 2]] has eigenvalues 1 and 3; a diagonal matrix is returned as is.
        let (_, mut l) = symmetric_eigen(&[[2.0, 1.0], [1.0, 2.0]]).unwrap();
        l.sort_by(f64::total_cmp);
        assert!((l[0] - 1.0).abs() < 1e-15 && (l[1] - 3.0).abs() < 1e-15);
        let (q, l) = symmetric_eigen(&[[4.0, 0.0, 0.0], [0.0, 0.5, 0.0], [0.0, 0.0, 9.0]]).unwrap();
        assert_eq!(l, [4.0, 0.5, 9.0]);
        assert_eq!(q[1], [0.0, 1.0, 0.0]);
        // A nearly singular, badly scaled matrix still decomposes accurately.
        let a = [[1e6, 1e-3, 0.0], [1e-3, 1e-6, 0.0], [0.0, 0.0, 1.0]];
        let (q, l) = symmetric_eigen(&a).unwrap();
        let (rec, orth) = residuals(&a, &q, &l);
        assert!(rec <= 1e-9 && orth <= 1e-14, "{rec} {orth}");
    }

    #[test]
    fn rejects_non_finite() {
        assert_eq!(
            symmetric_eigen(&[[1.0, f64::NAN], [f64::NAN, 1.0]]),
            Err(Error::NonFinite("covariance"))
        );
    }
}
