//! Gaussian mixtures with full covariances, exact under any SDE or noise level (MATH.md §2).
//!
//! If p₀ = Σₖ πₖ N(μₖ, Σₖ) and x_t = α_t x₀ + σ_t ε, then p_t = Σₖ πₖ N(α_t μₖ, Σₖ,t) with
//! Σₖ,t = α_t² Σₖ + σ_t² I. With Σₖ = Qₖ Λₖ Qₖᵀ decomposed once at construction, everything is
//! computed in each component's eigenbasis, yₖ = Qₖᵀx − α_t Qₖᵀμₖ:
//! - zₖ = diag(1/(α_t²λ + σ_t²)) yₖ, so sₖ = Σₖ,t⁻¹(α_t μₖ − x) = −Qₖ zₖ;
//! - the Mahalanobis term is yₖᵀzₖ, tr Σₖ,t⁻¹ = Σⱼ 1/(α_t²λⱼ + σ_t²) and
//!   log|Σₖ,t| = Σⱼ ln(α_t²λⱼ + σ_t²) (one `ln` per pair of factors: the eigenvalue bounds of
//!   [`Covariance`] keep every product of two factors a normal `f32`);
//! - responsibilities γ = softmax(log πₖ − ½ log|Σₖ,t| − ½ yₖᵀzₖ) by log-sum-exp, so nothing
//!   overflows far from the modes;
//! - s = Σₖ γₖ sₖ, ∇·s = Σₖ γₖ(‖sₖ‖² − tr Σₖ,t⁻¹) − ‖s‖², log p_t = log-sum-exp − (D/2) ln 2π.
//!
//! Cost per evaluation: 2KD² multiply-adds, KD divisions, K⌈D/2⌉ logarithms and K exponentials
//! (+1 logarithm for the density), where K counts the components up to the last one of positive
//! weight: zero-weight components after it are skipped, so a mixture of k components may be
//! stored in a larger `K` (one type for every k ≤ `K`, as the command line does) at the cost of
//! its k. Time `t` (or the noise level σ) is a lane value: each lane may
//! sit at its own time.

use crate::dist::Distribution;
use crate::error::Error;
use crate::lane::Lane;
use crate::real::Real;
use crate::rng::LaneSource;
use crate::score::covariance::Covariance;
use crate::score::gaussian::HALF_LN_TAU;
use crate::score::{ExactScoreModel, ScoreModel};
use crate::sde::Sde;

/// How far the weights may sum from 1 (they are renormalised in `f64`): a few `f32` roundings.
pub const WEIGHT_SUM_TOL: f64 = 1e-6;

/// Σₖ πₖ N(μₖ, Σₖ) in ℝᴰ with `K` components, covariances eigen-decomposed at construction.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GaussianMixture<const D: usize, const K: usize> {
    /// 1 + the index of the last component of positive weight: the components evaluated.
    active: usize,
    weights: [f32; K],
    log_weights: [f32; K],
    /// Sampling thresholds: component k is drawn when u < `thresholds[k]` and not for any
    /// smaller k (cumulative weights; +∞ once no weight is left).
    thresholds: [f32; K],
    means: [[f32; D]; K],
    covariances: [Covariance<D>; K],
    /// Qₖᵀ μₖ.
    rotated_means: [[f32; D]; K],
    /// Aₖ = Qₖ Λₖ^{1/2}.
    sqrt_factors: [[[f32; D]; D]; K],
}

/// The perturbed mixture at one point: score, exact divergence and log-density.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MixtureEval<R, const D: usize> {
    /// s = ∇ₓ log p_t(x).
    pub score: [R; D],
    /// ∇ₓ · s.
    pub divergence: R,
    /// log p_t(x).
    pub log_density: R,
}

