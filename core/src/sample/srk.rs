//! Stochastic Runge–Kutta methods for the reverse SDE (MATH.md §5.1).
//!
//! The reverse SDE of every built-in SDE has *additive* noise: in reverse time τ = T − t,
//! dx = a(x, t) dτ + g(t) dW_τ with a(x, t) = g(t)² s(x, t) − c(t) x, and g depends on t only.
//! For additive noise Rößler's SRA methods (Rößler 2010, "Runge–Kutta methods for the strong
//! approximation of solutions of stochastic differential equations", SIAM J. Numer. Anal.
//! 48(3), §5) reach strong order 1.5 with two drift evaluations per step, using per dimension
//! the Brownian increment ΔW and the iterated integral ΔZ = ∫_τ^{τ+h} (W(u) − W(τ)) du,
//! jointly Gaussian with Var ΔW = h, Var ΔZ = h³/3, Cov(ΔW, ΔZ) = h²/2 ([`additive_increments`]).
//!
//! - [`SrkMethod::Sra1`], Rößler's SRA1 tableau: c⁽⁰⁾ = (0, ¾), c⁽¹⁾ = (1, 0),
//!   A⁽⁰⁾₂₁ = ¾, B⁽⁰⁾₂₁ = 3/2, α = (⅓, ⅔), β⁽¹⁾ = (1, 0), β⁽²⁾ = (−1, 1):
//!   H₂ = x + ¾ h a(x, τ) + (3/2) g(τ + h) ΔZ/h,
//!   x ← x + h(⅓ a(x, τ) + ⅔ a(H₂, τ + ¾h)) + g(τ + h)(ΔW − ΔZ/h) + g(τ) ΔZ/h.
//!   Strong order 1.5 for additive noise (deterministic order 2); on a linear drift (a_xx = 0)
//!   the first terms it misses are of order 2.5, so it converges at order 2 there.
//! - [`SrkMethod::Heun`], the stochastic Heun (improved Euler) method, strong order 1 for
//!   additive noise: x̃ = x + h a(x, τ) + g(τ) ΔW,
//!   x ← x + ½h(a(x, τ) + a(x̃, τ + h)) + ½(g(τ) + g(τ + h)) ΔW.
//!
//! The sampler [`StochasticRk`] runs N uniform steps from T to ε (the grid of
//! [`crate::sample::EulerMaruyama`]), two score evaluations per step; as Euler–Maruyama, its
//! last step is taken without noise (ΔW = ΔZ = 0), which returns the mean of the last step.

use crate::error::Error;
use crate::lane::Lane;
use crate::real::Real;
use crate::rng::LaneSource;
use crate::sample::LaneSampler;
use crate::sample::euler_maruyama::{ReverseGrid, prior_draw};
use crate::score::ScoreModel;
use crate::sde::Sde;

/// The drift of the reverse SDE in reverse time, a(x, t) = g(t)² s(x, t) − c(t) x (one score
/// evaluation).
#[inline(always)]
pub(crate) fn reverse_drift<L, S, M, const D: usize>(sde: &S, model: &M, x: &[L; D], t: L) -> [L; D]
where
    L: Lane,
    S: Sde,
    M: ScoreModel<D>,
{
    let s = model.score(x, t);
    let c = sde.drift_coef(t);
    let g = sde.diffusion(t);
    let g2 = g * g;
    crate::lane::array_fn(|i| g2 * s[i] - c * x[i])
}

/// The Brownian increment ΔW = √h ξ₁ and the iterated integral ΔZ = ∫∫ dW ds =
/// ½ h^{3/2} (ξ₁ + ξ₂/√3) of one step of length `h` from two independent standard normals
/// (Kloeden & Platen 1992, §10.4): Var ΔZ = h³/3, Cov(ΔW, ΔZ) = h²/2.
#[inline(always)]
pub fn additive_increments<L: Lane>(h: L, xi1: L, xi2: L) -> (L, L) {
    let sh = Real::sqrt(h);
    let dw = sh * xi1;
    let dz =
        <L as Lane>::from_f64(0.5) * h * sh * (xi1 + xi2 * <L as Lane>::from_f64(FRAC_1_SQRT_3));
    (dw, dz)
}

