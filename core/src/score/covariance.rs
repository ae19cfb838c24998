//! A validated symmetric positive-definite covariance, eigen-decomposed once (MATH.md §2).
//!
//! Σ = Q Λ Qᵀ is computed in `f64` at construction by cyclic Jacobi rotations ([`jacobi`]) and
//! stored as `f32` (parameters are `f32`, DESIGN.md). Every closed-form model works in the
//! eigenbasis, so nothing is factorised per sample or per step.
//!
//! Why our own eigen-solver rather than nalgebra's `SymmetricEigen`, which this module used, for
//! matrices of at most 8 × 8 built once: Jacobi's method on a plain `[[f64; D]; D]` is a few
//! dozen lines and needs none of nalgebra's dimension and allocator bounds on `D` (which every
//! generic caller of `GaussianMixture::new` had to repeat), so the core no longer depends on
//! nalgebra; its work has a fixed bound ([`JACOBI_MAX_SWEEPS`] sweeps of D(D − 1)/2 rotations);
//! and it computes small eigenvalues of a positive-definite matrix to high relative accuracy
//! (Demmel & Veselić 1992), which the positive-definiteness check below relies on. In the
//! Cortex-M4F example it saves 548 B of flash and 16 B of stack.

use crate::error::Error;

/// Largest allowed asymmetry |Σᵢⱼ − Σⱼᵢ| relative to the largest |Σᵢⱼ|: a few `f32` roundings of
/// a symmetric matrix, no more (the symmetric part is used).
pub const SYMMETRY_RTOL: f64 = 1e-6;
/// Smallest allowed eigenvalue relative to the largest: far above `f64` round-off (≈ D·1e-16) so
/// that "positive definite" is a property of the matrix, not of the rounding.
pub const EIGENVALUE_RTOL: f64 = 1e-12;
/// Smallest allowed eigenvalue: keeps 1/λ and products of two (α²λ + σ²) normal `f32` numbers.
pub const MIN_EIGENVALUE: f64 = 1e-12;
/// Largest allowed eigenvalue: keeps products of two (α²λ + σ²) far below `f32::MAX`.
pub const MAX_EIGENVALUE: f64 = 1e12;
/// Sweep cap of the Jacobi eigen-solver (cyclic Jacobi converges quadratically once the
/// off-diagonal part is small); reaching the cap is an [`Error::NotConverged`], never a hang.
pub const JACOBI_MAX_SWEEPS: usize = 50;

/// Eigenvalues and unit eigenvectors of the symmetric matrix `a` by cyclic Jacobi rotations in
/// `f64`: returns (λ, V) with `a = V diag(λ) Vᵀ`, column j of V (`v[i][j]`, i = 0..D) the
/// eigenvector of λⱼ, in no particular order. Each sweep rotates every pair (p, q), p < q, whose
/// off-diagonal entry is not negligible against its diagonal pair,
/// |a_pq| > ε·√|a_pp|·√|a_qq| (ε = `f64::EPSILON`: the test that gives small eigenvalues of a
/// positive-definite matrix to high relative accuracy), to zero that entry (Numerical Recipes'
/// stable form of the rotation); a sweep that rotates nothing ends it. `None` after
/// [`JACOBI_MAX_SWEEPS`] sweeps, and for a matrix with a non-finite entry.
pub fn jacobi<const D: usize>(a: [[f64; D]; D]) -> Option<([f64; D], [[f64; D]; D])> {
    let mut a = a;
    let mut v = [[0.0f64; D]; D];
    for (i, row) in v.iter_mut().enumerate() {
        if let Some(d) = row.get_mut(i) {
            *d = 1.0;
        }
    }
    if !a.iter().flatten().all(|x| x.is_finite()) {
        return None;
    }
    let at = |a: &[[f64; D]; D], i: usize, j: usize| {
        a.get(i).and_then(|r| r.get(j)).copied().unwrap_or(0.0)
    };
    for _ in 0..JACOBI_MAX_SWEEPS {
        let mut rotated = false;
        for p in 0..D {
            for q in p + 1..D {
                let apq = libm::fabs(at(&a, p, q));
                let tol = f64::EPSILON
                    * libm::sqrt(libm::fabs(at(&a, p, p)))
                    * libm::sqrt(libm::fabs(at(&a, q, q)));
                if apq > tol {
                    rotate(&mut a, &mut v, p, q);
                    rotated = true;
                }
            }
        }
        if !rotated {
            return Some((crate::lane::array_fn(|i| at(&a, i, i)), v));
        }
    }
    None
}