impl<const D: usize, const K: usize> GaussianMixture<D, K> {
    /// The mixture Σₖ `weights[k]` N(`means[k]`, `covariances[k]`).
    ///
    /// Errors: `K = 0` or `D = 0`; any non-finite entry ([`Error::NonFinite`]); a negative weight
    /// or weights not summing to 1 within [`WEIGHT_SUM_TOL`]; a covariance that
    /// [`Covariance::new`] rejects.
    pub fn new(
        weights: [f32; K],
        means: [[f32; D]; K],
        covariances: [[[f32; D]; D]; K],
    ) -> Result<Self, Error> {
        if K == 0 {
            return Err(Error::InvalidParameter { name: "weights", reason: "need K ≥ 1" });
        }
        if !weights.iter().all(|w| w.is_finite()) {
            return Err(Error::NonFinite("weights"));
        }
        if !means.iter().flatten().all(|v| v.is_finite()) {
            return Err(Error::NonFinite("means"));
        }
        if weights.iter().any(|w| *w < 0.0) {
            return Err(Error::InvalidParameter { name: "weights", reason: "must be ≥ 0" });
        }
        let total: f64 = weights.iter().map(|w| *w as f64).sum();
        if (total - 1.0).abs() > WEIGHT_SUM_TOL {
            return Err(Error::InvalidParameter { name: "weights", reason: "must sum to 1" });
        }
        let mut covs = [Covariance::identity(); K];
        for (c, m) in covs.iter_mut().zip(covariances.iter()) {
            *c = Covariance::new(*m)?;
        }
        let log_weights = weights
            .map(|w| if w > 0.0 { libm::log(w as f64 / total) as f32 } else { f32::NEG_INFINITY });
        let mut thresholds = [f32::INFINITY; K];
        let mut cum = 0.0f64;
        for (k, th) in thresholds.iter_mut().enumerate() {
            cum += weights[k] as f64 / total;
            let rest: f64 = weights.iter().skip(k + 1).map(|w| *w as f64).sum();
            if rest > 0.0 {
                *th = cum as f32;
            }
        }
        let rotated_means = core::array::from_fn(|k| {
            let b = covs[k].basis();
            crate::lane::array_fn(|j| {
                b[j].iter().zip(means[k].iter()).map(|(q, m)| *q as f64 * *m as f64).sum::<f64>()
                    as f32
            })
        });
        let sqrt_factors = covs.map(|c| c.sqrt_factor());
        // The weights sum to 1, so one is positive.
        let active = weights.iter().rposition(|w| *w > 0.0).map_or(K, |k| k + 1);
        Ok(Self {
            active,
            weights,
            log_weights,
            thresholds,
            means,
            covariances: covs,
            rotated_means,
            sqrt_factors,
        })
    }

    /// How many components are evaluated: up to the last one of positive weight (the
    /// zero-weight components after it are skipped).
    pub fn active_components(&self) -> usize {
        self.active
    }

    /// The weights πₖ as given.
    pub fn weights(&self) -> &[f32; K] {
        &self.weights
    }
    /// The means μₖ.
    pub fn means(&self) -> &[[f32; D]; K] {
        &self.means
    }
    /// The covariances Σₖ with their eigen-decompositions.
    pub fn covariances(&self) -> &[Covariance<D>; K] {
        &self.covariances
    }

    /// This mixture under `sde`: p_t exact at every t.
    pub fn under<S: Sde>(self, sde: S) -> MixtureScore<D, K, S> {
        MixtureScore { mixture: self, sde }
    }
    /// This mixture convolved with N(0, σ² I), σ given per call (NCSN noise levels).
    pub fn noisy(self) -> NoisyMixture<D, K> {
        NoisyMixture { mixture: self }
    }

    /// Per active component: the logit log πₖ − ½ log|Σₖ,t| − ½ yₖᵀzₖ, zₖ, and (if `FULL`)
    /// ‖sₖ‖² − tr Σₖ,t⁻¹, written into the caller's arrays (entries past the active
    /// components are left as they are). Written in place rather than returned: arrays of
    /// `K` components of wide lanes are kilobytes, and returning them by value cost a copy
    /// per evaluation (about 7 % of `loglik --method ode`).
    #[inline(always)]
    fn components<R: Real, const FULL: bool>(
        &self,
        x: &[R; D],
        alpha: R,
        sigma: R,
        logits: &mut [R; K],
        zs: &mut [[R; D]; K],
        extra: &mut [R; K],
    ) {
        let a2 = alpha * alpha;
        let s2 = sigma * sigma;
        let half = R::from_f64(0.5);
        for (k, ((logit, z), ex)) in
            logits.iter_mut().zip(zs.iter_mut()).zip(extra.iter_mut()).enumerate().take(self.active)
        {
            let cov = &self.covariances[k];
            let mut quad = R::zero();
            let mut log_det = R::zero();
            let mut pending = R::one();
            let mut trace = R::zero();
            let mut norm = R::zero();
            for (j, ((q, lam), zj)) in
                cov.basis().iter().zip(cov.eigenvalues().iter()).zip(z.iter_mut()).enumerate()
            {
                let mut y = -(alpha * R::from_f32(self.rotated_means[k][j]));
                for (qi, xi) in q.iter().zip(x.iter()) {
                    y += R::from_f32(*qi) * *xi;
                }
                let v = a2 * R::from_f32(*lam) + s2;
                let w = R::one() / v;
                *zj = w * y;
                quad += y * *zj;
                if j % 2 == 0 {
                    pending = v;
                } else {
                    log_det += (pending * v).ln();
                }
                if FULL {
                    // ∂sₖ/∂x = −Q W Qᵀ: its trace is Σⱼ wⱼ‖qⱼ‖² for the stored (f32) vectors,
                    // which are unit only to ≈ 1e-7.
                    let mut qq = R::zero();
                    for qi in q {
                        qq += R::from_f32(*qi) * R::from_f32(*qi);
                    }
                    trace += w * qq;
                }
            }
            if FULL {
                // ‖sₖ‖² = ‖Q zₖ‖² of the stored Q (not ‖zₖ‖²), so that the divergence is that of
                // the score as computed.
                for i in 0..D {
                    let mut si = R::zero();
                    for (q, zj) in cov.basis().iter().zip(z.iter()) {
                        si += R::from_f32(q[i]) * *zj;
                    }
                    norm += si * si;
                }
            }
            if D % 2 == 1 {
                log_det += pending.ln();
            }
            *logit = R::from_f32(self.log_weights[k]) - half * (log_det + quad);
            *ex = norm - trace;
        }
    }

