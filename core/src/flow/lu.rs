//! Invertible linear layer in LU form (Kingma & Dhariwal 2018, Glow's 1×1 convolution for
//! vectors), MATH.md §1 ("Invertible linear (LU)"):
//!   x = W z,  W = P·L·(U + diag s),  log|det W| = Σ log|sᵢ|,
//! with P a fixed permutation, L unit lower triangular, U strictly upper triangular.
//! The inverse is two triangular solves (L, then U + diag s) and a permutation.
//! Cost per sample: ≈ D² multiply-adds each way (D divisions in the inverse); Σ log|sᵢ| is
//! prepared at construction. [`LuLinear::random_rotation`] starts from a random orthogonal W
//! (the orthonormalised columns of a Gaussian matrix, at set-up only, in `f64`; P, L, U from
//! its LU factorisation with partial pivoting).

// Triangular solves and factorisations read most clearly with explicit indices.
#![allow(clippy::needless_range_loop)]

use crate::error::{Error, all_finite};
use crate::flow::Bijector;
use crate::flow::permute::Permutation;
use crate::real::Real;
use crate::rng::{LaneSource, Streams};

/// x = P·L·(U + diag s)·z with `f32` factors (`4·(2D² + D)` bytes plus the permutation).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LuLinear<const D: usize> {
    perm: Permutation<D>,
    lower: [[f32; D]; D],
    upper: [[f32; D]; D],
    diag: [f32; D],
    log_det: f64,
}

impl<const D: usize> LuLinear<D> {
    /// The layer from its factors: `perm` (P: x_i = (L·(U + diag s)·z)_{perm\[i\]}), the strictly
    /// lower part of `lower` (its unit diagonal implied), the strictly upper part of `upper`, and
    /// the diagonal `diag` = s.
    ///
    /// Errors: a non-finite entry ([`Error::NonFinite`]); a zero in `diag` (W singular), a
    /// non-zero entry on or above the diagonal of `lower` or on or below the diagonal of
    /// `upper`, or an invalid permutation ([`Error::InvalidParameter`]).
    pub fn from_params(
        perm: [usize; D],
        lower: [[f32; D]; D],
        upper: [[f32; D]; D],
        diag: [f32; D],
    ) -> Result<Self, Error> {
        let perm = Permutation::new(perm)?;
        for row in &lower {
            all_finite("lower", row)?;
        }
        for row in &upper {
            all_finite("upper", row)?;
        }
        all_finite("diag", &diag)?;
        for i in 0..D {
            for j in 0..D {
                if j >= i && lower[i][j] != 0.0 {
                    return Err(Error::InvalidParameter {
                        name: "lower",
                        reason: "must be strictly lower triangular (unit diagonal implied)",
                    });
                }
                if j <= i && upper[i][j] != 0.0 {
                    return Err(Error::InvalidParameter {
                        name: "upper",
                        reason: "must be strictly upper triangular",
                    });
                }
            }
        }
        if diag.contains(&0.0) {
            return Err(Error::InvalidParameter {
                name: "diag",
                reason: "a zero on the LU diagonal makes W singular",
            });
        }
        let log_det = diag.iter().map(|&s| libm::log(libm::fabs(s as f64))).sum::<f64>();
        Ok(Self { perm, lower, upper, diag, log_det })
    }

