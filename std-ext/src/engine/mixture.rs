//! TEMPORARY ADAPTER (until `flowscore::score::GaussianMixture` is available): a Gaussian
//! mixture over ℝᴰ in f64, exact under the marginal of any linear SDE (MATH.md §2).
//!
//! Σₖ = Qₖ Λₖ Qₖᵀ is decomposed once; at time t, Σₖ,t = α_t² Σₖ + σ_t² I has the same
//! eigenvectors and eigenvalues α_t² λ + σ_t², so no factorisation happens per step.

use flowscore::rng::LaneSource;
use flowscore::sde::Sde;

use crate::spec::Spec;

/// log(2π).
const LN_TAU: f64 = 1.837_877_066_409_345_5;

/// One prepared mixture component.
#[derive(Clone, Debug)]
struct Component<const D: usize> {
    /// log πₖ.
    log_weight: f64,
    /// πₖ.
    weight: f64,
    /// μₖ.
    mean: [f64; D],
    /// Eigenvectors of Σₖ as columns: `q[row][col]`.
    q: [[f64; D]; D],
    /// Eigenvalues of Σₖ (all > 0).
    lambda: [f64; D],
}

/// A Gaussian mixture Σₖ πₖ N(μₖ, Σₖ) in D dimensions with its exact perturbed score, log-density
/// and divergence.
#[derive(Clone, Debug)]
pub struct Mixture<const D: usize> {
    comps: Vec<Component<D>>,
}

/// Everything one evaluation of the perturbed mixture at (x, t) gives.
#[derive(Clone, Copy, Debug)]
pub struct Eval<const D: usize> {
    /// log p_t(x).
    pub log_density: f64,
    /// ∇ₓ log p_t(x).
    pub score: [f64; D],
    /// ∇ₓ · s(x, t).
    pub divergence: f64,
}

impl<const D: usize> Mixture<D> {
    /// Prepares the mixture of a validated spec (its dimension must be `D`).
    pub fn from_spec(spec: &Spec) -> anyhow::Result<Self> {
        anyhow::ensure!(spec.dim == D, "internal: spec dimension {} ≠ {D}", spec.dim);
        let mut comps = Vec::with_capacity(spec.weights.len());
        for k in 0..spec.weights.len() {
            let cov = nalgebra::DMatrix::from_fn(D, D, |i, j| spec.covariances[k][i][j]);
            let eig = nalgebra::SymmetricEigen::new(cov);
            let mut q = [[0.0; D]; D];
            let mut lambda = [0.0; D];
            for c in 0..D {
                lambda[c] = eig.eigenvalues[c];
                anyhow::ensure!(
                    lambda[c] > 0.0,
                    "covariance {k} is not positive definite (eigenvalue {})",
                    lambda[c]
                );
                for (r, row) in q.iter_mut().enumerate() {
                    row[c] = eig.eigenvectors[(r, c)];
                }
            }
            let mean = core::array::from_fn(|i| spec.means[k][i]);
            let w = spec.weights[k];
            comps.push(Component { log_weight: w.ln(), weight: w, mean, q, lambda });
        }
        Ok(Self { comps })
    }

    /// The number of components K.
    pub fn len(&self) -> usize {
        self.comps.len()
    }

    /// Whether the mixture has no component (never, once built from a valid spec).
    pub fn is_empty(&self) -> bool {
        self.comps.is_empty()
    }

    /// The mixture weights πₖ.
    pub fn weights(&self) -> Vec<f64> {
        self.comps.iter().map(|c| c.weight).collect()
    }

    /// The means μₖ.
    pub fn means(&self) -> Vec<[f64; D]> {
        self.comps.iter().map(|c| c.mean).collect()
    }

    /// The largest eigenvalue over all covariances.
    pub fn max_variance(&self) -> f64 {
        self.comps.iter().flat_map(|c| c.lambda).fold(0.0, f64::max)
    }

    /// The mixture perturbed to p_t with marginal coefficients (α, σ): log-density, score and
    /// divergence (MATH.md §2), all by log-sum-exp over components.
    pub fn eval_marginal(&self, x: &[f64; D], alpha: f64, sigma: f64) -> Eval<D> {
        self.eval_with_probe(x, alpha, sigma, None).0
    }

