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

use crate::dist::TwoF32;
use crate::error::{Error, all_finite};
use crate::flow::Bijector;
use crate::flow::affine::{log2_abs, signed_exp2};
use crate::flow::permute::Permutation;
use crate::flow::train::{TrainableForward, TrainableInverse};
use crate::params::{GradSink, Params, check_len, split, split_ref};
use crate::real::Real;
use crate::rng::{LaneSource, Streams};

/// x = P·L·(U + diag s)·z with `f32` factors (`4·(2D² + 3D)` bytes plus the permutation).
///
/// The diagonal is parameterised like [`Affine`](crate::flow::Affine)'s scale: sᵢ = ±2^ℓᵢ with
/// a fixed sign, so every finite ℓ with |ℓ| ≤ [`MAX_LOG2_SCALE`](crate::flow::affine::MAX_LOG2_SCALE) gives an invertible W. The
/// permutation and the signs are fixed; `f64` lanes see ±2^ℓ itself (a sum of two `f32`s).
///
/// Parameter layout ([`Params`], `D²` numbers): the strictly lower entries of L row by row
/// (L₁₀, L₂₀, L₂₁, …), the strictly upper entries of U row by row (U₀₁, …, U₀,D−1, U₁₂, …),
/// then ℓ₀..ℓ_{D−1} (log₂|sᵢ|).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LuLinear<const D: usize> {
    perm: Permutation<D>,
    lower: [[f32; D]; D],
    upper: [[f32; D]; D],
    negative: [bool; D],
    log2_diag: [f32; D],
    diag: [TwoF32; D],
    log_det: TwoF32,
}

impl<const D: usize> LuLinear<D> {
    /// The layer from its factors: `perm` (P: x_i = (L·(U + diag s)·z)_{perm\[i\]}), the strictly
    /// lower part of `lower` (its unit diagonal implied), the strictly upper part of `upper`, and
    /// the diagonal `diag` = s.
    ///
    /// The diagonal is stored as its signs and ℓ ≈ log₂|s| in `f32`, chosen as in
    /// [`Affine::new`](crate::flow::Affine::new) so that the `f32` diagonal is `diag` itself
    /// whenever possible (within 2.2e-7 relative otherwise).
    ///
    /// Errors: a non-finite entry ([`Error::NonFinite`]); a zero in `diag` (W singular) or one
    /// outside 2^±[`MAX_LOG2_SCALE`](crate::flow::affine::MAX_LOG2_SCALE), a non-zero entry on or above the diagonal of `lower` or on
    /// or below the diagonal of `upper`, or an invalid permutation ([`Error::InvalidParameter`]).
    pub fn from_params(
        perm: [usize; D],
        lower: [[f32; D]; D],
        upper: [[f32; D]; D],
        diag: [f32; D],
    ) -> Result<Self, Error> {
        all_finite("diag", &diag)?;
        if diag.contains(&0.0) {
            return Err(Error::InvalidParameter {
                name: "diag",
                reason: "a zero on the LU diagonal makes W singular",
            });
        }
        let log2_diag = diag.map(log2_abs);
        Self::from_log2_diag(perm, lower, upper, diag.map(|s| s < 0.0), log2_diag)
    }