    /// Over the active components, replaces each logit by exp(logitₖ − max) and returns the
    /// max and the sum of those terms.
    #[inline(always)]
    fn softmax_terms<R: Real>(&self, logits: &mut [R; K]) -> (R, R) {
        let mut m = R::from_f64(f64::NEG_INFINITY);
        for l in logits.iter().take(self.active) {
            m = m.max(*l);
        }
        let mut sum = R::zero();
        for l in logits.iter_mut().take(self.active) {
            *l = (*l - m).exp();
            sum += *l;
        }
        (m, sum)
    }

    /// Zeroed arrays for [`Self::components`]: logits, zₖ and the divergence terms.
    #[inline(always)]
    fn scratch<R: Real>() -> ([R; K], [[R; D]; K], [R; K]) {
        ([R::zero(); K], [[R::zero(); D]; K], [R::zero(); K])
    }

    crate::math::with_inlined! {
    /// Score of the mixture perturbed to x = α x₀ + σ ε (lane-wise α, σ).
    pub fn perturbed_score / perturbed_score_inlined <R: Real>(
        &self,
        x: &[R; D],
        alpha: R,
        sigma: R,
    ) -> [R; D] {
        let (mut e, mut zs, mut extra) = Self::scratch::<R>();
        self.components::<R, false>(x, alpha, sigma, &mut e, &mut zs, &mut extra);
        let (_, sum) = self.softmax_terms(&mut e);
        let inv = R::one() / sum;
        let mut s = [R::zero(); D];
        for (k, (ek, z)) in e.iter().zip(zs.iter()).enumerate().take(self.active) {
            let g = *ek * inv;
            for (q, zj) in self.covariances[k].basis().iter().zip(z.iter()) {
                let u = g * *zj;
                for (si, qi) in s.iter_mut().zip(q.iter()) {
                    *si -= R::from_f32(*qi) * u;
                }
            }
        }
        s
    }
    }

    crate::math::with_inlined! {
    /// Score, exact divergence and log-density of the perturbed mixture, in one pass.
    pub fn perturbed_eval / perturbed_eval_inlined <R: Real>(
        &self,
        x: &[R; D],
        alpha: R,
        sigma: R,
    ) -> MixtureEval<R, D> {
        let (mut e, mut zs, mut extra) = Self::scratch::<R>();
        self.components::<R, true>(x, alpha, sigma, &mut e, &mut zs, &mut extra);
        let (m, sum) = self.softmax_terms(&mut e);
        let inv = R::one() / sum;
        let mut s = [R::zero(); D];
        let mut div = R::zero();
        for (k, ((ek, z), ex)) in
            e.iter().zip(zs.iter()).zip(extra.iter()).enumerate().take(self.active)
        {
            let g = *ek * inv;
            for (q, zj) in self.covariances[k].basis().iter().zip(z.iter()) {
                let u = g * *zj;
                for (si, qi) in s.iter_mut().zip(q.iter()) {
                    *si -= R::from_f32(*qi) * u;
                }
            }
            div += g * *ex;
        }
        for si in &s {
            div -= *si * *si;
        }
        let log_density = m + sum.ln() - R::from_f64(D as f64 * HALF_LN_TAU);
        MixtureEval { score: s, divergence: div, log_density }
    }
    }

    crate::math::with_inlined! {
    /// log p of the perturbed mixture.
    pub fn perturbed_log_density / perturbed_log_density_inlined <R: Real>(
        &self,
        x: &[R; D],
        alpha: R,
        sigma: R,
    ) -> R {
        let (mut e, mut zs, mut extra) = Self::scratch::<R>();
        self.components::<R, false>(x, alpha, sigma, &mut e, &mut zs, &mut extra);
        let (m, sum) = self.softmax_terms(&mut e);
        m + sum.ln() - R::from_f64(D as f64 * HALF_LN_TAU)
    }
    }

    /// Posterior component probabilities γₖ(x) of the perturbed mixture.
    #[inline]
    pub fn responsibilities<R: Real>(&self, x: &[R; D], alpha: R, sigma: R) -> [R; K] {
        let (mut e, mut zs, mut extra) = Self::scratch::<R>();
        self.components::<R, false>(x, alpha, sigma, &mut e, &mut zs, &mut extra);
        let (_, sum) = self.softmax_terms(&mut e);
        let inv = R::one() / sum;
        // The inactive components' entries are still the scratch's zeros: γₖ = 0.
        e.map(|v| v * inv)
    }

