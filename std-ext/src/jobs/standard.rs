//! Standard coordinates: the affine map that gives a target mixture mean 0 and covariance I.
//!
//! With the mixture's overall mean m = Σₖ πₖ μₖ and overall covariance
//! C = Σₖ πₖ (Σₖ + (μₖ − m)(μₖ − m)ᵀ) = L Lᵀ (Cholesky, in f64), the map z = L⁻¹(x − m) carries
//! the mixture into the mixture Σₖ πₖ N(L⁻¹(μₖ − m), L⁻¹ Σₖ L⁻ᵀ) — exactly, because an affine
//! image of a Gaussian mixture is a Gaussian mixture. `sample` draws in standard coordinates and
//! returns x = m + L z; `loglik` evaluates at z and returns log p(z) − log det L (the change of
//! variables, exact). The samplers' fixed constants (the VP prior N(0, I), VE's σ_max = 50,
//! the Langevin step sizes, ε) are therefore set against a unit-scale target whatever the
//! target's location and scale, and the core's f32 parameters hold numbers of order one.
//!
//! For `loglik` at ε > 0 this fixes what "perturbed to ε" means: the SDE's noise is added in
//! standard coordinates, so log p_ε is the same function of x whatever units the data are in
//! (and tends to log p₀(x) as ε → 0 for every target).

use anyhow::ensure;
use nalgebra::{DMatrix, DVector};

use crate::io::Spec;
use crate::text::num;

/// The largest condition number of a component covariance in standard coordinates: the core
/// holds covariances in f32 (24 bits), which leaves the smallest eigenvalue within about 1% at
/// a condition number of 1e5.
pub const MAX_STANDARD_CONDITION: f64 = 1e5;

/// The affine map x ↦ z = L⁻¹(x − m) of a target and the standardised target.
#[derive(Clone, Debug)]
pub struct Standardised {
    /// m, the target's overall mean.
    pub mean: Vec<f64>,
    /// L, the lower Cholesky factor of the target's overall covariance.
    pub factor: DMatrix<f64>,
    /// log det L = ½ log det C.
    pub log_det: f64,
    /// The target in standard coordinates (zero-weight components dropped).
    pub spec: Spec,
}

impl Standardised {
    /// Standardises a validated spec; errors when a component is too ill-conditioned in
    /// standard coordinates for the core's f32 parameters.
    pub fn new(spec: &Spec) -> anyhow::Result<Self> {
        let d = spec.dim;
        let active: Vec<usize> =
            (0..spec.weights.len()).filter(|&k| spec.weights[k] > 0.0).collect();
        let total: f64 = active.iter().map(|&k| spec.weights[k]).sum();
        let w: Vec<f64> = active.iter().map(|&k| spec.weights[k] / total).collect();
        let mu: Vec<DVector<f64>> =
            active.iter().map(|&k| DVector::from_column_slice(&spec.means[k])).collect();
        let cov: Vec<DMatrix<f64>> = active
            .iter()
            .map(|&k| {
                let c = &spec.covariances[k];
                DMatrix::from_fn(d, d, |r, s| 0.5 * (c[r][s] + c[s][r]))
            })
            .collect();
        let mut m = DVector::zeros(d);
        for (wk, mk) in w.iter().zip(&mu) {
            m += mk * *wk;
        }
        let mut c = DMatrix::zeros(d, d);
        for ((wk, mk), ck) in w.iter().zip(&mu).zip(&cov) {
            let dv = mk - &m;
            c += (ck + &dv * dv.transpose()) * *wk;
        }
        let chol = nalgebra::Cholesky::new(c.clone()).ok_or_else(|| {
            anyhow::anyhow!("the target's overall covariance is not positive definite in f64")
        })?;
        let l = chol.l();
        let log_det = (0..d).map(|i| l[(i, i)].ln()).sum::<f64>();
        ensure!(log_det.is_finite(), "the target's scale is not representable");
        let solve = |v: &DVector<f64>| -> DVector<f64> {
            l.solve_lower_triangular(v).unwrap_or_else(|| DVector::from_element(d, f64::NAN))
        };
        let mut means = Vec::with_capacity(w.len());
        let mut covariances = Vec::with_capacity(w.len());
        for (i, (mk, ck)) in mu.iter().zip(&cov).enumerate() {
            let z = solve(&(mk - &m));
            // L⁻¹ Σ L⁻ᵀ, column by column, then symmetrised.
            let a = l
                .solve_lower_triangular(ck)
                .unwrap_or_else(|| DMatrix::from_element(d, d, f64::NAN));
            let b = l
                .solve_lower_triangular(&a.transpose())
                .unwrap_or_else(|| DMatrix::from_element(d, d, f64::NAN));
            let b = (&b + b.transpose()) * 0.5;
            let eig = b.symmetric_eigenvalues();
            let (lmin, lmax) = (eig.min(), eig.max());
            let k = active[i];
            ensure!(
                lmin > 0.0 && lmax / lmin <= MAX_STANDARD_CONDITION,
                "covariance {k} has condition number {} in standard coordinates (mean 0, \
                 covariance I for the whole mixture); at most {MAX_STANDARD_CONDITION:e} is \
                 supported (the core holds covariances in f32)",
                num(lmax / lmin)
            );
            means.push(z.iter().copied().collect());
            covariances.push((0..d).map(|r| (0..d).map(|s| b[(r, s)]).collect()).collect());
        }
        let spec = Spec::validate(w, means, covariances)?;
        Ok(Self { mean: m.iter().copied().collect(), factor: l, log_det, spec })
    }

