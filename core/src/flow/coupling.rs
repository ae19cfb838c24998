//! Coupling layers: NICE's additive coupling and final diagonal scaling (Dinh et al. 2014) and
//! RealNVP's affine coupling (Dinh et al. 2017). MATH.md §1 ("Coupling").
//!
//! With a binary mask m (true = passed through unchanged, "conditioning"):
//!   x = m⊙z + (1−m)⊙(z⊙exp(s(m⊙z)) + t(m⊙z)),   log|det ∂x/∂z| = Σ (1−m)⊙s.
//! The conditioner sees the masked input m⊙z (full width `D`, zeros at the transformed
//! coordinates) and returns only what the transformed coordinates need, packed in increasing
//! coordinate order: for `T` transformed coordinates the affine coupling's conditioner has
//! `O = 2T` outputs (T log-scales, then T shifts), the additive one `O = T` shifts. `T` is
//! `O / 2` (resp. `O`), checked against the mask at construction; a conditioner whose width
//! cannot fit `D` does not compile (a const assertion).
//!
//! The affine log-scale is bounded smoothly, s = c·tanh(ŝ/c) with c = [`LOG_SCALE_BOUND`]:
//! unbounded scales are the failure peers report most (exploding exp(s) in training).
//!
//! Cost per sample: one conditioner evaluation, plus one exp and one tanh per transformed
//! coordinate (affine). The inverse costs the same; neither can fail.

use crate::dist::TwoF32;
use crate::error::{Error, all_finite};
use crate::flow::Bijector;
use crate::flow::train::{TrainableForward, TrainableInverse};
use crate::nn::{Network, TrainableNetwork};
use crate::params::{GradSink, Params, check_len};
use crate::real::Real;

/// c in the bounded log-scale s = c·tanh(ŝ/c): each affine coupling scales a coordinate by a
/// factor in [e⁻³, e³] ≈ [0.05, 20], wide enough for any standardised data, yet exp(s) can
/// never overflow however large the conditioner's raw output ŝ becomes.
pub const LOG_SCALE_BOUND: f64 = 3.0;

/// The smoothly bounded log-scale c·tanh(ŝ/c), c = [`LOG_SCALE_BOUND`]; ≈ ŝ for |ŝ| ≪ c.
#[inline(always)]
pub fn bounded_log_scale<R: Real>(raw: R) -> R {
    let c = R::from_f64(LOG_SCALE_BOUND);
    c * (raw / c).tanh()
}

/// A validated binary coupling mask: `true` marks a coordinate passed through unchanged (it
/// conditions the others), `false` one that is transformed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BinaryMask<const D: usize> {
    keep: [bool; D],
    transformed: usize,
}

impl<const D: usize> BinaryMask<D> {
    /// A mask from its bits. At least one coordinate must be kept and at least one transformed,
    /// else [`Error::InvalidParameter`] (an all-kept mask is the identity, an all-transformed
    /// one has a conditioner that sees nothing).
    pub fn new(keep: [bool; D]) -> Result<Self, Error> {
        let transformed = keep.iter().filter(|&&k| !k).count();
        if transformed == 0 || transformed == D {
            return Err(Error::InvalidParameter {
                name: "mask",
                reason: "must keep at least one coordinate and transform at least one",
            });
        }
        Ok(Self { keep, transformed })
    }

    /// The alternating ("checkerboard") mask: coordinate i is kept iff i % 2 == parity % 2.
    /// Needs D ≥ 2.
    pub fn alternating(parity: usize) -> Result<Self, Error> {
        Self::new(crate::lane::array_fn(|i| i % 2 == parity % 2))
    }

    /// The mask bits (`true` = kept).
    pub fn keep(&self) -> &[bool; D] {
        &self.keep
    }

    /// The number of transformed coordinates.
    pub fn transformed(&self) -> usize {
        self.transformed
    }

    /// m⊙z: the transformed coordinates replaced by zero.
    #[inline(always)]
    pub fn apply<R: Real>(&self, z: &[R; D]) -> [R; D] {
        let mut out = *z;
        for (o, &k) in out.iter_mut().zip(self.keep.iter()) {
            if !k {
                *o = R::zero();
            }
        }
        out
    }

    /// Checks that a conditioner supplying `per_coordinate` outputs for each transformed
    /// coordinate has exactly `width` outputs.
    pub(crate) fn check_width(&self, width: usize, per_coordinate: usize) -> Result<(), Error> {
        if self.transformed * per_coordinate == width {
            Ok(())
        } else {
            Err(Error::InvalidParameter {
                name: "mask",
                reason: "number of transformed coordinates does not match the conditioner width",
            })
        }
    }
}