    /// An exact draw from the mixture and the component it came from (as a lane value 0..K):
    /// one uniform picks the component, then D normals.
    #[inline]
    pub fn sample_with_component<L: Lane, S: LaneSource<L>>(&self, rng: &mut S) -> ([L; D], L) {
        let u = rng.uniform();
        let mut mean = [L::default(); D];
        let mut factor = [[L::default(); D]; D];
        let mut comp = L::default();
        // Components past the active ones are never drawn (their thresholds, like the last
        // active one's, are +∞, so starting at the last active one changes nothing).
        for k in (0..self.active).rev() {
            let pick = Lane::lt(u, <L as Lane>::from_f32(self.thresholds[k]));
            comp = <L as Lane>::select(pick, <L as Lane>::from_f64(k as f64), comp);
            for (m, mk) in mean.iter_mut().zip(self.means[k].iter()) {
                *m = <L as Lane>::select(pick, <L as Lane>::from_f32(*mk), *m);
            }
            for (row, rk) in factor.iter_mut().zip(self.sqrt_factors[k].iter()) {
                for (f, fk) in row.iter_mut().zip(rk.iter()) {
                    *f = <L as Lane>::select(pick, <L as Lane>::from_f32(*fk), *f);
                }
            }
        }
        let z: [L; D] = rng.normal_array();
        let mut x = mean;
        for (xi, row) in x.iter_mut().zip(factor.iter()) {
            for (f, zj) in row.iter().zip(z.iter()) {
                *xi += *f * *zj;
            }
        }
        (x, comp)
    }
}

impl<const D: usize, const K: usize> Distribution<D> for GaussianMixture<D, K> {
    /// An exact draw (see [`GaussianMixture::sample_with_component`]).
    #[inline]
    fn sample<L: Lane, S: LaneSource<L>>(&self, rng: &mut S) -> [L; D] {
        self.sample_with_component(rng).0
    }
    #[inline]
    fn log_prob<R: Real>(&self, x: &[R; D]) -> R {
        self.perturbed_log_density(x, R::one(), R::zero())
    }
}

/// A [`GaussianMixture`] under a forward SDE: the exact p_t, its score, divergence and density
/// at any t (MATH.md §2, §5).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MixtureScore<const D: usize, const K: usize, S> {
    mixture: GaussianMixture<D, K>,
    sde: S,
}

impl<const D: usize, const K: usize, S: Sde> MixtureScore<D, K, S> {
    /// The mixture p₀ under `sde`.
    pub fn new(mixture: GaussianMixture<D, K>, sde: S) -> Self {
        Self { mixture, sde }
    }
    /// p₀.
    pub fn mixture(&self) -> &GaussianMixture<D, K> {
        &self.mixture
    }
    /// The SDE.
    pub fn sde(&self) -> &S {
        &self.sde
    }
    /// Score, divergence and log-density at (x, t) in one pass.
    #[inline]
    pub fn evaluate<R: Real>(&self, x: &[R; D], t: R) -> MixtureEval<R, D> {
        let (a, s) = self.sde.marginal(t);
        self.mixture.perturbed_eval(x, a, s)
    }
    /// An exact draw from p_t: x_t = α_t x₀ + σ_t ε, x₀ from the mixture (its draws first),
    /// then D normals for ε.
    #[inline]
    pub fn sample_at<L: Lane, G: LaneSource<L>>(&self, t: L, rng: &mut G) -> [L; D] {
        let x0 = self.mixture.sample(rng);
        let eps: [L; D] = rng.normal_array();
        let (a, s) = self.sde.marginal(t);
        crate::lane::array_fn(|i| a * x0[i] + s * eps[i])
    }
}

impl<const D: usize, const K: usize, S: Sde> ScoreModel<D> for MixtureScore<D, K, S> {
    #[inline(always)]
    fn score<R: Real>(&self, x: &[R; D], t: R) -> [R; D] {
        let (a, s) = self.sde.marginal(t);
        if <R::Lane as Lane>::INLINE_KERNELS {
            self.mixture.perturbed_score_inlined(x, a, s)
        } else {
            self.mixture.perturbed_score(x, a, s)
        }
    }
}

impl<const D: usize, const K: usize, S: Sde> ExactScoreModel<D> for MixtureScore<D, K, S> {
    #[inline(always)]
    fn log_density<R: Real>(&self, x: &[R; D], t: R) -> R {
        let (a, s) = self.sde.marginal(t);
        if <R::Lane as Lane>::INLINE_KERNELS {
            self.mixture.perturbed_log_density_inlined(x, a, s)
        } else {
            self.mixture.perturbed_log_density(x, a, s)
        }
    }
    #[inline]
    fn divergence<R: Real>(&self, x: &[R; D], t: R) -> R {
        self.evaluate(x, t).divergence
    }
    /// One pass ([`MixtureScore::evaluate`]); its score has the bits of
    /// [`ScoreModel::score`]'s.
    #[inline(always)]
    fn score_and_divergence<R: Real>(&self, x: &[R; D], t: R) -> ([R; D], R) {
        let (a, s) = self.sde.marginal(t);
        let e = if <R::Lane as Lane>::INLINE_KERNELS {
            self.mixture.perturbed_eval_inlined(x, a, s)
        } else {
            self.mixture.perturbed_eval(x, a, s)
        };
        (e.score, e.divergence)
    }
}