    /// z = L⁻¹(x − m) for one row (forward substitution).
    pub fn to_standard(&self, x: &[f64], z: &mut [f64]) {
        let d = self.mean.len();
        for i in 0..d {
            let done: f64 = z[..i].iter().enumerate().map(|(j, zj)| self.factor[(i, j)] * zj).sum();
            z[i] = (x[i] - self.mean[i] - done) / self.factor[(i, i)];
        }
    }

    /// x = m + L z for one row.
    pub fn from_standard(&self, z: &[f64], x: &mut [f64]) {
        for (i, xi) in x.iter_mut().enumerate().take(self.mean.len()) {
            *xi = self.mean[i]
                + z[..=i].iter().enumerate().map(|(j, zj)| self.factor[(i, j)] * zj).sum::<f64>();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_map_whitens_the_mixture_and_inverts() {
        let spec = Spec::validate(
            vec![0.3, 0.7],
            vec![vec![1000.0, -5.0], vec![1010.0, 5.0]],
            vec![vec![vec![4.0, 1.0], vec![1.0, 2.0]], vec![vec![1.0, 0.0], vec![0.0, 9.0]]],
        )
        .unwrap();
        let st = Standardised::new(&spec).unwrap();
        let z = &st.spec;
        // Overall mean 0 and covariance I in standard coordinates.
        for i in 0..2 {
            let m: f64 = (0..2).map(|k| z.weights[k] * z.means[k][i]).sum();
            assert!(m.abs() < 1e-12, "{m}");
            for j in 0..2 {
                let c: f64 = (0..2)
                    .map(|k| {
                        z.weights[k] * (z.covariances[k][i][j] + z.means[k][i] * z.means[k][j])
                    })
                    .sum();
                let want = if i == j { 1.0 } else { 0.0 };
                assert!((c - want).abs() < 1e-12, "{c}");
            }
        }
        let x = [1003.0, 1.5];
        let (mut zz, mut back) = ([0.0; 2], [0.0; 2]);
        st.to_standard(&x, &mut zz);
        st.from_standard(&zz, &mut back);
        assert!((back[0] - x[0]).abs() < 1e-9 && (back[1] - x[1]).abs() < 1e-12);
    }
}
