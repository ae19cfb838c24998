//! Activation normalisation (Kingma & Dhariwal 2018, Glow), MATH.md §1 ("ActNorm"):
//!   x = (z − μ) ⊙ exp(−ℓ),   log|det ∂x/∂z| = −Σ ℓᵢ,   z = x ⊙ exp(ℓ) + μ.
//!
//! [`ActNorm::init_from_data`] is Glow's data-dependent initialisation: given a batch of the
//! points the layer receives on its data side, it picks μ and ℓ so that the inverse (the density
//! direction) maps the batch to mean 0 and variance 1 in every coordinate.
//! The factors a = exp(−ℓ) are rounded to `f32` once at construction; the inverse divides by
//! the same a, and the log-det Σ ln aᵢ (= −Σℓ up to that rounding) is computed from the stored
//! factors in `f64`, so forward, inverse and log-det describe exactly one map.
//! Cost: one multiply (inverse: one division) and one add per coordinate.
//! `f64` lanes see exp(−ℓ) and −Σℓ themselves (kept as sums of two `f32`s), so `f64`
//! evaluation is a smooth function of the parameters; `f32` lanes use the rounded factors.

use crate::dist::TwoF32;
use crate::error::{Error, all_finite};
use crate::flow::Bijector;
use crate::flow::train::{TrainableForward, TrainableInverse};
use crate::params::{GradSink, Params, check_len, split, split_ref};
use crate::real::Real;

/// Added to each coordinate's batch standard deviation in [`ActNorm::init_from_data`] (Glow's
/// ε): a constant coordinate gives a large but finite scale instead of a division by zero.
pub const ACTNORM_STD_EPS: f64 = 1e-6;

/// The largest |ℓ| accepted: exp(±ℓ) stays a normal `f32` (e^87 < f32::MAX, e^−87 > f32's
/// smallest normal).
pub const ACTNORM_MAX_LOG_SCALE: f32 = 87.0;

/// Per-coordinate shift and log-scale: x = (z − μ)⊙exp(−ℓ).
///
/// Parameter layout ([`Params`], `2D` numbers): μ₀..μ_{D−1}, then ℓ₀..ℓ_{D−1}; every finite
/// ℓ with |ℓ| ≤ [`ACTNORM_MAX_LOG_SCALE`] is valid.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ActNorm<const D: usize> {
    shift: [f32; D],
    log_scale: [f32; D],
    scale: [TwoF32; D],
    log_det: TwoF32,
}

impl<const D: usize> ActNorm<D> {
    /// The layer from μ (`shift`) and ℓ (`log_scale`). Non-finite entries give
    /// [`Error::NonFinite`]; |ℓᵢ| > [`ACTNORM_MAX_LOG_SCALE`] gives [`Error::InvalidParameter`].
    pub fn new(shift: [f32; D], log_scale: [f32; D]) -> Result<Self, Error> {
        all_finite("shift", &shift)?;
        all_finite("log_scale", &log_scale)?;
        if log_scale.iter().any(|l| l.abs() > ACTNORM_MAX_LOG_SCALE) {
            return Err(Error::InvalidParameter {
                name: "log_scale",
                reason: "|log_scale| must be at most ACTNORM_MAX_LOG_SCALE",
            });
        }
        let scale = log_scale.map(|l| TwoF32::with_hi(Real::exp(-l), libm::exp(-(l as f64))));
        let rounded: f64 = scale.iter().map(|a| libm::log(a.hi() as f64)).sum();
        let exact: f64 = log_scale.iter().map(|&l| -(l as f64)).sum();
        let log_det = TwoF32::with_hi(rounded as f32, exact);
        Ok(Self { shift, log_scale, scale, log_det })
    }

    /// Glow's data-dependent initialisation from a batch of data-side points `xs`: with the
    /// batch mean mᵢ and standard deviation σᵢ (+ [`ACTNORM_STD_EPS`]), ℓᵢ = −ln σᵢ and
    /// μᵢ = −mᵢ/σᵢ, so that the inverse z = x⊙exp(ℓ) + μ = (x − m)/σ standardises the batch.
    /// Statistics are accumulated in `f64` (two passes). An empty batch gives
    /// [`Error::InvalidParameter`], a non-finite point [`Error::NonFinite`].
    pub fn init_from_data(xs: &[[f32; D]]) -> Result<Self, Error> {
        if xs.is_empty() {
            return Err(Error::InvalidParameter {
                name: "batch",
                reason: "needs at least one point",
            });
        }
        for x in xs {
            all_finite("batch", x)?;
        }
        let n = xs.len() as f64;
        let mut mean = [0.0f64; D];
        for x in xs {
            for (m, &v) in mean.iter_mut().zip(x.iter()) {
                *m += v as f64;
            }
        }
        for m in mean.iter_mut() {
            *m /= n;
        }
        let mut var = [0.0f64; D];
        for x in xs {
            for ((s, &v), &m) in var.iter_mut().zip(x.iter()).zip(mean.iter()) {
                *s += (v as f64 - m) * (v as f64 - m);
            }
        }
        let mut shift = [0.0f32; D];
        let mut log_scale = [0.0f32; D];
        for i in 0..D {
            let sigma = libm::sqrt(var[i] / n) + ACTNORM_STD_EPS;
            log_scale[i] = (-libm::log(sigma)) as f32;
            shift[i] = (-mean[i] / sigma) as f32;
        }
        Self::new(shift, log_scale)
    }