/// One Jacobi rotation in the (p, q) plane: A ← Jᵀ A J with (Jᵀ A J)_pq = 0, V ← V J.
fn rotate<const D: usize>(a: &mut [[f64; D]; D], v: &mut [[f64; D]; D], p: usize, q: usize) {
    let at = |a: &[[f64; D]; D], i: usize, j: usize| {
        a.get(i).and_then(|r| r.get(j)).copied().unwrap_or(0.0)
    };
    let apq = at(a, p, q);
    if apq == 0.0 {
        return;
    }
    let theta = (at(a, q, q) - at(a, p, p)) / (2.0 * apq);
    // t = tan φ, the smaller root of t² + 2θt − 1 = 0; for a huge θ, t ≈ 1/(2θ) (θ² overflows).
    let t = if libm::fabs(theta) > 1e150 {
        0.5 / theta
    } else {
        let t = 1.0 / (libm::fabs(theta) + libm::sqrt(theta * theta + 1.0));
        if theta < 0.0 { -t } else { t }
    };
    let c = 1.0 / libm::sqrt(t * t + 1.0);
    let s = t * c;
    // Columns p and q of A J, then rows p and q of Jᵀ (A J), then columns of V J.
    for row in a.iter_mut() {
        if let (Some(&x), Some(&y)) = (row.get(p), row.get(q)) {
            row[p] = c * x - s * y;
            row[q] = s * x + c * y;
        }
    }
    if p < D && q < D {
        let (rp, rq) = (a[p], a[q]);
        for k in 0..D {
            a[p][k] = c * rp[k] - s * rq[k];
            a[q][k] = s * rp[k] + c * rq[k];
        }
    }
    for row in v.iter_mut() {
        if let (Some(&x), Some(&y)) = (row.get(p), row.get(q)) {
            row[p] = c * x - s * y;
            row[q] = s * x + c * y;
        }
    }
}

/// An SPD covariance Σ = Q Λ Qᵀ with its eigen-decomposition.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Covariance<const D: usize> {
    matrix: [[f32; D]; D],
    basis: [[f32; D]; D],
    eigenvalues: [f32; D],
    log_det: f64,
}

impl<const D: usize> Covariance<D> {
    /// The identity matrix (Q = I, Λ = I).
    pub fn identity() -> Self {
        let basis =
            core::array::from_fn(|i| crate::lane::array_fn(|j| if i == j { 1.0 } else { 0.0 }));
        Self { matrix: basis, basis, eigenvalues: [1.0; D], log_det: 0.0 }
    }

    /// Validate and decompose `matrix` (row-major): every entry finite
    /// ([`Error::NonFinite`]), symmetric within [`SYMMETRY_RTOL`], eigenvalues in
    /// [[`MIN_EIGENVALUE`], [`MAX_EIGENVALUE`]] and at least [`EIGENVALUE_RTOL`] times the
    /// largest ([`Error::InvalidParameter`] otherwise).
    pub fn new(matrix: [[f32; D]; D]) -> Result<Self, Error> {
        const NAME: &str = "covariance";
        if !matrix.iter().flatten().all(|v| v.is_finite()) {
            return Err(Error::NonFinite(NAME));
        }
        let scale = matrix.iter().flatten().fold(0.0f64, |m, v| m.max((*v as f64).abs()));
        let mut sym = [[0.0f32; D]; D];
        let mut asym = 0.0f64;
        for (i, row) in matrix.iter().enumerate() {
            for (j, v) in row.iter().enumerate() {
                let w = matrix.get(j).and_then(|r| r.get(i)).copied().unwrap_or(*v);
                asym = asym.max((*v as f64 - w as f64).abs());
                if let Some(s) = sym.get_mut(i).and_then(|r| r.get_mut(j)) {
                    *s = ((*v as f64 + w as f64) * 0.5) as f32;
                }
            }
        }
        if asym > SYMMETRY_RTOL * scale {
            return Err(Error::InvalidParameter { name: NAME, reason: "must be symmetric" });
        }
        let (lambda, vectors) = jacobi(sym.map(|r| r.map(|v| v as f64)))
            .ok_or(Error::NotConverged("covariance eigen-decomposition"))?;
        let lmax = lambda.iter().fold(f64::NEG_INFINITY, |m, v| m.max(*v));
        let lmin = lambda.iter().fold(f64::INFINITY, |m, v| m.min(*v));
        if !(lmin > 0.0 && lmin >= EIGENVALUE_RTOL * lmax) {
            return Err(Error::InvalidParameter {
                name: NAME,
                reason: "must be positive definite",
            });
        }
        if lmin < MIN_EIGENVALUE || lmax > MAX_EIGENVALUE {
            return Err(Error::InvalidParameter {
                name: NAME,
                reason: "eigenvalues must lie in [1e-12, 1e12]",
            });
        }
        let mut basis = [[0.0f32; D]; D];
        let mut eigenvalues = [0.0f32; D];
        let mut log_det = 0.0f64;
        for (j, (b, l)) in basis.iter_mut().zip(eigenvalues.iter_mut()).enumerate() {
            let lam = lambda.get(j).copied().unwrap_or(1.0);
            *l = lam as f32;
            log_det += libm::log(*l as f64);
            for (i, bi) in b.iter_mut().enumerate() {
                *bi = vectors.get(i).and_then(|r| r.get(j)).copied().unwrap_or(0.0) as f32;
            }
        }
        Ok(Self { matrix: sym, basis, eigenvalues, log_det })
    }