/// NICE's additive coupling x = m⊙z + (1−m)⊙(z + t(m⊙z)); log-det 0 (volume preserving).
///
/// `O` is the number of transformed coordinates (the conditioner's output width).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdditiveCoupling<const D: usize, const O: usize, C> {
    mask: BinaryMask<D>,
    net: C,
}

impl<const D: usize, const O: usize, C: Network<D, O>> AdditiveCoupling<D, O, C> {
    /// A coupling from its mask and shift network. The mask must transform exactly `O`
    /// coordinates, else [`Error::InvalidParameter`]; `1 ≤ O < D` is checked at compile time.
    pub fn new(mask: BinaryMask<D>, net: C) -> Result<Self, Error> {
        const { assert!(O >= 1 && O < D, "additive coupling: conditioner width O must be in 1..D") };
        mask.check_width(O, 1)?;
        Ok(Self { mask, net })
    }

    /// The mask.
    pub fn mask(&self) -> &BinaryMask<D> {
        &self.mask
    }

    /// The shift network.
    pub fn net(&self) -> &C {
        &self.net
    }
}

impl<const D: usize, const O: usize, C: Network<D, O>> Bijector<D> for AdditiveCoupling<D, O, C> {
    #[inline]
    fn forward<R: Real>(&self, z: [R; D]) -> ([R; D], R) {
        let t = self.net.forward(&self.mask.apply(&z));
        let mut x = z;
        let mut j = 0;
        for (xi, &k) in x.iter_mut().zip(self.mask.keep.iter()) {
            if !k {
                *xi += t[j];
                j += 1;
            }
        }
        (x, R::zero())
    }

    #[inline]
    fn inverse<R: Real>(&self, x: [R; D]) -> Result<([R; D], R), Error> {
        // m⊙z = m⊙x: the conditioner sees the same input in both directions.
        let t = self.net.forward(&self.mask.apply(&x));
        let mut z = x;
        let mut j = 0;
        for (zi, &k) in z.iter_mut().zip(self.mask.keep.iter()) {
            if !k {
                *zi -= t[j];
                j += 1;
            }
        }
        Ok((z, R::zero()))
    }
}

/// RealNVP's affine coupling x = m⊙z + (1−m)⊙(z⊙exp(s) + t), s = c·tanh(ŝ/c)
/// ([`bounded_log_scale`]), (ŝ, t) = net(m⊙z); log|det| = Σ s over transformed coordinates.
///
/// `O = 2T` for `T` transformed coordinates: outputs `0..T` are the raw log-scales ŝ, `T..2T`
/// the shifts, in increasing coordinate order.
///
/// ```
/// use flowscore::flow::Bijector;
/// use flowscore::flow::coupling::{AffineCoupling, BinaryMask};
/// use flowscore::nn::{Activation, Mlp2};
/// // 2-D: one kept coordinate conditions (ŝ, t) of the other, a 2 → 16 → 16 → 2 network.
/// let net = Mlp2::<2, 16, 2>::init(Activation::Tanh, 1);
/// let layer = AffineCoupling::<2, 2, _>::new(BinaryMask::alternating(0)?, net)?;
/// let (x, log_det) = layer.forward([0.5f32, -1.0]);
/// let (z, inv_log_det) = layer.inverse(x)?;
/// assert!((z[1] + 1.0).abs() < 1e-6 && (log_det + inv_log_det).abs() < 1e-6);
/// # Ok::<(), flowscore::Error>(())
/// ```
///
/// A conditioner whose width cannot be (log-scale, shift) pairs does not compile:
/// ```compile_fail
/// use flowscore::flow::coupling::{AffineCoupling, BinaryMask};
/// use flowscore::nn::{Activation, Mlp2};
/// let net = Mlp2::<2, 16, 3>::init(Activation::Tanh, 1);
/// let layer = AffineCoupling::<2, 3, _>::new(BinaryMask::alternating(0).unwrap(), net);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AffineCoupling<const D: usize, const O: usize, C> {
    mask: BinaryMask<D>,
    net: C,
}