    /// μ.
    pub fn shift(&self) -> &[f32; D] {
        &self.shift
    }

    /// ℓ.
    pub fn log_scale(&self) -> &[f32; D] {
        &self.log_scale
    }
}

impl<const D: usize> Bijector<D> for ActNorm<D> {
    #[inline]
    fn forward<R: Real>(&self, z: [R; D]) -> ([R; D], R) {
        let mut x = z;
        for ((xi, &m), &a) in x.iter_mut().zip(self.shift.iter()).zip(self.scale.iter()) {
            *xi = (*xi - R::from_f32(m)) * a.get::<R>();
        }
        (x, self.log_det.get::<R>())
    }

    #[inline]
    fn inverse<R: Real>(&self, x: [R; D]) -> Result<([R; D], R), Error> {
        let mut z = x;
        for ((zi, &m), &a) in z.iter_mut().zip(self.shift.iter()).zip(self.scale.iter()) {
            *zi = *zi / a.get::<R>() + R::from_f32(m);
        }
        Ok((z, -self.log_det.get::<R>()))
    }
}

impl<const D: usize> Params for ActNorm<D> {
    const LEN: usize = 2 * D;

    fn write_params(&self, out: &mut [f32]) -> Result<(), Error> {
        check_len("actnorm params", out.len(), Self::LEN)?;
        let (m, l) = split(out, D);
        m.copy_from_slice(&self.shift);
        l.copy_from_slice(&self.log_scale);
        Ok(())
    }

    fn read_params(&mut self, src: &[f32]) -> Result<(), Error> {
        check_len("actnorm params", src.len(), Self::LEN)?;
        let (m, l) = split_ref(src, D);
        let mut shift = [0.0f32; D];
        shift.copy_from_slice(m);
        let mut log_scale = [0.0f32; D];
        log_scale.copy_from_slice(l);
        *self = Self::new(shift, log_scale)?;
        Ok(())
    }
}

/// Backward of the inverse z = x/a + μ, l = Σℓ (a = e^−ℓ): x̄ = z̄/a, μ̄ = z̄,
/// ℓ̄ = z̄ (z − μ) + l̄.
impl<const D: usize> TrainableInverse<D> for ActNorm<D> {
    type InverseTape<R: Real> = ();

    #[inline]
    fn inverse_tape<R: Real>(&self, x: [R; D]) -> Result<([R; D], R, ()), Error> {
        let (z, l) = self.inverse(x)?;
        Ok((z, l, ()))
    }

    #[inline]
    fn inverse_backward<R: Real, G: GradSink<R> + ?Sized>(
        &self,
        x: &[R; D],
        _: &(),
        zbar: &[R; D],
        lbar: R,
        grad: &mut G,
    ) -> [R; D] {
        let xa: [R; D] = crate::lane::array_fn(|i| x[i] / self.scale[i].get::<R>());
        let gl: [R; D] = crate::lane::array_fn(|i| zbar[i] * xa[i] + lbar);
        grad.add(0, zbar);
        grad.add(D, &gl);
        crate::lane::array_fn(|i| zbar[i] / self.scale[i].get::<R>())
    }
}

/// Backward of the forward x = (z − μ) a, l = −Σℓ: z̄ = x̄ a, μ̄ = −x̄ a, ℓ̄ = −(x̄ x + l̄).
impl<const D: usize> TrainableForward<D> for ActNorm<D> {
    type ForwardTape<R: Real> = [R; D];

    #[inline]
    fn forward_tape<R: Real>(&self, z: [R; D]) -> ([R; D], R, [R; D]) {
        let (x, l) = self.forward(z);
        (x, l, x)
    }

    #[inline]
    fn forward_backward<R: Real, G: GradSink<R> + ?Sized>(
        &self,
        _z: &[R; D],
        x: &[R; D],
        xbar: &[R; D],
        lbar: R,
        grad: &mut G,
    ) -> [R; D] {
        let zbar: [R; D] = crate::lane::array_fn(|i| xbar[i] * self.scale[i].get::<R>());
        let gm: [R; D] = crate::lane::array_fn(|i| -zbar[i]);
        let gl: [R; D] = crate::lane::array_fn(|i| -(xbar[i] * x[i] + lbar));
        grad.add(0, &gm);
        grad.add(D, &gl);
        zbar
    }
}