    /// A random rotation: Q of the QR factorisation (R with a positive diagonal, so Q is
    /// Haar-distributed) of a D×D matrix of standard normals (sample stream 0 of `seed`, row by
    /// row), computed by Gram–Schmidt with re-orthogonalisation, factored as
    /// Q = P·L·(U + diag s) by LU with partial pivoting in `f64` and rounded to `f32`.
    /// |det W| = 1 up to that rounding. A numerically singular draw (probability ≈ 0) gives
    /// [`Error::InvalidParameter`].
    pub fn random_rotation(seed: u64) -> Result<Self, Error> {
        let mut rng = Streams::<f32>::new(seed, 0);
        let mut q = [[0.0f64; D]; D];
        for row in q.iter_mut() {
            for v in row.iter_mut() {
                *v = LaneSource::<f32>::normal(&mut rng) as f64;
            }
        }
        orthonormalise_columns(&mut q)?;
        // Partial pivoting factors the row-swapped matrix A whose row k is row rows[k] of Q:
        // A = L·U. Then x = Q·z has x_{rows[k]} = (L·U·z)_k, i.e. perm[rows[k]] = k.
        let mut a = q;
        let mut rows: [usize; D] = core::array::from_fn(|i| i);
        for k in 0..D {
            let mut p = k;
            for i in k + 1..D {
                if libm::fabs(a[i][k]) > libm::fabs(a[p][k]) {
                    p = i;
                }
            }
            a.swap(k, p);
            rows.swap(k, p);
            if a[k][k] == 0.0 {
                return Err(Error::InvalidParameter { name: "seed", reason: "singular draw" });
            }
            for i in k + 1..D {
                let f = a[i][k] / a[k][k];
                a[i][k] = f;
                for j in k + 1..D {
                    a[i][j] -= f * a[k][j];
                }
            }
        }
        let mut perm = [0usize; D];
        for (k, &r) in rows.iter().enumerate() {
            perm[r] = k;
        }
        let mut lower = [[0.0f32; D]; D];
        let mut upper = [[0.0f32; D]; D];
        let mut diag = [0.0f32; D];
        for i in 0..D {
            for j in 0..D {
                if j < i {
                    lower[i][j] = a[i][j] as f32;
                } else if j > i {
                    upper[i][j] = a[i][j] as f32;
                }
            }
            diag[i] = a[i][i] as f32;
        }
        Self::from_params(perm, lower, upper, diag)
    }

    /// The permutation P.
    pub fn permutation(&self) -> &Permutation<D> {
        &self.perm
    }

    /// s, the diagonal of U + diag s.
    pub fn diag(&self) -> &[f32; D] {
        &self.diag
    }
}

/// Smallest column norm (relative to the column's norm before projection) accepted when
/// orthonormalising: below it the Gaussian draw is numerically rank-deficient.
const MIN_RELATIVE_NORM: f64 = 1e-8;

/// Orthonormalise the columns of `q` in place (classical Gram–Schmidt applied twice, which is
/// orthogonal to working precision, Giraud et al. 2005); the implied R has a positive diagonal.
fn orthonormalise_columns<const D: usize>(q: &mut [[f64; D]; D]) -> Result<(), Error> {
    for j in 0..D {
        let norm0 = libm::sqrt((0..D).map(|i| q[i][j] * q[i][j]).sum::<f64>());
        for _pass in 0..2 {
            for k in 0..j {
                let dot: f64 = (0..D).map(|i| q[i][k] * q[i][j]).sum();
                for i in 0..D {
                    q[i][j] -= dot * q[i][k];
                }
            }
        }
        let norm = libm::sqrt((0..D).map(|i| q[i][j] * q[i][j]).sum::<f64>());
        if norm <= MIN_RELATIVE_NORM * norm0 {
            return Err(Error::InvalidParameter { name: "seed", reason: "singular draw" });
        }
        for i in 0..D {
            q[i][j] /= norm;
        }
    }
    Ok(())
}

impl<const D: usize> Bijector<D> for LuLinear<D> {
    #[inline]
    fn forward<R: Real>(&self, z: [R; D]) -> ([R; D], R) {
        // y = (U + diag s)·z
        let mut y = [R::zero(); D];
        for i in 0..D {
            let mut acc = R::from_f32(self.diag[i]) * z[i];
            for j in i + 1..D {
                acc += R::from_f32(self.upper[i][j]) * z[j];
            }
            y[i] = acc;
        }
        // w = L·y (unit diagonal), computed bottom-up so that y can be overwritten in place.
        for i in (0..D).rev() {
            let mut acc = y[i];
            for j in 0..i {
                acc += R::from_f32(self.lower[i][j]) * y[j];
            }
            y[i] = acc;
        }
        (self.perm.forward(y).0, R::from_f64(self.log_det))
    }

    #[inline]
    fn inverse<R: Real>(&self, x: [R; D]) -> Result<([R; D], R), Error> {
        let (mut w, _) = self.perm.inverse(x)?;
        // L·y = w, forward substitution.
        for i in 0..D {
            let mut acc = w[i];
            for j in 0..i {
                acc -= R::from_f32(self.lower[i][j]) * w[j];
            }
            w[i] = acc;
        }
        // (U + diag s)·z = y, back substitution.
        for i in (0..D).rev() {
            let mut acc = w[i];
            for j in i + 1..D {
                acc -= R::from_f32(self.upper[i][j]) * w[j];
            }
            w[i] = acc / R::from_f32(self.diag[i]);
        }
        Ok((w, -R::from_f64(self.log_det)))
    }
}