/// A [`GaussianMixture`] convolved with N(0, σ² I) (NCSN's perturbation, α = 1): the time
/// argument of [`ScoreModel::score`] is the noise level σ ≥ 0.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NoisyMixture<const D: usize, const K: usize> {
    mixture: GaussianMixture<D, K>,
}

impl<const D: usize, const K: usize> NoisyMixture<D, K> {
    /// p₀ ∗ N(0, σ² I) for every σ.
    pub fn new(mixture: GaussianMixture<D, K>) -> Self {
        Self { mixture }
    }
    /// p₀.
    pub fn mixture(&self) -> &GaussianMixture<D, K> {
        &self.mixture
    }
    /// Score, divergence and log-density at noise level σ in one pass.
    #[inline]
    pub fn evaluate<R: Real>(&self, x: &[R; D], sigma: R) -> MixtureEval<R, D> {
        self.mixture.perturbed_eval(x, R::one(), sigma)
    }
    /// An exact draw from p₀ ∗ N(0, σ² I): x₀ + σ ε.
    #[inline]
    pub fn sample_at<L: Lane, G: LaneSource<L>>(&self, sigma: L, rng: &mut G) -> [L; D] {
        let x0 = self.mixture.sample(rng);
        let eps: [L; D] = rng.normal_array();
        crate::lane::array_fn(|i| x0[i] + sigma * eps[i])
    }
}

impl<const D: usize, const K: usize> ScoreModel<D> for NoisyMixture<D, K> {
    #[inline]
    fn score<R: Real>(&self, x: &[R; D], sigma: R) -> [R; D] {
        self.mixture.perturbed_score(x, R::one(), sigma)
    }
}

impl<const D: usize, const K: usize> ExactScoreModel<D> for NoisyMixture<D, K> {
    #[inline]
    fn log_density<R: Real>(&self, x: &[R; D], sigma: R) -> R {
        self.mixture.perturbed_log_density(x, R::one(), sigma)
    }
    #[inline]
    fn divergence<R: Real>(&self, x: &[R; D], sigma: R) -> R {
        self.evaluate(x, sigma).divergence
    }
    /// One pass ([`NoisyMixture::evaluate`]); its score has the bits of
    /// [`ScoreModel::score`]'s.
    #[inline]
    fn score_and_divergence<R: Real>(&self, x: &[R; D], sigma: R) -> ([R; D], R) {
        let e = self.evaluate(x, sigma);
        (e.score, e.divergence)
    }
}

#[cfg(test)]
#[allow(clippy::needless_range_loop)] // index loops mirror the matrix formulas
mod tests {
    use super::*;
    use crate::rng::Streams;
    use crate::sde::{SubVp, Ve, Vp};

    /// Four anisotropic 2-D components with unequal weights.
    fn mixture2() -> GaussianMixture<2, 4> {
        GaussianMixture::new(
            [0.1, 0.2, 0.3, 0.4],
            [[-4.0, -4.0], [4.0, -4.0], [-4.0, 4.0], [4.0, 4.0]],
            [
                [[1.0, 0.5], [0.5, 0.6]],
                [[0.3, -0.2], [-0.2, 1.5]],
                [[2.0, 0.0], [0.0, 0.2]],
                [[0.7, 0.3], [0.3, 0.7]],
            ],
        )
        .unwrap()
    }

    /// Three random 5-D components: Σ = A Aᵀ + 0.2 I with A standard normal.
    fn mixture5() -> GaussianMixture<5, 3> {
        let mut rng = Streams::<f64>::new(11, 0);
        let mut means = [[0.0f32; 5]; 3];
        let mut covs = [[[0.0f32; 5]; 5]; 3];
        for k in 0..3 {
            let a: [[f64; 5]; 5] = crate::lane::array_fn(|_| rng.normal_array());
            for i in 0..5 {
                means[k][i] = (3.0 * rng.normal()) as f32;
                for j in 0..5 {
                    let v: f64 = (0..5).map(|l| a[i][l] * a[j][l]).sum::<f64>() / 5.0;
                    covs[k][i][j] = (v + if i == j { 0.2 } else { 0.0 }) as f32;
                }
            }
        }
        // Symmetrise exactly after rounding.
        for c in covs.iter_mut() {
            for i in 0..5 {
                for j in 0..i {
                    c[i][j] = c[j][i];
                }
            }
        }
        GaussianMixture::new([0.5, 0.3, 0.2], means, covs).unwrap()
    }