    /// The (symmetrised) matrix Σ.
    pub fn matrix(&self) -> &[[f32; D]; D] {
        &self.matrix
    }
    /// The unit eigenvectors: `basis()[j]` is the j-th column of Q.
    pub fn basis(&self) -> &[[f32; D]; D] {
        &self.basis
    }
    /// The eigenvalues λⱼ (as stored, `f32`).
    pub fn eigenvalues(&self) -> &[f32; D] {
        &self.eigenvalues
    }
    /// log |Σ| = Σⱼ ln λⱼ of the stored eigenvalues.
    pub fn log_det(&self) -> f64 {
        self.log_det
    }
    /// Σ⁻¹ = Q Λ⁻¹ Qᵀ from the stored factors, accumulated in `f64`.
    pub fn precision(&self) -> [[f64; D]; D] {
        self.reconstruct(|l| 1.0 / l)
    }
    /// A square-root factor A = Q Λ^{1/2} (so A Aᵀ = Σ): row i, column j.
    pub fn sqrt_factor(&self) -> [[f32; D]; D] {
        let mut a = [[0.0f32; D]; D];
        for (i, row) in a.iter_mut().enumerate() {
            for (j, v) in row.iter_mut().enumerate() {
                let q = self.basis.get(j).and_then(|b| b.get(i)).copied().unwrap_or(0.0);
                let l = self.eigenvalues.get(j).copied().unwrap_or(0.0);
                *v = (q as f64 * libm::sqrt(l as f64)) as f32;
            }
        }
        a
    }

    /// Q f(Λ) Qᵀ in `f64`.
    fn reconstruct(&self, f: impl Fn(f64) -> f64) -> [[f64; D]; D] {
        let mut out = [[0.0f64; D]; D];
        for (b, l) in self.basis.iter().zip(self.eigenvalues.iter()) {
            let fl = f(*l as f64);
            for (i, row) in out.iter_mut().enumerate() {
                let bi = b.get(i).copied().unwrap_or(0.0) as f64;
                for (o, bj) in row.iter_mut().zip(b.iter()) {
                    *o += bi * fl * *bj as f64;
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decomposition_reconstructs_the_matrix() {
        let m = [[2.0f32, 0.6, -0.3], [0.6, 1.0, 0.2], [-0.3, 0.2, 0.5]];
        let c = Covariance::new(m).unwrap();
        let back = c.reconstruct(|l| l);
        let prec = c.precision();
        for i in 0..3 {
            for j in 0..3 {
                // f32-stored factors: ≈ 1e-7 relative.
                assert!((back[i][j] - m[i][j] as f64).abs() < 1e-6);
                let mut id = 0.0;
                for k in 0..3 {
                    id += prec[i][k] * m[k][j] as f64;
                }
                assert!((id - if i == j { 1.0 } else { 0.0 }).abs() < 2e-6);
            }
        }
        // log|Σ| against the cofactor determinant.
        let det = m[0][0] as f64
            * (m[1][1] as f64 * m[2][2] as f64 - m[1][2] as f64 * m[2][1] as f64)
            - m[0][1] as f64 * (m[1][0] as f64 * m[2][2] as f64 - m[1][2] as f64 * m[2][0] as f64)
            + m[0][2] as f64 * (m[1][0] as f64 * m[2][1] as f64 - m[1][1] as f64 * m[2][0] as f64);
        assert!((c.log_det() - det.ln()).abs() < 1e-6);
    }

    #[test]
    fn rejects_invalid_matrices() {
        assert_eq!(
            Covariance::new([[f32::NAN, 0.0], [0.0, 1.0]]),
            Err(Error::NonFinite("covariance"))
        );
        assert!(Covariance::new([[1.0f32, 0.5], [0.4, 1.0]]).is_err()); // asymmetric
        assert!(Covariance::new([[1.0f32, 2.0], [2.0, 1.0]]).is_err()); // indefinite
        assert!(Covariance::new([[1.0f32, 1.0], [1.0, 1.0]]).is_err()); // singular
        assert!(Covariance::new([[0.0f32, 0.0], [0.0, 0.0]]).is_err());
        assert!(Covariance::new([[1e13f32, 0.0], [0.0, 1e13]]).is_err()); // out of range
    }
}