    /// The layer with sᵢ = −2^ℓᵢ where `negative[i]`, +2^ℓᵢ elsewhere; the other arguments as
    /// in [`LuLinear::from_params`].
    ///
    /// Errors: as [`LuLinear::from_params`], with |ℓᵢ| > [`MAX_LOG2_SCALE`](crate::flow::affine::MAX_LOG2_SCALE) an
    /// [`Error::InvalidParameter`].
    pub fn from_log2_diag(
        perm: [usize; D],
        lower: [[f32; D]; D],
        upper: [[f32; D]; D],
        negative: [bool; D],
        log2_diag: [f32; D],
    ) -> Result<Self, Error> {
        let perm = Permutation::new(perm)?;
        for row in &lower {
            all_finite("lower", row)?;
        }
        for row in &upper {
            all_finite("upper", row)?;
        }
        all_finite("log2_diag", &log2_diag)?;
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
        let mut diag = [TwoF32::default(); D];
        let mut sum = 0.0f64;
        for i in 0..D {
            diag[i] = signed_exp2("log2_diag", negative[i], log2_diag[i])?;
            sum += log2_diag[i] as f64;
        }
        let log_det = TwoF32::new(core::f64::consts::LN_2 * sum);
        Ok(Self { perm, lower, upper, negative, log2_diag, diag, log_det })
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
        let mut rows: [usize; D] = crate::lane::array_fn(|i| i);
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

    /// s, the diagonal of U + diag s (rounded to `f32`).
    pub fn diag(&self) -> [f32; D] {
        self.diag.map(TwoF32::hi)
    }

    /// The trainable log₂|sᵢ|.
    pub fn log2_diag(&self) -> &[f32; D] {
        &self.log2_diag
    }

    /// y = (U + diag s)·z.
    #[inline(always)]
    fn upper_apply<R: Real>(&self, z: &[R; D]) -> [R; D] {
        let mut y = [R::zero(); D];
        for i in 0..D {
            let mut acc = self.diag[i].get::<R>() * z[i];
            for j in i + 1..D {
                acc += R::from_f32(self.upper[i][j]) * z[j];
            }
            y[i] = acc;
        }
        y
    }

    /// w = L⁻¹·v (forward substitution, unit diagonal).
    #[inline(always)]
    fn lower_solve<R: Real>(&self, mut w: [R; D]) -> [R; D] {
        for i in 0..D {
            let mut acc = w[i];
            for j in 0..i {
                acc -= R::from_f32(self.lower[i][j]) * w[j];
            }
            w[i] = acc;
        }
        w
    }

    /// Accumulate the gradient of ℓ from s̄ (sᵢ = ±2^ℓᵢ, so ℓ̄ᵢ = s̄ᵢ sᵢ ln 2) and of the
    /// log-determinant Σ ln|sᵢ| = ln 2·Σℓ with cotangent `lbar`, and of the triangles from
    /// (rank-one) products: L̄ᵢⱼ += `lo[i]·lo_r[j]`, Ūᵢⱼ += `up[i]·up_r[j]`, s̄ᵢ = `up[i]·up_r[i]`.
    #[inline(always)]
    fn accumulate<R: Real, G: GradSink<R> + ?Sized>(
        &self,
        lo: &[R; D],
        lo_r: &[R; D],
        up: &[R; D],
        up_r: &[R; D],
        lbar: R,
        grad: &mut G,
    ) {
        // The whole gradient, L (D(D−1)/2), U (the same) and ℓ (D): D² entries, one `add`.
        let mut buf = [[R::zero(); D]; D];
        let mut it = buf.as_flattened_mut().iter_mut();
        for i in 1..D {
            for j in 0..i {
                if let Some(g) = it.next() {
                    *g = lo[i] * lo_r[j];
                }
            }
        }
        for i in 0..D {
            for j in i + 1..D {
                if let Some(g) = it.next() {
                    *g = up[i] * up_r[j];
                }
            }
        }
        let ln2 = R::from_f64(core::f64::consts::LN_2);
        for (i, g) in it.enumerate().take(D) {
            *g = ln2 * (up[i] * up_r[i] * self.diag[i].get::<R>() + lbar);
        }
        grad.add(0, buf.as_flattened());
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
        let mut y = self.upper_apply(&z);
        // w = L·y (unit diagonal), computed bottom-up so that y can be overwritten in place.
        for i in (0..D).rev() {
            let mut acc = y[i];
            for j in 0..i {
                acc += R::from_f32(self.lower[i][j]) * y[j];
            }
            y[i] = acc;
        }
        (self.perm.forward(y).0, self.log_det.get::<R>())
    }

    #[inline]
    fn inverse<R: Real>(&self, x: [R; D]) -> Result<([R; D], R), Error> {
        let (w, _) = self.perm.inverse(x)?;
        // L·y = w, forward substitution.
        let mut w = self.lower_solve(w);
        // (U + diag s)·z = y, back substitution.
        for i in (0..D).rev() {
            let mut acc = w[i];
            for j in i + 1..D {
                acc -= R::from_f32(self.upper[i][j]) * w[j];
            }
            w[i] = acc / self.diag[i].get::<R>();
        }
        Ok((w, -self.log_det.get::<R>()))
    }
}

impl<const D: usize> Params for LuLinear<D> {
    const LEN: usize = D * D;

    fn write_params(&self, out: &mut [f32]) -> Result<(), Error> {
        check_len("lu params", out.len(), Self::LEN)?;
        let tri = D * D.saturating_sub(1) / 2;
        let (ol, rest) = split(out, tri);
        let (ou, od) = split(rest, tri);
        let lower = (1..D).flat_map(|i| (0..i).map(move |j| (i, j)));
        for (o, (i, j)) in ol.iter_mut().zip(lower) {
            *o = self.lower[i][j];
        }
        let upper = (0..D).flat_map(|i| (i + 1..D).map(move |j| (i, j)));
        for (o, (i, j)) in ou.iter_mut().zip(upper) {
            *o = self.upper[i][j];
        }
        od.copy_from_slice(&self.log2_diag);
        Ok(())
    }