    /// Central-difference step for the f64 checks: truncation ≈ h²·|∂³ log p| ≈ 1e-10, rounding
    /// ≈ 1e-16/h ≈ 1e-11.
    const FD_STEP: f64 = 1e-5;
    /// Tolerance for score vs ∇ log p and divergence vs tr ∇s (relative to 1 + |value|): the
    /// measured worst cases over VE, VP, sub-VP and D = 2, 5 are 2.0e-9 (score) and 4.6e-9
    /// (divergence).
    const FD_TOL: f64 = 1e-7;

    fn check_fd<const D: usize, const K: usize, S: Sde + Copy>(m: GaussianMixture<D, K>, sde: S) {
        let model = m.under(sde);
        let mut rng = Streams::<f64>::new(5, D as u64);
        let mut worst = (0.0f64, 0.0f64);
        for _ in 0..40 {
            let t = 1e-3 + rng.uniform() * (1.0 - 1e-3);
            // Points from p_t and broad points (far tails).
            let mut x = model.sample_at(t, &mut rng);
            if rng.uniform() < 0.3 {
                x = crate::lane::array_fn(|_| 10.0 * rng.normal());
            }
            let ev = model.evaluate(&x, t);
            assert!((ev.log_density - model.log_density(&x, t)).abs() < 1e-12);
            let s = model.score(&x, t);
            let mut div_fd = 0.0;
            for i in 0..D {
                let (mut xp, mut xm) = (x, x);
                xp[i] += FD_STEP;
                xm[i] -= FD_STEP;
                let g = (model.log_density(&xp, t) - model.log_density(&xm, t)) / (2.0 * FD_STEP);
                let e = (g - s[i]).abs() / (1.0 + s[i].abs());
                worst.0 = worst.0.max(e);
                assert!(e < FD_TOL, "score[{i}] at t={t}: {} vs fd {g}", s[i]);
                assert_eq!(s[i], ev.score[i]);
                div_fd += (model.score(&xp, t)[i] - model.score(&xm, t)[i]) / (2.0 * FD_STEP);
            }
            let e = (div_fd - ev.divergence).abs() / (1.0 + ev.divergence.abs());
            worst.1 = worst.1.max(e);
            assert!(e < FD_TOL, "divergence at t={t}: {} vs fd {div_fd}", ev.divergence);
            assert_eq!(model.divergence(&x, t), ev.divergence);
            assert_eq!(model.score_and_divergence(&x, t), (s, model.divergence(&x, t)));
            let noisy = m.noisy();
            let sigma = 0.1 + t;
            let (ns, nd) = noisy.score_and_divergence(&x, sigma);
            assert_eq!((ns, nd), (noisy.score(&x, sigma), noisy.divergence(&x, sigma)));
        }
        assert!(worst.0 < FD_TOL && worst.1 < FD_TOL, "worst {worst:?}");
    }

    #[test]
    fn score_and_divergence_match_finite_differences_2d() {
        check_fd(mixture2(), Ve::default());
        check_fd(mixture2(), Vp::default());
        check_fd(mixture2(), SubVp::default());
    }

    #[test]
    fn score_and_divergence_match_finite_differences_5d() {
        check_fd(mixture5(), Ve::default());
        check_fd(mixture5(), Vp::default());
        check_fd(mixture5(), SubVp::default());
    }

    /// The eigenbasis density equals a direct N(αμ, α²Σ + σ²I) density (2×2 inverse and
    /// determinant by cofactors), so the perturbation formula is checked independently.
    #[test]
    fn perturbed_density_matches_direct_gaussian_formula() {
        let m = mixture2();
        for (alpha, sigma) in [(1.0f64, 0.0f64), (0.7, 0.5), (0.05, 0.99), (1.0, 30.0)] {
            for x in [[0.0f64, 0.0], [-4.2, 3.1], [50.0, -20.0]] {
                let mut p = 0.0;
                for k in 0..4 {
                    let c = m.covariances()[k].matrix();
                    let s = |i: usize, j: usize| {
                        alpha * alpha * c[i][j] as f64 + if i == j { sigma * sigma } else { 0.0 }
                    };
                    let det = s(0, 0) * s(1, 1) - s(0, 1) * s(1, 0);
                    let r = [
                        x[0] - alpha * m.means()[k][0] as f64,
                        x[1] - alpha * m.means()[k][1] as f64,
                    ];
                    let q = (s(1, 1) * r[0] * r[0] - 2.0 * s(0, 1) * r[0] * r[1]
                        + s(0, 0) * r[1] * r[1])
                        / det;
                    p += m.weights()[k] as f64 * (-0.5 * q).exp()
                        / (2.0 * core::f64::consts::PI * det.sqrt());
                }
                let lp = m.perturbed_log_density(&x, alpha, sigma);
                if p > 1e-300 {
                    // f32-stored eigenvectors: ≈ 1e-7 relative in Σ, so ≈ 1e-6·(1 + q) in log p.
                    assert!(
                        (lp - p.ln()).abs() < 1e-5 * (1.0 + p.ln().abs()),
                        "{lp} vs {}",
                        p.ln()
                    );
                }
                assert!(lp.is_finite());
            }
        }
    }