const FRAC_1_SQRT_3: f64 = 0.577_350_269_189_625_8;

/// A stochastic Runge–Kutta method for additive noise (see the module docs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SrkMethod {
    /// Rößler's SRA1: strong order 1.5 (two evaluations, needs ΔW and ΔZ).
    #[default]
    Sra1,
    /// Stochastic Heun (improved Euler): strong order 1 (two evaluations, needs ΔW only).
    Heun,
}

impl SrkMethod {
    /// Whether the method uses the iterated integral ΔZ (a second normal per dimension).
    pub fn uses_dz(self) -> bool {
        matches!(self, SrkMethod::Sra1)
    }

    /// One reverse step from time `t` to `t − h` (`h` > 0) driven by the reverse-time
    /// increments `dw` (ΔW) and `dz` (ΔZ, ignored by [`SrkMethod::Heun`]); two score
    /// evaluations.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    pub fn step<L, S, M, const D: usize>(
        self,
        sde: &S,
        model: &M,
        x: &mut [L; D],
        t: L,
        h: L,
        dw: &[L; D],
        dz: &[L; D],
    ) where
        L: Lane,
        S: Sde,
        M: ScoreModel<D>,
    {
        let c = |v: f64| <L as Lane>::from_f64(v);
        let a1 = reverse_drift(sde, model, x, t);
        let g0 = sde.diffusion(t);
        let g1 = sde.diffusion(t - h);
        match self {
            SrkMethod::Sra1 => {
                let inv_h = c(1.0) / h;
                let h2: [L; D] = crate::lane::array_fn(|i| {
                    x[i] + c(0.75) * h * a1[i] + c(1.5) * g1 * dz[i] * inv_h
                });
                let a2 = reverse_drift(sde, model, &h2, t - c(0.75) * h);
                for i in 0..D {
                    let dzh = dz[i] * inv_h;
                    x[i] += h * (c(1.0 / 3.0) * a1[i] + c(2.0 / 3.0) * a2[i])
                        + g1 * (dw[i] - dzh)
                        + g0 * dzh;
                }
            }
            SrkMethod::Heun => {
                let xt: [L; D] = crate::lane::array_fn(|i| x[i] + h * a1[i] + g0 * dw[i]);
                let a2 = reverse_drift(sde, model, &xt, t - h);
                let half = c(0.5);
                for i in 0..D {
                    x[i] += half * h * (a1[i] + a2[i]) + half * (g0 + g1) * dw[i];
                }
            }
        }
    }
}

/// Reverse-SDE sampler with a stochastic Runge–Kutta method (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StochasticRk<S> {
    sde: S,
    grid: ReverseGrid,
    method: SrkMethod,
}

impl<S: Sde> StochasticRk<S> {
    /// N = `steps` ≥ 1 uniform steps of `method` from T down to `eps` ∈ [0, T).
    pub fn new(sde: S, method: SrkMethod, steps: u32, eps: f32) -> Result<Self, Error> {
        let grid = ReverseGrid::new(&sde, steps, eps)?;
        Ok(Self { sde, grid, method })
    }
    /// The SDE.
    pub fn sde(&self) -> &S {
        &self.sde
    }
    /// The method.
    pub fn method(&self) -> SrkMethod {
        self.method
    }
    /// Score evaluations per sample: 2N.
    pub fn evaluations(&self) -> u32 {
        self.grid.steps().saturating_mul(2)
    }
}