    fn read_params(&mut self, src: &[f32]) -> Result<(), Error> {
        check_len("lu params", src.len(), Self::LEN)?;
        let tri = D * D.saturating_sub(1) / 2;
        let (sl, rest) = split_ref(src, tri);
        let (su, sd) = split_ref(rest, tri);
        let mut lower = [[0.0f32; D]; D];
        let lower_idx = (1..D).flat_map(|i| (0..i).map(move |j| (i, j)));
        for (&v, (i, j)) in sl.iter().zip(lower_idx) {
            lower[i][j] = v;
        }
        let mut upper = [[0.0f32; D]; D];
        let upper_idx = (0..D).flat_map(|i| (i + 1..D).map(move |j| (i, j)));
        for (&v, (i, j)) in su.iter().zip(upper_idx) {
            upper[i][j] = v;
        }
        let mut log2_diag = [0.0f32; D];
        log2_diag.copy_from_slice(sd);
        *self = Self::from_log2_diag(*self.perm.indices(), lower, upper, self.negative, log2_diag)?;
        Ok(())
    }
}

/// The intermediate y of an [`LuLinear`] pass (y = (U + diag s)·z = L⁻¹Pᵀx) and its z.
#[derive(Clone, Copy, Debug)]
pub struct LuTape<R, const D: usize> {
    y: [R; D],
    z: [R; D],
}

/// Backward of the inverse y = L⁻¹Pᵀx, z = (U + diag s)⁻¹y, l = −ln 2·Σℓ:
/// ȳ = (U + diag s)⁻ᵀz̄, Ū = −ȳ zᵀ (strict upper), s̄ = −ȳ⊙z; w̄ = L⁻ᵀȳ, L̄ = −w̄ yᵀ (strict
/// lower); x̄ = P w̄. Two triangular solves, like the inverse itself.
impl<const D: usize> TrainableInverse<D> for LuLinear<D> {
    type InverseTape<R: Real> = LuTape<R, D>;

    #[inline]
    fn inverse_tape<R: Real>(&self, x: [R; D]) -> Result<([R; D], R, LuTape<R, D>), Error> {
        let (w, _) = self.perm.inverse(x)?;
        let y = self.lower_solve(w);
        let mut z = y;
        for i in (0..D).rev() {
            let mut acc = z[i];
            for j in i + 1..D {
                acc -= R::from_f32(self.upper[i][j]) * z[j];
            }
            z[i] = acc / self.diag[i].get::<R>();
        }
        Ok((z, -self.log_det.get::<R>(), LuTape { y, z }))
    }

    #[inline]
    fn inverse_backward<R: Real, G: GradSink<R> + ?Sized>(
        &self,
        _x: &[R; D],
        tape: &LuTape<R, D>,
        zbar: &[R; D],
        lbar: R,
        grad: &mut G,
    ) -> [R; D] {
        // (U + diag s)ᵀ ȳ = z̄: forward substitution.
        let mut ybar = *zbar;
        for j in 0..D {
            let mut acc = ybar[j];
            for i in 0..j {
                acc -= R::from_f32(self.upper[i][j]) * ybar[i];
            }
            ybar[j] = acc / self.diag[j].get::<R>();
        }
        // Lᵀ w̄ = ȳ: back substitution (unit diagonal).
        let mut wbar = ybar;
        for j in (0..D).rev() {
            let mut acc = wbar[j];
            for i in j + 1..D {
                acc -= R::from_f32(self.lower[i][j]) * wbar[i];
            }
            wbar[j] = acc;
        }
        let neg_w: [R; D] = crate::lane::array_fn(|i| -wbar[i]);
        let neg_y: [R; D] = crate::lane::array_fn(|i| -ybar[i]);
        self.accumulate(&neg_w, &tape.y, &neg_y, &tape.z, -lbar, grad);
        self.perm.forward(wbar).0
    }
}

/// Backward of the forward y = (U + diag s)·z, w = L·y, x = P·w, l = ln 2·Σℓ: w̄ = Pᵀx̄,
/// L̄ = w̄ yᵀ, ȳ = Lᵀw̄, Ū = ȳ zᵀ, s̄ = ȳ⊙z, z̄ = (U + diag s)ᵀȳ.
impl<const D: usize> TrainableForward<D> for LuLinear<D> {
    type ForwardTape<R: Real> = [R; D];

    #[inline]
    fn forward_tape<R: Real>(&self, z: [R; D]) -> ([R; D], R, [R; D]) {
        let y = self.upper_apply(&z);
        let mut w = y;
        for i in (0..D).rev() {
            let mut acc = w[i];
            for j in 0..i {
                acc += R::from_f32(self.lower[i][j]) * w[j];
            }
            w[i] = acc;
        }
        (self.perm.forward(w).0, self.log_det.get::<R>(), y)
    }

    #[inline]
    fn forward_backward<R: Real, G: GradSink<R> + ?Sized>(
        &self,
        z: &[R; D],
        y: &[R; D],
        xbar: &[R; D],
        lbar: R,
        grad: &mut G,
    ) -> [R; D] {
        let mut wbar = *xbar;
        for (&p, &xb) in self.perm.indices().iter().zip(xbar.iter()) {
            wbar[p] = xb;
        }
        let mut ybar = wbar;
        for j in 0..D {
            for i in j + 1..D {
                ybar[j] += R::from_f32(self.lower[i][j]) * wbar[i];
            }
        }
        self.accumulate(&wbar, y, &ybar, z, lbar, grad);
        let mut zbar = [R::zero(); D];
        for j in 0..D {
            let mut acc = self.diag[j].get::<R>() * ybar[j];
            for i in 0..j {
                acc += R::from_f32(self.upper[i][j]) * ybar[i];
            }
            zbar[j] = acc;
        }
        zbar
    }
}