    /// Far from every mode (q ≈ 1e10) nothing overflows: log-sum-exp keeps the score finite,
    /// and it points back towards the data (s·x < 0).
    #[test]
    fn far_from_the_modes_everything_stays_finite() {
        let m = mixture2().under(Vp::default());
        for x in [[1e4f32, 1e4], [-3e4, 2e4], [0.0, -1e5]] {
            let ev = m.evaluate(&x, 1e-3f32);
            assert!(ev.score.iter().all(|v| v.is_finite()));
            assert!(ev.divergence.is_finite() && ev.log_density.is_finite());
            assert!(ev.score[0] * x[0] + ev.score[1] * x[1] < 0.0);
        }
    }

    /// The density integrates to 1 (midpoint rule on [−15, 15]², step 0.05; error ≈ 1e-5).
    #[test]
    fn density_integrates_to_one() {
        let m = mixture2().under(SubVp::default());
        let h = 0.05f64;
        let mut total = 0.0;
        for i in 0..600 {
            for j in 0..600 {
                let x = [-15.0 + (i as f64 + 0.5) * h, -15.0 + (j as f64 + 0.5) * h];
                total += m.log_density(&x, 0.2).exp() * h * h;
            }
        }
        assert!((total - 1.0).abs() < 1e-4, "{total}");
    }

    /// A NaN in one lane stays there; t differs per lane and each lane equals its scalar result.
    #[test]
    fn lanes_are_independent() {
        use wide::f32x8;
        let m = mixture2().under(Ve::default());
        let xs: [[f32; 2]; 8] = crate::lane::array_fn(|j| [j as f32 - 3.0, 1.5 - j as f32]);
        let ts: [f32; 8] = crate::lane::array_fn(|j| 0.01 + 0.12 * j as f32);
        let mut x = [f32x8::from(xs.map(|v| v[0])), f32x8::from(xs.map(|v| v[1]))];
        let t = f32x8::from(ts);
        let ev = m.evaluate(&x, t);
        for j in 0..8 {
            let e = m.evaluate(&xs[j], ts[j]);
            assert_eq!(ev.score[0].to_array()[j].to_bits(), e.score[0].to_bits());
            assert_eq!(ev.divergence.to_array()[j].to_bits(), e.divergence.to_bits());
            assert_eq!(ev.log_density.to_array()[j].to_bits(), e.log_density.to_bits());
        }
        let mut a = x[0].to_array();
        a[3] = f32::NAN;
        x[0] = f32x8::from(a);
        let ev2 = m.evaluate(&x, t);
        for j in 0..8 {
            let nan = ev2.score[0].to_array()[j].is_nan();
            assert_eq!(nan, j == 3);
            if j != 3 {
                assert_eq!(ev2.score[1].to_array()[j], ev.score[1].to_array()[j]);
            }
        }
    }

    /// Exact sampling: component frequencies (5σ binomial bound, σ ≤ √(0.25/n) = 0.0035) and
    /// first two moments of the perturbed law α μ, α²Σ + σ² I.
    #[test]
    fn exact_samples_match_weights_and_moments() {
        let m = mixture2();
        let model = m.under(Vp::default());
        let n = 20_000u64;
        let mut counts = [0u32; 4];
        for i in 0..n {
            let (_, c): ([f32; 2], f32) = m.sample_with_component(&mut Streams::new(1, i));
            counts[c as usize] += 1;
        }
        for k in 0..4 {
            let f = counts[k] as f64 / n as f64;
            assert!((f - m.weights()[k] as f64).abs() < 0.018, "{counts:?}");
        }
        let t = 0.3f64;
        let (a, s) = Vp::default().marginal(t);
        let mut mean = [0.0f64; 2];
        let mut second = 0.0f64;
        for i in 0..n {
            let x = model.sample_at(t, &mut Streams::<f64>::new(2, i));
            mean[0] += x[0] / n as f64;
            mean[1] += x[1] / n as f64;
            second += (x[0] * x[0] + x[1] * x[1]) / n as f64;
        }
        let (mut em, mut es) = ([0.0f64; 2], 0.0f64);
        for k in 0..4 {
            let w = m.weights()[k] as f64;
            let mu = m.means()[k].map(|v| v as f64);
            let c = m.covariances()[k].matrix();
            em[0] += w * a * mu[0];
            em[1] += w * a * mu[1];
            es += w
                * (a * a * (mu[0] * mu[0] + mu[1] * mu[1] + c[0][0] as f64 + c[1][1] as f64)
                    + 2.0 * s * s);
        }
        // sd(x) ≲ 4·a + 1.5 ⇒ mean s.e. ≤ 0.04; E‖x‖² ≈ 25, its sd ≲ 15 ⇒ s.e. ≈ 0.1; 5σ bounds.
        assert!((mean[0] - em[0]).abs() < 0.2 && (mean[1] - em[1]).abs() < 0.2, "{mean:?} {em:?}");
        assert!((second - es).abs() < 0.5, "{second} vs {es}");
    }