impl<const D: usize, const O: usize, C: Network<D, O>> AffineCoupling<D, O, C> {
    /// A coupling from its mask and (log-scale, shift) network. The mask must transform exactly
    /// `O / 2` coordinates, else [`Error::InvalidParameter`]; `O` even with `2 ≤ O < 2D` is
    /// checked at compile time.
    pub fn new(mask: BinaryMask<D>, net: C) -> Result<Self, Error> {
        const {
            assert!(
                O.is_multiple_of(2) && O >= 2 && O < 2 * D,
                "affine coupling: conditioner width O must be 2T with 1 <= T < D"
            )
        };
        mask.check_width(O, 2)?;
        Ok(Self { mask, net })
    }

    /// The mask.
    pub fn mask(&self) -> &BinaryMask<D> {
        &self.mask
    }

    /// The (log-scale, shift) network.
    pub fn net(&self) -> &C {
        &self.net
    }
}

impl<const D: usize, const O: usize, C: Network<D, O>> Bijector<D> for AffineCoupling<D, O, C> {
    #[inline]
    fn forward<R: Real>(&self, z: [R; D]) -> ([R; D], R) {
        let h = self.net.forward(&self.mask.apply(&z));
        let t_off = O / 2;
        let mut x = z;
        let mut log_det = R::zero();
        let mut j = 0;
        for (xi, &k) in x.iter_mut().zip(self.mask.keep.iter()) {
            if !k {
                let s = bounded_log_scale(h[j]);
                *xi = *xi * s.exp() + h[t_off + j];
                log_det += s;
                j += 1;
            }
        }
        (x, log_det)
    }

    #[inline]
    fn inverse<R: Real>(&self, x: [R; D]) -> Result<([R; D], R), Error> {
        let h = self.net.forward(&self.mask.apply(&x));
        let t_off = O / 2;
        let mut z = x;
        let mut log_det = R::zero();
        let mut j = 0;
        for (zi, &k) in z.iter_mut().zip(self.mask.keep.iter()) {
            if !k {
                let s = bounded_log_scale(h[j]);
                *zi = (*zi - h[t_off + j]) * (-s).exp();
                log_det -= s;
                j += 1;
            }
        }
        Ok((z, log_det))
    }
}

/// NICE's final diagonal scaling x = z ⊙ a, a = exp(s), log|det| = Σ ln aᵢ, with `f32`
/// log-scales s.
///
/// The factors a = exp(s) are rounded to `f32` once at construction; the inverse divides by the
/// same a (so inverse ∘ forward is exact up to one rounding each way), and the log-det Σ ln aᵢ
/// is computed from those stored factors in `f64`. `f64` lanes see exp(s) and Σs themselves
/// (kept as sums of two `f32`s), so `f64` evaluation is a smooth function of the parameters.
/// Cost: D multiplies (D divisions inverse).
///
/// Parameter layout ([`Params`], `D` numbers): s₀..s_{D−1}; every finite s with |s| ≤ 87 is
/// valid.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DiagonalScaling<const D: usize> {
    log_scale: [f32; D],
    scale: [TwoF32; D],
    log_det: TwoF32,
}

impl<const D: usize> DiagonalScaling<D> {
    /// The layer from its log-scales. A non-finite entry gives [`Error::NonFinite`]; one whose
    /// exp(s) is not a positive normal `f32` (|s| > 87) gives [`Error::InvalidParameter`].
    pub fn new(log_scale: [f32; D]) -> Result<Self, Error> {
        all_finite("log_scale", &log_scale)?;
        let rounded = log_scale.map(Real::exp);
        if !rounded.iter().all(|v| v.is_normal() && *v > 0.0) {
            return Err(Error::InvalidParameter {
                name: "log_scale",
                reason: "exp(s) must be a positive normal f32 (|s| <= 87)",
            });
        }
        let mut scale = [TwoF32::default(); D];
        for ((a, &r), &s) in scale.iter_mut().zip(rounded.iter()).zip(log_scale.iter()) {
            *a = TwoF32::with_hi(r, libm::exp(s as f64));
        }
        let log_det: f64 = rounded.iter().map(|&a| libm::log(a as f64)).sum();
        let exact: f64 = log_scale.iter().map(|&s| s as f64).sum();
        Ok(Self { log_scale, scale, log_det: TwoF32::with_hi(log_det as f32, exact) })
    }

    /// The log-scales.
    pub fn log_scale(&self) -> &[f32; D] {
        &self.log_scale
    }
}

impl<const D: usize> Bijector<D> for DiagonalScaling<D> {
    #[inline]
    fn forward<R: Real>(&self, z: [R; D]) -> ([R; D], R) {
        let mut x = z;
        for (xi, &a) in x.iter_mut().zip(self.scale.iter()) {
            *xi *= a.get::<R>();
        }
        (x, self.log_det.get::<R>())
    }