impl<const D: usize, S: Sde, M: ScoreModel<D>> LaneSampler<D, M> for StochasticRk<S> {
    /// Ignores the initial `x`. Draws: D normals for the prior, then per step except the last
    /// 2D (SRA1: ξ₁ then ξ₂) or D (Heun).
    fn run<L: Lane, G: LaneSource<L>>(&self, model: &M, x: &mut [L; D], rng: &mut G) {
        *x = prior_draw(&self.sde, rng);
        let n = self.grid.steps();
        let h = <L as Lane>::from_f64(self.grid.h());
        for i in 0..n {
            let t = self.grid.time::<L>(i);
            let mut dw = [L::default(); D];
            let mut dz = [L::default(); D];
            if i.saturating_add(1) < n {
                let xi1: [L; D] = rng.normal_array();
                if self.method.uses_dz() {
                    let xi2: [L; D] = rng.normal_array();
                    for k in 0..D {
                        (dw[k], dz[k]) = additive_increments(h, xi1[k], xi2[k]);
                    }
                } else {
                    let sh = Real::sqrt(h);
                    dw = xi1.map(|v| sh * v);
                }
            }
            self.method.step(&self.sde, model, x, t, h, &dw, &dz);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Streams;
    use crate::sde::Vp;

    /// The increments have the additive-noise moments: E ΔW² = h, E ΔZ² = h³/3,
    /// E ΔW ΔZ = h²/2 (200 000 draws, 5-standard-error bands).
    #[test]
    fn increments_have_the_right_moments() {
        let h = 0.3f64;
        let n = 200_000;
        let (mut ww, mut zz, mut wz) = (0.0, 0.0, 0.0);
        let mut rng = Streams::<f64>::new(3, 0);
        for _ in 0..n {
            let (a, b): (f64, f64) = (rng.normal(), rng.normal());
            let (dw, dz) = additive_increments(h, a, b);
            ww += dw * dw;
            zz += dz * dz;
            wz += dw * dz;
        }
        let n = n as f64;
        let (ww, zz, wz) = (ww / n, zz / n, wz / n);
        // Normal fourth moments: s.e. of E X² is √2·Var/√n, of E XY ≤ √(Var X Var Y (1+ρ²)/n).
        let se = |v: f64| 5.0 * v * (2.0f64 / n).sqrt();
        assert!((ww - h).abs() < se(h), "{ww}");
        assert!((zz - h * h * h / 3.0).abs() < se(h * h * h / 3.0), "{zz}");
        assert!((wz - h * h / 2.0).abs() < se((h * h * h * h / 3.0).sqrt()), "{wz}");
    }

    /// With the noise off both methods are second-order Runge–Kutta methods for the drift: for
    /// a N(0, 1) target under VP, p_t = N(0, 1) and a(x, t) = −β(t)x + ½β(t)x = −½β(t)x, whose
    /// reverse flow is x(t − h) = x(t)·α_t/α_{t−h}; the one-step error shrinks ≈ 8-fold when h
    /// halves.
    #[test]
    fn noise_free_steps_are_second_order() {
        let sde = Vp::default();
        let m = crate::score::GaussianMixture::new([1.0], [[0.0]], [[[1.0]]]).unwrap().under(sde);
        for method in [SrkMethod::Sra1, SrkMethod::Heun] {
            let err = |h: f64| {
                let t = 0.6f64;
                let mut x = [1.0f64];
                method.step(&sde, &m, &mut x, t, h, &[0.0], &[0.0]);
                let (a0, _) = sde.marginal(t);
                let (a1, _) = sde.marginal(t - h);
                (x[0] - a0 / a1).abs()
            };
            let ratio = err(0.02) / err(0.01);
            assert!(ratio > 7.0 && ratio < 9.0, "{method:?}: {ratio}");
        }
    }

    #[test]
    fn rejects_bad_parameters() {
        assert!(StochasticRk::new(Vp::default(), SrkMethod::Sra1, 0, 1e-3).is_err());
        assert!(StochasticRk::new(Vp::default(), SrkMethod::Heun, 10, 1.5).is_err());
        assert!(StochasticRk::new(Vp::default(), SrkMethod::Sra1, 10, 1e-3).is_ok());
    }
}