    /// The same mixture stored in a larger K, padded with zero-weight components (and a
    /// zero-weight component before the last active one): every evaluation and every draw is
    /// the same, bit for bit, and only the components up to the last positive weight count.
    #[test]
    fn zero_weight_padding_changes_nothing() {
        let m = mixture5();
        let (w, mu, cov) = (m.weights(), m.means(), m.covariances());
        let pad_w: [f32; 8] = crate::lane::array_fn(|k| if k < 3 { w[k] } else { 0.0 });
        let pad_mu: [[f32; 5]; 8] = crate::lane::array_fn(|k| if k < 3 { mu[k] } else { [7.0; 5] });
        let pad_cov: [[[f32; 5]; 5]; 8] = crate::lane::array_fn(|k| {
            let mut c = [[0.0; 5]; 5];
            for (i, row) in c.iter_mut().enumerate() {
                row[i] = 1.0 + k as f32;
            }
            if k < 3 { *cov[k].matrix() } else { c }
        });
        let padded = GaussianMixture::new(pad_w, pad_mu, pad_cov).unwrap();
        assert_eq!((m.active_components(), padded.active_components()), (3, 3));
        let mut rng = Streams::<f64>::new(5, 0);
        for _ in 0..200 {
            let x: [f64; 5] = crate::lane::array_fn(|_| 6.0 * rng.normal());
            let (a, sg) = (0.3 + rng.uniform(), 0.05 + rng.uniform());
            let (e, f) = (m.perturbed_eval(&x, a, sg), padded.perturbed_eval(&x, a, sg));
            let same = |u: &[f64], v: &[f64]| {
                u.len() == v.len() && u.iter().zip(v).all(|(p, q)| p.to_bits() == q.to_bits())
            };
            assert!(same(&e.score, &f.score), "{e:?} {f:?}");
            assert_eq!(e.divergence.to_bits(), f.divergence.to_bits());
            assert_eq!(e.log_density.to_bits(), f.log_density.to_bits());
            assert!(same(&m.perturbed_score(&x, a, sg), &padded.perturbed_score(&x, a, sg)));
            let (r, q) = (m.responsibilities(&x, a, sg), padded.responsibilities(&x, a, sg));
            assert!(same(&r, &q[..3]));
            assert!(q[3..].iter().all(|v| *v == 0.0));
        }
        let (mut g, mut h) = (Streams::<f64>::new(9, 1), Streams::<f64>::new(9, 1));
        for _ in 0..500 {
            let (x, k) = m.sample_with_component::<f64, _>(&mut g);
            let (y, l) = padded.sample_with_component::<f64, _>(&mut h);
            assert_eq!((x.map(f64::to_bits), k), (y.map(f64::to_bits), l));
        }
        // A zero weight in the middle is still evaluated (it is not after the last positive one).
        let mut mid_w = pad_w;
        mid_w.swap(1, 4);
        let mid = GaussianMixture::new(mid_w, pad_mu, pad_cov).unwrap();
        assert_eq!(mid.active_components(), 5);
    }

    #[test]
    fn constructor_validates() {
        let c = [[1.0f32, 0.0], [0.0, 1.0]];
        let mu = [[0.0f32; 2]; 2];
        assert!(GaussianMixture::new([0.5, 0.5], mu, [c, c]).is_ok());
        assert!(GaussianMixture::new([0.6, 0.5], mu, [c, c]).is_err());
        assert!(GaussianMixture::new([1.1, -0.1], mu, [c, c]).is_err());
        assert_eq!(
            GaussianMixture::new([f32::NAN, 0.5], mu, [c, c]),
            Err(Error::NonFinite("weights"))
        );
        assert_eq!(
            GaussianMixture::new([0.5, 0.5], [[0.0, f32::INFINITY], [0.0; 2]], [c, c]),
            Err(Error::NonFinite("means"))
        );
        assert!(GaussianMixture::new([0.5, 0.5], mu, [c, [[1.0, 2.0], [2.0, 1.0]]]).is_err());
        assert!(GaussianMixture::<2, 0>::new([], [], []).is_err());
        // A zero weight is allowed and never sampled.
        let m = GaussianMixture::new([1.0, 0.0], [[0.0, 0.0], [100.0, 100.0]], [c, c]).unwrap();
        for i in 0..1000 {
            let (_, k): ([f32; 2], f32) = m.sample_with_component(&mut Streams::new(0, i));
            assert_eq!(k, 0.0);
        }
        assert!(m.log_prob(&[0.0f64, 0.0]).is_finite());
    }
}