    #[inline]
    fn inverse<R: Real>(&self, x: [R; D]) -> Result<([R; D], R), Error> {
        let mut z = x;
        for (zi, &a) in z.iter_mut().zip(self.scale.iter()) {
            *zi /= a.get::<R>();
        }
        Ok((z, -self.log_det.get::<R>()))
    }
}

impl<const D: usize> Params for DiagonalScaling<D> {
    const LEN: usize = D;

    fn write_params(&self, out: &mut [f32]) -> Result<(), Error> {
        check_len("diagonal scaling params", out.len(), Self::LEN)?;
        out.copy_from_slice(&self.log_scale);
        Ok(())
    }

    fn read_params(&mut self, src: &[f32]) -> Result<(), Error> {
        check_len("diagonal scaling params", src.len(), Self::LEN)?;
        let mut log_scale = [0.0f32; D];
        log_scale.copy_from_slice(src);
        *self = Self::new(log_scale)?;
        Ok(())
    }
}

/// Backward of the inverse z = x/a, l = −Σs (a = eˢ): x̄ = z̄/a, s̄ = −(z̄ z + l̄).
impl<const D: usize> TrainableInverse<D> for DiagonalScaling<D> {
    type InverseTape<R: Real> = [R; D];

    #[inline]
    fn inverse_tape<R: Real>(&self, x: [R; D]) -> Result<([R; D], R, [R; D]), Error> {
        let (z, l) = self.inverse(x)?;
        Ok((z, l, z))
    }

    #[inline]
    fn inverse_backward<R: Real, G: GradSink<R> + ?Sized>(
        &self,
        _x: &[R; D],
        z: &[R; D],
        zbar: &[R; D],
        lbar: R,
        grad: &mut G,
    ) -> [R; D] {
        let gs: [R; D] = crate::lane::array_fn(|i| -(zbar[i] * z[i] + lbar));
        grad.add(0, &gs);
        crate::lane::array_fn(|i| zbar[i] / self.scale[i].get::<R>())
    }
}

/// Backward of the forward x = z a, l = Σs: z̄ = x̄ a, s̄ = x̄ x + l̄.
impl<const D: usize> TrainableForward<D> for DiagonalScaling<D> {
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
        let gs: [R; D] = crate::lane::array_fn(|i| xbar[i] * x[i] + lbar);
        grad.add(0, &gs);
        crate::lane::array_fn(|i| xbar[i] * self.scale[i].get::<R>())
    }
}

/// A coupling's parameters are its conditioner's (the mask is fixed).
impl<const D: usize, const O: usize, C: Params> Params for AdditiveCoupling<D, O, C> {
    const LEN: usize = C::LEN;

    fn write_params(&self, out: &mut [f32]) -> Result<(), Error> {
        check_len("coupling params", out.len(), Self::LEN)?;
        self.net.write_params(out)
    }

    fn read_params(&mut self, src: &[f32]) -> Result<(), Error> {
        check_len("coupling params", src.len(), Self::LEN)?;
        self.net.read_params(src)
    }
}

/// A coupling's parameters are its conditioner's (the mask is fixed).
impl<const D: usize, const O: usize, C: Params> Params for AffineCoupling<D, O, C> {
    const LEN: usize = C::LEN;

    fn write_params(&self, out: &mut [f32]) -> Result<(), Error> {
        check_len("coupling params", out.len(), Self::LEN)?;
        self.net.write_params(out)
    }

    fn read_params(&mut self, src: &[f32]) -> Result<(), Error> {
        check_len("coupling params", src.len(), Self::LEN)?;
        self.net.read_params(src)
    }
}

impl<const D: usize> BinaryMask<D> {
    /// Add the conditioner's input cotangent `ubar` (w.r.t. m⊙v) to the kept coordinates of
    /// `bar` (the transformed ones were zeroed by the mask, so they receive nothing).
    #[inline(always)]
    pub(crate) fn add_kept<R: Real>(&self, bar: &mut [R; D], ubar: &[R; D]) {
        for ((b, &u), &k) in bar.iter_mut().zip(ubar.iter()).zip(self.keep.iter()) {
            if k {
                *b += u;
            }
        }
    }
}

