//! A validated symmetric positive-definite covariance, eigen-decomposed once (MATH.md §2).
//!
//! Σ = Q Λ Qᵀ is computed in `f64` by nalgebra's `SymmetricEigen` at construction and stored as
//! `f32` (parameters are `f32`, DESIGN.md). Every closed-form model works in the eigenbasis, so
//! nothing is factorised per sample or per step.

use nalgebra::allocator::Allocator;
use nalgebra::{
    ArrayStorage, Const, DefaultAllocator, DimDiff, DimSub, SMatrix, SymmetricEigen, U1,
};

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
/// Iteration cap of the symmetric QR eigen-solver (it needs a few per eigenvalue); reaching it
/// is an [`Error::NotConverged`], never a hang.
pub const EIGEN_MAX_ITERATIONS: usize = 10_000;

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
            core::array::from_fn(|i| core::array::from_fn(|j| if i == j { 1.0 } else { 0.0 }));
        Self { matrix: basis, basis, eigenvalues: [1.0; D], log_det: 0.0 }
    }

    /// Validate and decompose `matrix` (row-major): every entry finite
    /// ([`Error::NonFinite`]), symmetric within [`SYMMETRY_RTOL`], eigenvalues in
    /// [[`MIN_EIGENVALUE`], [`MAX_EIGENVALUE`]] and at least [`EIGENVALUE_RTOL`] times the
    /// largest ([`Error::InvalidParameter`] otherwise).
    pub fn new(matrix: [[f32; D]; D]) -> Result<Self, Error>
    where
        Const<D>: DimSub<U1>,
        DefaultAllocator: Allocator<DimDiff<Const<D>, U1>>,
    {
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
        // Column-major storage: column j holds (Σ₀ⱼ, …); Σ is symmetric, so rows serve as columns.
        let m = SMatrix::<f64, D, D>::from_data(ArrayStorage(sym.map(|r| r.map(|v| v as f64))));
        let eig = SymmetricEigen::try_new(m, f64::EPSILON, EIGEN_MAX_ITERATIONS)
            .ok_or(Error::NotConverged("covariance eigen-decomposition"))?;
        let lmax = eig.eigenvalues.iter().fold(f64::NEG_INFINITY, |m, v| m.max(*v));
        let lmin = eig.eigenvalues.iter().fold(f64::INFINITY, |m, v| m.min(*v));
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
            let lam = eig.eigenvalues.get(j).copied().unwrap_or(1.0);
            *l = lam as f32;
            log_det += libm::log(*l as f64);
            for (i, bi) in b.iter_mut().enumerate() {
                *bi = eig.eigenvectors.get((i, j)).copied().unwrap_or(0.0) as f32;
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