    /// As [`Self::eval_marginal`], and with a probe v also vᵀ(∇ₓ s)v, from
    /// ∇s = Σₖ γₖ (sₖ sₖᵀ − Σₖ,t⁻¹) − s sᵀ.
    pub fn eval_with_probe(
        &self,
        x: &[f64; D],
        alpha: f64,
        sigma: f64,
        probe: Option<&[f64; D]>,
    ) -> (Eval<D>, f64) {
        let a2 = alpha * alpha;
        let s2 = sigma * sigma;
        let mut max_log = f64::NEG_INFINITY;
        // Per component: log πₖ N(x), sₖ, tr Σₖ,t⁻¹, vᵀΣₖ,t⁻¹v.
        let mut parts: Vec<(f64, [f64; D], f64, f64)> = Vec::with_capacity(self.comps.len());
        for c in &self.comps {
            let y: [f64; D] = core::array::from_fn(|i| x[i] - alpha * c.mean[i]);
            let mut quad = 0.0;
            let mut logdet = 0.0;
            let mut trace = 0.0;
            let mut vpv = 0.0;
            // s = −Q diag(1/var) Qᵀ y.
            let mut s = [0.0; D];
            for j in 0..D {
                let var = a2 * c.lambda[j] + s2;
                let mut zj = 0.0;
                for i in 0..D {
                    zj += c.q[i][j] * y[i];
                }
                quad += zj * zj / var;
                logdet += var.ln();
                trace += 1.0 / var;
                if let Some(v) = probe {
                    let mut vj = 0.0;
                    for i in 0..D {
                        vj += c.q[i][j] * v[i];
                    }
                    vpv += vj * vj / var;
                }
                let coef = zj / var;
                for (i, si) in s.iter_mut().enumerate() {
                    *si -= c.q[i][j] * coef;
                }
            }
            let log_n = c.log_weight - 0.5 * (D as f64 * LN_TAU + logdet + quad);
            max_log = max_log.max(log_n);
            parts.push((log_n, s, trace, vpv));
        }
        let mut sum = 0.0;
        for p in &parts {
            sum += (p.0 - max_log).exp();
        }
        let log_density = max_log + sum.ln();
        let mut score = [0.0; D];
        let mut div = 0.0;
        let mut jvp = 0.0;
        for (log_n, sk, trace, vpv) in &parts {
            let g = (log_n - log_density).exp();
            let mut nk = 0.0;
            for i in 0..D {
                score[i] += g * sk[i];
                nk += sk[i] * sk[i];
            }
            div += g * (nk - trace);
            if let Some(v) = probe {
                let sv: f64 = (0..D).map(|i| sk[i] * v[i]).sum();
                jvp += g * (sv * sv - vpv);
            }
        }
        let ns: f64 = score.iter().map(|s| s * s).sum();
        div -= ns;
        if let Some(v) = probe {
            let sv: f64 = (0..D).map(|i| score[i] * v[i]).sum();
            jvp -= sv * sv;
        }
        (Eval { log_density, score, divergence: div }, jvp)
    }

    /// The same at SDE time t.
    pub fn eval<S: Sde>(&self, sde: &S, x: &[f64; D], t: f64) -> Eval<D> {
        let (a, s) = sde.marginal(t);
        self.eval_marginal(x, a, s)
    }

    /// The index of the component with the largest responsibility at x (t = 0), for mode
    /// weights.
    pub fn mode_of(&self, x: &[f64; D]) -> usize {
        let mut best = (0, f64::NEG_INFINITY);
        for (k, c) in self.comps.iter().enumerate() {
            let mut quad = 0.0;
            let mut logdet = 0.0;
            for j in 0..D {
                let mut zj = 0.0;
                for i in 0..D {
                    zj += c.q[i][j] * (x[i] - c.mean[i]);
                }
                quad += zj * zj / c.lambda[j];
                logdet += c.lambda[j].ln();
            }
            let l = c.log_weight - 0.5 * (logdet + quad);
            if l > best.1 {
                best = (k, l);
            }
        }
        best.0
    }

    /// One exact draw from p₀: a component by its weight, then μ + Q Λ^{1/2} z.
    pub fn sample_exact<S: LaneSource<f64>>(&self, rng: &mut S) -> [f64; D] {
        let u: f64 = rng.uniform();
        let mut acc = 0.0;
        let mut pick = self.comps.len().saturating_sub(1);
        for (k, c) in self.comps.iter().enumerate() {
            acc += c.weight;
            if u < acc {
                pick = k;
                break;
            }
        }
        let z: [f64; D] = rng.normal_array();
        let c = &self.comps[pick];
        core::array::from_fn(|i| {
            let mut v = c.mean[i];
            for j in 0..D {
                v += c.q[i][j] * c.lambda[j].sqrt() * z[j];
            }
            v
        })
    }
}