/// Backward of the additive coupling's inverse z = x − (1−m)⊙t(m⊙x): t̄ = −z̄ on the
/// transformed coordinates, x̄ = z̄ + (conditioner input cotangent on the kept ones).
impl<const D: usize, const O: usize, C: TrainableNetwork<D, O>> TrainableInverse<D>
    for AdditiveCoupling<D, O, C>
{
    type InverseTape<R: Real> = C::Tape<R>;

    #[inline]
    fn inverse_tape<R: Real>(&self, x: [R; D]) -> Result<([R; D], R, C::Tape<R>), Error> {
        let (t, tape) = self.net.forward_tape(&self.mask.apply(&x));
        let mut z = x;
        let mut j = 0;
        for (zi, &k) in z.iter_mut().zip(self.mask.keep.iter()) {
            if !k {
                *zi -= t[j];
                j += 1;
            }
        }
        Ok((z, R::zero(), tape))
    }

    #[inline]
    fn inverse_backward<R: Real, G: GradSink<R> + ?Sized>(
        &self,
        x: &[R; D],
        tape: &C::Tape<R>,
        zbar: &[R; D],
        _lbar: R,
        grad: &mut G,
    ) -> [R; D] {
        let mut tbar = [R::zero(); O];
        let mut j = 0;
        for (&zb, &k) in zbar.iter().zip(self.mask.keep.iter()) {
            if !k && j < O {
                tbar[j] = -zb;
                j += 1;
            }
        }
        let ubar = self.net.backward(&self.mask.apply(x), tape, &tbar, grad);
        let mut xbar = *zbar;
        self.mask.add_kept(&mut xbar, &ubar);
        xbar
    }
}

/// Backward of the additive coupling's forward x = z + (1−m)⊙t(m⊙z): t̄ = x̄ on the
/// transformed coordinates, z̄ = x̄ + (conditioner input cotangent on the kept ones).
impl<const D: usize, const O: usize, C: TrainableNetwork<D, O>> TrainableForward<D>
    for AdditiveCoupling<D, O, C>
{
    type ForwardTape<R: Real> = C::Tape<R>;

    #[inline]
    fn forward_tape<R: Real>(&self, z: [R; D]) -> ([R; D], R, C::Tape<R>) {
        let (t, tape) = self.net.forward_tape(&self.mask.apply(&z));
        let mut x = z;
        let mut j = 0;
        for (xi, &k) in x.iter_mut().zip(self.mask.keep.iter()) {
            if !k {
                *xi += t[j];
                j += 1;
            }
        }
        (x, R::zero(), tape)
    }

    #[inline]
    fn forward_backward<R: Real, G: GradSink<R> + ?Sized>(
        &self,
        z: &[R; D],
        tape: &C::Tape<R>,
        xbar: &[R; D],
        _lbar: R,
        grad: &mut G,
    ) -> [R; D] {
        let mut tbar = [R::zero(); O];
        let mut j = 0;
        for (&xb, &k) in xbar.iter().zip(self.mask.keep.iter()) {
            if !k && j < O {
                tbar[j] = xb;
                j += 1;
            }
        }
        let ubar = self.net.backward(&self.mask.apply(z), tape, &tbar, grad);
        let mut zbar = *xbar;
        self.mask.add_kept(&mut zbar, &ubar);
        zbar
    }
}

/// What an affine coupling keeps for its backward: the conditioner's tape, its output with the
/// raw log-scales ŝ replaced by s (entries `0..T`) and the shifts by exp(∓s) (entries `T..2T`,
/// − for the inverse, + for the forward), and the layer's output.
#[derive(Clone, Copy, Debug)]
pub struct AffineCouplingTape<T, R, const D: usize, const O: usize> {
    net: T,
    s_exp: [R; O],
    out: [R; D],
}

/// ds/dŝ = 1 − tanh²(ŝ/c) = 1 − (s/c)² for s = c·tanh(ŝ/c).
#[inline(always)]
pub(crate) fn bounded_log_scale_derivative<R: Real>(s: R) -> R {
    let r = s / R::from_f64(LOG_SCALE_BOUND);
    R::one() - r * r
}

