//! The radial layer of Rezende & Mohamed (2015), with its closed-form inverse (MATH.md §1,
//! "Radial").

use super::Bijector;
use super::planar::softplus_f64;
use crate::error::{Error, all_finite, finite};
use crate::real::Real;

/// Radial bijection f(z) = z + β·h(α, r)·(z − z₀), r = ‖z − z₀‖, h = 1/(α + r), on ℝᴰ.
///
/// Free parameters z₀ ∈ ℝᴰ, α′, β′ ∈ ℝ (stored as `f32`); the layer uses α = softplus(α′) > 0
/// and β = −α + softplus(β′) ≥ −α, which makes it invertible. α and β are prepared at
/// construction (in `f64`, β from the stored `f32` α so that β ≥ −α holds after rounding).
///
/// - forward: log|det| = (D − 1)·ln(1 + βh) + ln(1 + βαh²) (the identity
///   βh − βr/(α + r)² = βαh² avoids a cancellation), both by `ln_1p`. Cost O(D): one sqrt, one
///   division, two ln_1p.
/// - inverse (closed form): with ρ = ‖y − z₀‖ and B = α + β − ρ, r is the non-negative root of
///   r² + B·r − ρα = 0, taken as 2ρα/(B + √(B² + 4ρα)) when B > 0 and (√(B² + 4ρα) − B)/2
///   otherwise (no cancellation either way); then z = z₀ + (y − z₀)/(1 + β/(α + r)). Cost O(D).
///
/// Measured (`tests/flows.rs`, 20 random layers × 200 points in [−3, 3]ᴰ, D = 2 and 5):
/// inverse∘forward max abs error 8.9e-16 in f64 and 7.2e-7 in f32 (asserted ≤ 1e-13 and 1e-5);
/// forward and inverse log-determinants cancel to 1.8e-15; the log-determinant matches a
/// five-point finite-difference Jacobian in f64 (asserted ≤ 1e-9, max observed over all
/// layers 3.3e-11).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Radial<const D: usize> {
    z0: [f32; D],
    alpha_raw: f32,
    beta_raw: f32,
    alpha: f32,
    beta: f32,
}

impl<const D: usize> Radial<D> {
    /// The layer with centre `z0` and free parameters `alpha_raw` (α′) and `beta_raw` (β′).
    ///
    /// Errors: [`Error::NonFinite`] for a NaN or infinite parameter, or if α or β overflows
    /// `f32`; [`Error::InvalidParameter`] if α underflows to 0 (α′ ≲ −103).
    pub fn new(z0: [f32; D], alpha_raw: f32, beta_raw: f32) -> Result<Self, Error> {
        all_finite("z0", &z0)?;
        finite("alpha_raw", alpha_raw)?;
        finite("beta_raw", beta_raw)?;
        let alpha = softplus_f64(alpha_raw as f64) as f32;
        if alpha.partial_cmp(&0.0) != Some(core::cmp::Ordering::Greater) {
            return Err(Error::InvalidParameter {
                name: "alpha_raw",
                reason: "softplus(alpha_raw) underflows f32",
            });
        }
        finite("alpha", alpha)?;
        let beta = (-(alpha as f64) + softplus_f64(beta_raw as f64)) as f32;
        finite("beta", beta)?;
        Ok(Self { z0, alpha_raw, beta_raw, alpha, beta })
    }

    /// The centre z₀.
    pub fn z0(&self) -> [f32; D] {
        self.z0
    }

    /// The free parameters (α′, β′).
    pub fn raw(&self) -> (f32, f32) {
        (self.alpha_raw, self.beta_raw)
    }

    /// α = softplus(α′) > 0.
    pub fn alpha(&self) -> f32 {
        self.alpha
    }

    /// β = −α + softplus(β′) ≥ −α.
    pub fn beta(&self) -> f32 {
        self.beta
    }

    /// log|det ∂f/∂z| at radius r.
    #[inline(always)]
    fn log_det_at<R: Real>(&self, r: R) -> R {
        let alpha = R::from_f32(self.alpha);
        let beta = R::from_f32(self.beta);
        let h = R::one() / (alpha + r);
        let bh = beta * h;
        R::from_f64((D as f64) - 1.0) * bh.ln_1p() + (bh * alpha * h).ln_1p()
    }
}

impl<const D: usize> Bijector<D> for Radial<D> {
    #[inline(always)]
    fn forward<R: Real>(&self, z: [R; D]) -> ([R; D], R) {
        let d: [R; D] = core::array::from_fn(|i| z[i] - R::from_f32(self.z0[i]));
        let mut r2 = R::zero();
        for &di in &d {
            r2 += di * di;
        }
        let r = r2.sqrt();
        let bh = R::from_f32(self.beta) / (R::from_f32(self.alpha) + r);
        let x = core::array::from_fn(|i| z[i] + bh * d[i]);
        (x, self.log_det_at(r))
    }

    #[inline(always)]
    fn inverse<R: Real>(&self, y: [R; D]) -> Result<([R; D], R), Error> {
        let alpha = R::from_f32(self.alpha);
        let beta = R::from_f32(self.beta);
        let d: [R; D] = core::array::from_fn(|i| y[i] - R::from_f32(self.z0[i]));
        let mut rho2 = R::zero();
        for &di in &d {
            rho2 += di * di;
        }
        let rho = rho2.sqrt();
        let bq = alpha + beta - rho;
        let four_rho_alpha = R::from_f64(4.0) * rho * alpha;
        let sq = (bq * bq + four_rho_alpha).sqrt();
        let r_pos = R::from_f64(0.5) * four_rho_alpha / (bq + sq);
        let r_neg = R::from_f64(0.5) * (sq - bq);
        let r = R::select(bq.gt(R::zero()), r_pos, r_neg);
        let k = R::one() + beta / (alpha + r);
        let z = core::array::from_fn(|i| R::from_f32(self.z0[i]) + d[i] / k);
        Ok((z, -self.log_det_at(r)))
    }
}