/// Backward of the affine coupling's inverse z_T = (x_T − t)·e^−s, l = −Σs:
/// x̄_T = z̄_T e^−s, t̄ = −z̄_T e^−s, ŝ̄ = −(z̄_T z_T + l̄)·ds/dŝ, and the conditioner's input
/// cotangent added on the kept coordinates.
impl<const D: usize, const O: usize, C: TrainableNetwork<D, O>> TrainableInverse<D>
    for AffineCoupling<D, O, C>
{
    type InverseTape<R: Real> = AffineCouplingTape<C::Tape<R>, R, D, O>;

    #[inline]
    fn inverse_tape<R: Real>(&self, x: [R; D]) -> Result<([R; D], R, Self::InverseTape<R>), Error> {
        let (h, net) = self.net.forward_tape(&self.mask.apply(&x));
        let t_off = O / 2;
        let mut s_exp = [R::zero(); O];
        let mut z = x;
        let mut log_det = R::zero();
        let mut j = 0;
        for (zi, &k) in z.iter_mut().zip(self.mask.keep.iter()) {
            if !k {
                let s = bounded_log_scale(h[j]);
                let e = (-s).exp();
                *zi = (*zi - h[t_off + j]) * e;
                log_det -= s;
                s_exp[j] = s;
                s_exp[t_off + j] = e;
                j += 1;
            }
        }
        Ok((z, log_det, AffineCouplingTape { net, s_exp, out: z }))
    }

    #[inline]
    fn inverse_backward<R: Real, G: GradSink<R> + ?Sized>(
        &self,
        x: &[R; D],
        tape: &Self::InverseTape<R>,
        zbar: &[R; D],
        lbar: R,
        grad: &mut G,
    ) -> [R; D] {
        let t_off = O / 2;
        let mut hbar = [R::zero(); O];
        let mut xbar = *zbar;
        let mut j = 0;
        for i in 0..D {
            if !self.mask.keep[i] && t_off + j < O {
                let (s, e) = (tape.s_exp[j], tape.s_exp[t_off + j]);
                let ze = zbar[i] * e;
                xbar[i] = ze;
                hbar[t_off + j] = -ze;
                hbar[j] = -(zbar[i] * tape.out[i] + lbar) * bounded_log_scale_derivative(s);
                j += 1;
            }
        }
        let ubar = self.net.backward(&self.mask.apply(x), &tape.net, &hbar, grad);
        self.mask.add_kept(&mut xbar, &ubar);
        xbar
    }
}

/// Backward of the affine coupling's forward x_T = z_T e^s + t, l = Σs: z̄_T = x̄_T e^s,
/// t̄ = x̄_T, ŝ̄ = (x̄_T (x_T − t) + l̄)·ds/dŝ, and the conditioner's input cotangent added on
/// the kept coordinates.
impl<const D: usize, const O: usize, C: TrainableNetwork<D, O>> TrainableForward<D>
    for AffineCoupling<D, O, C>
{
    type ForwardTape<R: Real> = AffineCouplingTape<C::Tape<R>, R, D, O>;

    #[inline]
    fn forward_tape<R: Real>(&self, z: [R; D]) -> ([R; D], R, Self::ForwardTape<R>) {
        let (h, net) = self.net.forward_tape(&self.mask.apply(&z));
        let t_off = O / 2;
        let mut s_exp = [R::zero(); O];
        let mut x = z;
        let mut log_det = R::zero();
        let mut j = 0;
        for (xi, &k) in x.iter_mut().zip(self.mask.keep.iter()) {
            if !k {
                let s = bounded_log_scale(h[j]);
                let e = s.exp();
                *xi = *xi * e + h[t_off + j];
                log_det += s;
                s_exp[j] = s;
                s_exp[t_off + j] = e;
                j += 1;
            }
        }
        (x, log_det, AffineCouplingTape { net, s_exp, out: x })
    }

    #[inline]
    fn forward_backward<R: Real, G: GradSink<R> + ?Sized>(
        &self,
        z: &[R; D],
        tape: &Self::ForwardTape<R>,
        xbar: &[R; D],
        lbar: R,
        grad: &mut G,
    ) -> [R; D] {
        let t_off = O / 2;
        let mut hbar = [R::zero(); O];
        let mut zbar = *xbar;
        let mut j = 0;
        for i in 0..D {
            if !self.mask.keep[i] && t_off + j < O {
                let (s, e) = (tape.s_exp[j], tape.s_exp[t_off + j]);
                zbar[i] = xbar[i] * e;
                hbar[t_off + j] = xbar[i];
                hbar[j] = (xbar[i] * z[i] * e + lbar) * bounded_log_scale_derivative(s);
                j += 1;
            }
        }
        let ubar = self.net.backward(&self.mask.apply(z), &tape.net, &hbar, grad);
        self.mask.add_kept(&mut zbar, &ubar);
        zbar
    }
}
