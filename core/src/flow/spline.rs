//! Monotone rational-quadratic splines (Durkan et al. 2019, "Neural Spline Flows"), MATH.md §1:
//! K bins on [−B, B] with identity tails, as a fixed elementwise layer and as a coupling layer.
//!
//! Bin k spans [x_k, x_{k+1}] → [y_k, y_{k+1}] with knot derivatives δ_k, δ_{k+1}; with
//! w = x_{k+1} − x_k, h = y_{k+1} − y_k, s = h/w, ξ = (x − x_k)/w, τ = ξ(1 − ξ):
//!   y = y_k + h(sξ² + δ_k τ) / (s + (δ_k + δ_{k+1} − 2s)τ),
//!   dy/dx = s²(δ_{k+1}ξ² + 2sτ + δ_k(1 − ξ)²) / (s + (δ_k + δ_{k+1} − 2s)τ)².
//! Both denominators are > 0 for s, δ > 0, so the log-det is finite everywhere. The inverse
//! solves aξ² + bξ + c = 0 (a = h(s − δ_k) + Δκ, b = hδ_k − Δκ, c = −sΔ, Δ = y − y_k,
//! κ = δ_k + δ_{k+1} − 2s) by the cancellation-free root ξ = 2c / (−b − √(b² − 4ac)).
//! The end knots are (−B, −B) and (B, B) with derivative 1, so the identity tails join with a
//! continuous derivative; inputs outside [−B, B] (also ±∞) pass unchanged with log-det 0, a
//! NaN stays NaN in its own lane.
//!
//! Branch-free over lanes: the bin is found by a fixed loop over the K − 1 interior knots, each a
//! compare and a select of the bin's six numbers, never an index computed from lane values.
//! Cost per coordinate: ≈ 6K selects, 2 logarithms, 1 division chain (the inverse adds one
//! square root); the coupling adds one conditioner pass and, per transformed coordinate, a
//! softmax over K widths and K heights (2K exp) and K − 1 softplus for the derivatives.

use crate::dual::Dual;
use crate::error::{Error, all_finite};
use crate::flow::Bijector;
use crate::flow::coupling::BinaryMask;
use crate::flow::train::{TrainableForward, TrainableInverse};
use crate::nn::{Network, TrainableNetwork};
use crate::params::{GradSink, Params, check_len};
use crate::real::Real;

/// Smallest bin width as a fraction of 2B in the coupling (nflows' default): bins never
/// collapse, so ξ = (x − x_k)/w stays well conditioned in `f32`.
pub const SPLINE_MIN_BIN_WIDTH: f64 = 1e-3;
/// Smallest bin height as a fraction of 2B in the coupling (nflows' default).
pub const SPLINE_MIN_BIN_HEIGHT: f64 = 1e-3;
/// Smallest interior knot derivative in the coupling (nflows' default): keeps the log-det
/// ≥ ln(1e-3)-ish per bin instead of −∞.
pub const SPLINE_MIN_DERIVATIVE: f64 = 1e-3;

/// The knots of one spline over lane type `R`: right edges of the K bins. The left edge of bin
/// 0 is (−B, −B) with derivative 1, and `x[K−1] = y[K−1] = B`, `d[K−1] = 1`.
#[derive(Clone, Copy, Debug)]
struct Knots<R, const K: usize> {
    bound: R,
    x: [R; K],
    y: [R; K],
    d: [R; K],
}

/// One bin's numbers, as selected by the search.
struct Bin<R> {
    x0: R,
    y0: R,
    d0: R,
    x1: R,
    y1: R,
    d1: R,
}

impl<R: Real, const K: usize> Knots<R, K> {
    /// Knots from the conditioner's 3K − 1 unconstrained numbers (widths, heights, interior
    /// derivatives), as in Durkan et al.: softmax with minimum bin sizes, softplus with a minimum
    /// derivative. `raw` must have 3K − 1 entries (guaranteed by the callers' const checks).
    #[inline(always)]
    fn from_raw(bound: R, raw: &[R]) -> Self {
        let (w, rest) = raw.split_at(K);
        let (h, d) = rest.split_at(K);
        let x = cumulative_knots::<R, K>(bound, w, SPLINE_MIN_BIN_WIDTH);
        let y = cumulative_knots::<R, K>(bound, h, SPLINE_MIN_BIN_HEIGHT);
        let mut dk = [R::one(); K];
        for (o, &v) in dk.iter_mut().zip(d.iter()) {
            *o = R::from_f64(SPLINE_MIN_DERIVATIVE) + v.softplus();
        }
        Self { bound, x, y, d: dk }
    }

    /// The bin of `v` among the knots `edges` (x for the forward, y for the inverse).
    #[inline(always)]
    fn search(&self, v: R, inverse: bool) -> Bin<R> {
        let lo = -self.bound;
        let edges = if inverse { &self.y } else { &self.x };
        let mut bin =
            Bin { x0: lo, y0: lo, d0: R::one(), x1: self.x[0], y1: self.y[0], d1: self.d[0] };
        for k in 1..K {
            let m = v.ge(edges[k - 1]);
            bin.x0 = R::select(m, self.x[k - 1], bin.x0);
            bin.y0 = R::select(m, self.y[k - 1], bin.y0);
            bin.d0 = R::select(m, self.d[k - 1], bin.d0);
            bin.x1 = R::select(m, self.x[k], bin.x1);
            bin.y1 = R::select(m, self.y[k], bin.y1);
            bin.d1 = R::select(m, self.d[k], bin.d1);
        }
        bin
    }

    /// v clamped to [−B, B] (NaN stays NaN) and the mask of lanes inside.
    #[inline(always)]
    fn clamp(&self, v: R) -> (R, <R::Lane as crate::lane::Lane>::Mask) {
        let lo = -self.bound;
        let hi = self.bound;
        let inside = v.ge(lo) & v.le(hi);
        let c = R::select(v.lt(lo), lo, R::select(v.gt(hi), hi, v));
        (c, inside)
    }

    /// y = g(x) and log g'(x).
    #[inline(always)]
    fn forward(&self, x: R) -> (R, R) {
        let (xc, inside) = self.clamp(x);
        let b = self.search(xc, false);
        bin_forward(&b, xc, inside, x)
    }

    /// x = g⁻¹(y) and log (g⁻¹)'(y).
    #[inline(always)]
    fn inverse(&self, y: R) -> (R, R) {
        let (yc, inside) = self.clamp(y);
        let b = self.search(yc, true);
        bin_inverse(&b, yc, inside, y)
    }

    /// The backward of [`Knots::forward`] (or of [`Knots::inverse`]) at `v` with cotangents
    /// `obar` (of the output) and `lbar` (of the log-derivative): returns v̄ and the cotangents
    /// of the knots x, y, d.
    ///
    /// The bin's value and log-derivative depend on v and on the bin's six numbers only; their
    /// seven partials come from one evaluation of the same code on `Dual<R, 7>` lanes (the
    /// search itself is piecewise constant), and the six are then scattered to the knots of the
    /// bin the search selected, lane by lane.
    #[inline(always)]
    fn backward(&self, v: R, inverse: bool, obar: R, lbar: R) -> (R, [R; K], [R; K], [R; K]) {
        let (vc, inside) = self.clamp(v);
        let b = self.search(vc, inverse);
        let var = |val: R, i: usize| Dual::<R, 7>::variable(val, i);
        let vd = var(v, 0);
        let bound = Dual::constant(self.bound);
        let vcd = R7::select(vd.lt(-bound), -bound, R7::select(vd.gt(bound), bound, vd));
        let bd = Bin {
            x0: var(b.x0, 1),
            y0: var(b.y0, 2),
            d0: var(b.d0, 3),
            x1: var(b.x1, 4),
            y1: var(b.y1, 5),
            d1: var(b.d1, 6),
        };
        let (o, l) = if inverse {
            bin_inverse(&bd, vcd, inside, vd)
        } else {
            bin_forward(&bd, vcd, inside, vd)
        };
        let g = |i: usize| obar * o.eps[i] + lbar * l.eps[i];
        let (gx0, gy0, gd0, gx1, gy1, gd1) = (g(1), g(2), g(3), g(4), g(5), g(6));
        let edges = if inverse { &self.y } else { &self.x };
        let (mut xbar, mut ybar, mut dbar) = ([R::zero(); K], [R::zero(); K], [R::zero(); K]);
        let zero = R::zero();
        for k in 0..K {
            // The search selected bin k iff v ≥ edge k − 1 (always for k = 0) and v < edge k
            // (never for the last bin, which extends to B).
            let from = if k == 0 { vc.ge(vc) | !vc.ge(vc) } else { vc.ge(edges[k - 1]) };
            let sel = if k + 1 < K { from & !vc.ge(edges[k]) } else { from };
            xbar[k] += R::select(sel, gx1, zero);
            ybar[k] += R::select(sel, gy1, zero);
            dbar[k] += R::select(sel, gd1, zero);
            if k >= 1 {
                xbar[k - 1] += R::select(sel, gx0, zero);
                ybar[k - 1] += R::select(sel, gy0, zero);
                dbar[k - 1] += R::select(sel, gd0, zero);
            }
        }
        (g(0), xbar, ybar, dbar)
    }
}

/// The dual lane of [`Knots::backward`]: a value and the seven partials.
type R7<R> = Dual<R, 7>;

/// y = g(x) and log g'(x) in bin `b`, for x clamped to [−B, B] (`xc`, `inside`).
#[inline(always)]
fn bin_forward<R: Real>(
    b: &Bin<R>,
    xc: R,
    inside: <R::Lane as crate::lane::Lane>::Mask,
    x: R,
) -> (R, R) {
    let w = b.x1 - b.x0;
    let h = b.y1 - b.y0;
    let s = h / w;
    let xi = clamp01((xc - b.x0) / w);
    let (y, ld) = rq_eval(b, h, s, xi);
    (R::select(inside, y, x), tail_log_det(x, inside, ld))
}

/// x = g⁻¹(y) and log (g⁻¹)'(y) in bin `b`, for y clamped to [−B, B] (`yc`, `inside`).
#[inline(always)]
fn bin_inverse<R: Real>(
    b: &Bin<R>,
    yc: R,
    inside: <R::Lane as crate::lane::Lane>::Mask,
    y: R,
) -> (R, R) {
    let w = b.x1 - b.x0;
    let h = b.y1 - b.y0;
    let s = h / w;
    let delta = yc - b.y0;
    let kappa = b.d0 + b.d1 - R::from_f64(2.0) * s;
    let qa = h * (s - b.d0) + delta * kappa;
    let qb = h * b.d0 - delta * kappa;
    let qc = -s * delta;
    let disc = (qb * qb - R::from_f64(4.0) * qa * qc).max(R::zero());
    let den = -qb - disc.sqrt();
    // den < 0 for every finite lane (see the module docs); the select only keeps a
    // degenerate lane finite, NaN lanes are restored below by `inside`.
    let xi = clamp01(R::select(den.lt(R::zero()), R::from_f64(2.0) * qc / den, R::zero()));
    let x = b.x0 + xi * w;
    let (_, ld) = rq_eval(b, h, s, xi);
    (R::select(inside, x, y), tail_log_det(y, inside, -ld))
}

/// The backward of [`Knots::from_raw`]: from the cotangents of the knots x, y, d to those of
/// the 3K − 1 raw numbers, accumulated into `out`. The last knot of each array is the fixed
/// (B, B, 1) and receives nothing. For the cumulative softmax
/// x_k = −B + 2B Σ_{j≤k} (min + (1 − K·min)·p_j), p = softmax(raw): p̄_j = 2B(1 − K·min)·Σ_{k≥j} x̄_k
/// (k < K − 1), raw̄_j = p_j (p̄_j − Σᵢ pᵢ p̄ᵢ); for d_k = min + softplus(raw): raw̄ = d̄_k σ(raw).
#[inline(always)]
fn raw_backward<R: Real, const K: usize>(
    bound: R,
    raw: &[R],
    xbar: &[R; K],
    ybar: &[R; K],
    dbar: &[R; K],
    out: &mut [R],
) {
    let (w, rest) = raw.split_at(K.min(raw.len()));
    let (h, d) = rest.split_at(K.min(rest.len()));
    let (ow, orest) = out.split_at_mut(K.min(out.len()));
    let (oh, od) = orest.split_at_mut(K.min(orest.len()));
    softmax_knots_backward::<R, K>(bound, w, xbar, SPLINE_MIN_BIN_WIDTH, ow);
    softmax_knots_backward::<R, K>(bound, h, ybar, SPLINE_MIN_BIN_HEIGHT, oh);
    for ((o, &v), &db) in od.iter_mut().zip(d.iter()).zip(dbar.iter()) {
        *o += db * v.sigmoid();
    }
}

/// The backward of [`cumulative_knots`] (see [`raw_backward`]).
#[inline(always)]
fn softmax_knots_backward<R: Real, const K: usize>(
    bound: R,
    raw: &[R],
    kbar: &[R; K],
    min: f64,
    out: &mut [R],
) {
    let mut m = raw.first().copied().unwrap_or(R::zero());
    for &v in raw {
        m = m.max(v);
    }
    let mut p = [R::zero(); K];
    let mut sum = R::zero();
    for (o, &v) in p.iter_mut().zip(raw.iter()) {
        *o = (v - m).exp();
        sum += *o;
    }
    for o in p.iter_mut() {
        *o /= sum;
    }
    let c = R::from_f64(1.0 - K as f64 * min) * (bound + bound);
    // p̄_j = c·Σ_{j ≤ k < K−1} k̄_k, by a suffix sum.
    let mut pbar = [R::zero(); K];
    let mut acc = R::zero();
    for j in (0..K).rev() {
        if j + 1 < K {
            acc += kbar[j];
        }
        pbar[j] = c * acc;
    }
    let mut dotp = R::zero();
    for j in 0..K {
        dotp += p[j] * pbar[j];
    }
    for (o, j) in out.iter_mut().zip(0..K) {
        *o += p[j] * (pbar[j] - dotp);
    }
}

/// The log-det `ld` inside [−B, B], 0 on the identity tails (also ±∞), NaN for a NaN input.
#[inline(always)]
fn tail_log_det<R: Real>(v: R, inside: <R::Lane as crate::lane::Lane>::Mask, ld: R) -> R {
    let is_nan = !v.ge(v);
    R::select(is_nan, v, R::select(inside, ld, R::zero()))
}

/// ξ clamped to [0, 1] (NaN stays NaN).
#[inline(always)]
fn clamp01<R: Real>(xi: R) -> R {
    R::select(xi.lt(R::zero()), R::zero(), R::select(xi.gt(R::one()), R::one(), xi))
}

/// The rational-quadratic value and log-derivative at ξ in bin `b`.
#[inline(always)]
fn rq_eval<R: Real>(b: &Bin<R>, h: R, s: R, xi: R) -> (R, R) {
    let one_m = R::one() - xi;
    let tau = xi * one_m;
    let den = s + (b.d0 + b.d1 - R::from_f64(2.0) * s) * tau;
    let y = b.y0 + h * (s * xi * xi + b.d0 * tau) / den;
    let dnum = s * s * (b.d1 * xi * xi + R::from_f64(2.0) * s * tau + b.d0 * one_m * one_m);
    (y, dnum.ln() - R::from_f64(2.0) * den.ln())
}

/// Right edges −B + 2B·Σ_{j≤k} w_j of K bins with w = min + (1 − K·min)·softmax(raw); the last
/// edge is set to exactly B.
#[inline(always)]
fn cumulative_knots<R: Real, const K: usize>(bound: R, raw: &[R], min: f64) -> [R; K] {
    let mut m = raw.first().copied().unwrap_or(R::zero());
    for &v in raw {
        m = m.max(v);
    }
    let mut e = [R::zero(); K];
    let mut sum = R::zero();
    for (o, &v) in e.iter_mut().zip(raw.iter()) {
        *o = (v - m).exp();
        sum += *o;
    }
    let scale = R::from_f64(1.0 - K as f64 * min) / sum;
    let two_b = bound + bound;
    let mut acc = R::zero();
    let mut out = [bound; K];
    for (o, &v) in out.iter_mut().zip(e.iter()).take(K.saturating_sub(1)) {
        acc += R::from_f64(min) + v * scale;
        *o = -bound + two_b * acc;
    }
    out
}

/// Compile-time checks shared by the spline types.
const fn check_bins<const K: usize>() {
    assert!(K >= 1, "a spline needs at least one bin");
    assert!((K as f64) * SPLINE_MIN_BIN_WIDTH < 1.0, "K * SPLINE_MIN_BIN_WIDTH must be < 1");
}

/// One fixed monotone rational-quadratic spline with K bins on [−B, B] and `f32` knots.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RationalQuadraticSpline<const K: usize> {
    bound: f32,
    x: [f32; K],
    y: [f32; K],
    d: [f32; K],
}

impl<const K: usize> RationalQuadraticSpline<K> {
    /// A spline through the K + 1 knots (`xs[k]`, `ys[k]`) with derivatives `ds[k]`.
    ///
    /// Requirements (else [`Error::InvalidParameter`]; non-finite entries give
    /// [`Error::NonFinite`]): three slices of length K + 1; B = `xs[K]` > 0 with
    /// `xs[0] = ys[0] = −B` and `ys[K] = B` (identity tails); `xs` and `ys` strictly increasing
    /// (every bin width and height > 0); every derivative > 0, with `ds[0] = ds[K] = 1`.
    pub fn from_knots(xs: &[f32], ys: &[f32], ds: &[f32]) -> Result<Self, Error> {
        const { check_bins::<K>() };
        let invalid = |name, reason| Err(Error::InvalidParameter { name, reason });
        if xs.len() != K + 1 || ys.len() != K + 1 || ds.len() != K + 1 {
            return invalid("knots", "xs, ys and ds must each hold K + 1 values");
        }
        all_finite("xs", xs)?;
        all_finite("ys", ys)?;
        all_finite("ds", ds)?;
        let b = xs[K];
        // All entries are finite here, so `<=` is the negation of `>`.
        if b <= 0.0 || xs[0] != -b || ys[0] != -b || ys[K] != b {
            return invalid("knots", "end knots must be (−B, −B) and (B, B) with B > 0");
        }
        if xs.windows(2).any(|p| p[1] <= p[0]) {
            return invalid("xs", "knots must increase strictly (bin widths > 0)");
        }
        if ys.windows(2).any(|p| p[1] <= p[0]) {
            return invalid("ys", "knots must increase strictly (bin heights > 0)");
        }
        if ds.iter().any(|&d| d <= 0.0) {
            return invalid("ds", "derivatives must be > 0");
        }
        if ds[0] != 1.0 || ds[K] != 1.0 {
            return invalid("ds", "boundary derivatives must be 1 (identity tails)");
        }
        Ok(Self {
            bound: b,
            x: crate::lane::array_fn(|k| xs[k + 1]),
            y: crate::lane::array_fn(|k| ys[k + 1]),
            d: crate::lane::array_fn(|k| ds[k + 1]),
        })
    }

    /// B: the spline acts on [−B, B].
    pub fn bound(&self) -> f32 {
        self.bound
    }

    /// Knot `k` of the K + 1 knots as (x_k, y_k, δ_k), in the form [`Self::from_knots`] takes:
    /// knot 0 is (−B, −B, 1). `None` for k > K.
    pub fn knot(&self, k: usize) -> Option<(f32, f32, f32)> {
        match k.checked_sub(1) {
            None => Some((-self.bound, -self.bound, 1.0)),
            Some(j) => Some((*self.x.get(j)?, *self.y.get(j)?, *self.d.get(j)?)),
        }
    }

    #[inline(always)]
    fn knots<R: Real>(&self) -> Knots<R, K> {
        Knots {
            bound: R::from_f32(self.bound),
            x: self.x.map(R::from_f32),
            y: self.y.map(R::from_f32),
            d: self.d.map(R::from_f32),
        }
    }

    /// y = g(x) and log g'(x), lane-wise.
    #[inline]
    pub fn forward<R: Real>(&self, x: R) -> (R, R) {
        self.knots().forward(x)
    }

    /// x = g⁻¹(y) and log (g⁻¹)'(y), lane-wise.
    #[inline]
    pub fn inverse<R: Real>(&self, y: R) -> (R, R) {
        self.knots().inverse(y)
    }
}

/// An elementwise layer: coordinate i goes through its own fixed spline.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SplineElementwise<const D: usize, const K: usize> {
    splines: [RationalQuadraticSpline<K>; D],
}

impl<const D: usize, const K: usize> SplineElementwise<D, K> {
    /// The layer from one validated spline per coordinate.
    pub fn new(splines: [RationalQuadraticSpline<K>; D]) -> Self {
        Self { splines }
    }

    /// The splines, one per coordinate.
    pub fn splines(&self) -> &[RationalQuadraticSpline<K>; D] {
        &self.splines
    }
}

impl<const D: usize, const K: usize> Bijector<D> for SplineElementwise<D, K> {
    #[inline]
    fn forward<R: Real>(&self, z: [R; D]) -> ([R; D], R) {
        let mut x = z;
        let mut log_det = R::zero();
        for (xi, s) in x.iter_mut().zip(self.splines.iter()) {
            let (v, ld) = s.forward(*xi);
            *xi = v;
            log_det += ld;
        }
        (x, log_det)
    }

    #[inline]
    fn inverse<R: Real>(&self, x: [R; D]) -> Result<([R; D], R), Error> {
        let mut z = x;
        let mut log_det = R::zero();
        for (zi, s) in z.iter_mut().zip(self.splines.iter()) {
            let (v, ld) = s.inverse(*zi);
            *zi = v;
            log_det += ld;
        }
        Ok((z, log_det))
    }
}

/// A rational-quadratic spline coupling: the transformed coordinates go through splines whose
/// knots a conditioner computes from the kept ones, m⊙z (see [`BinaryMask`]).
///
/// `O = T·(3K − 1)` for `T` transformed coordinates: for the j-th transformed coordinate (in
/// increasing order) outputs `j(3K−1) ..` hold K raw widths, K raw heights and K − 1 raw
/// interior derivatives.
///
/// A conditioner width that is not a multiple of 3K − 1 does not compile (here K = 8 needs 23):
/// ```compile_fail
/// use flowscore::flow::coupling::BinaryMask;
/// use flowscore::flow::spline::SplineCoupling;
/// use flowscore::nn::{Activation, Mlp1};
/// let net = Mlp1::<2, 16, 22>::init(Activation::Tanh, 1);
/// let layer = SplineCoupling::<2, 8, 22, _>::new(BinaryMask::alternating(0).unwrap(), 3.0, net);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SplineCoupling<const D: usize, const K: usize, const O: usize, C> {
    mask: BinaryMask<D>,
    bound: f32,
    net: C,
}

impl<const D: usize, const K: usize, const O: usize, C: Network<D, O>> SplineCoupling<D, K, O, C> {
    const PER: usize = 3 * K - 1;

    /// A coupling on [−`bound`, `bound`]. A non-finite bound gives [`Error::NonFinite`], a
    /// bound ≤ 0 or a mask that does not transform exactly `O / (3K − 1)` coordinates
    /// [`Error::InvalidParameter`]; `O` a multiple of 3K − 1 with `1 ≤ O/(3K−1) < D` is checked
    /// at compile time.
    pub fn new(mask: BinaryMask<D>, bound: f32, net: C) -> Result<Self, Error> {
        const {
            check_bins::<K>();
            assert!(
                O.is_multiple_of(3 * K - 1) && O >= 3 * K - 1 && O < D * (3 * K - 1),
                "spline coupling: conditioner width O must be T(3K - 1) with 1 <= T < D"
            );
        };
        if !bound.is_finite() {
            return Err(Error::NonFinite("bound"));
        }
        if bound <= 0.0 {
            return Err(Error::InvalidParameter { name: "bound", reason: "must be > 0" });
        }
        mask.check_width(O, Self::PER)?;
        Ok(Self { mask, bound, net })
    }

    /// The mask.
    pub fn mask(&self) -> &BinaryMask<D> {
        &self.mask
    }

    /// B.
    pub fn bound(&self) -> f32 {
        self.bound
    }

    /// The conditioner.
    pub fn net(&self) -> &C {
        &self.net
    }

    #[inline(always)]
    fn apply<R: Real>(&self, v: [R; D], inverse: bool) -> ([R; D], R) {
        let raw = self.net.forward(&self.mask.apply(&v));
        let bound = R::from_f32(self.bound);
        let mut out = v;
        let mut log_det = R::zero();
        let mut chunks = raw.chunks_exact(Self::PER);
        for (o, &k) in out.iter_mut().zip(self.mask.keep().iter()) {
            if k {
                continue;
            }
            if let Some(params) = chunks.next() {
                let knots = Knots::<R, K>::from_raw(bound, params);
                let (val, ld) = if inverse { knots.inverse(*o) } else { knots.forward(*o) };
                *o = val;
                log_det += ld;
            }
        }
        (out, log_det)
    }
}

impl<const D: usize, const K: usize, const O: usize, C: Network<D, O>> Bijector<D>
    for SplineCoupling<D, K, O, C>
{
    #[inline]
    fn forward<R: Real>(&self, z: [R; D]) -> ([R; D], R) {
        self.apply(z, false)
    }

    #[inline]
    fn inverse<R: Real>(&self, x: [R; D]) -> Result<([R; D], R), Error> {
        Ok(self.apply(x, true))
    }
}

/// A fixed elementwise spline layer has no trainable parameters (`LEN = 0`).
impl<const D: usize, const K: usize> Params for SplineElementwise<D, K> {
    const LEN: usize = 0;

    fn write_params(&self, out: &mut [f32]) -> Result<(), Error> {
        check_len("spline params", out.len(), 0)
    }

    fn read_params(&mut self, src: &[f32]) -> Result<(), Error> {
        check_len("spline params", src.len(), 0)
    }
}

/// A spline coupling's parameters are its conditioner's: the unnormalised widths, heights and
/// derivatives are the conditioner's outputs (the mask and B are fixed).
impl<const D: usize, const K: usize, const O: usize, C: Params> Params
    for SplineCoupling<D, K, O, C>
{
    const LEN: usize = C::LEN;

    fn write_params(&self, out: &mut [f32]) -> Result<(), Error> {
        check_len("spline coupling params", out.len(), Self::LEN)?;
        self.net.write_params(out)
    }

    fn read_params(&mut self, src: &[f32]) -> Result<(), Error> {
        check_len("spline coupling params", src.len(), Self::LEN)?;
        self.net.read_params(src)
    }
}

/// What a spline coupling keeps for its backward: the conditioner's tape and its raw outputs.
#[derive(Clone, Copy, Debug)]
pub struct SplineCouplingTape<T, R, const O: usize> {
    net: T,
    raw: [R; O],
}

impl<const D: usize, const K: usize, const O: usize, C: TrainableNetwork<D, O>>
    SplineCoupling<D, K, O, C>
{
    /// [`SplineCoupling::apply`] keeping the tape (bit-identical values).
    #[inline(always)]
    fn apply_tape<R: Real>(
        &self,
        v: [R; D],
        inverse: bool,
    ) -> ([R; D], R, SplineCouplingTape<C::Tape<R>, R, O>) {
        let (raw, net) = self.net.forward_tape(&self.mask.apply(&v));
        let bound = R::from_f32(self.bound);
        let mut out = v;
        let mut log_det = R::zero();
        let mut chunks = raw.chunks_exact(Self::PER);
        for (o, &k) in out.iter_mut().zip(self.mask.keep().iter()) {
            if k {
                continue;
            }
            if let Some(params) = chunks.next() {
                let knots = Knots::<R, K>::from_raw(bound, params);
                let (val, ld) = if inverse { knots.inverse(*o) } else { knots.forward(*o) };
                *o = val;
                log_det += ld;
            }
        }
        (out, log_det, SplineCouplingTape { net, raw })
    }

    /// The backward of either direction: per transformed coordinate the spline's backward
    /// ([`Knots::backward`], [`raw_backward`]) gives the input cotangent and the raw outputs'
    /// cotangents; the conditioner's backward adds its input cotangent on the kept coordinates.
    #[inline(always)]
    fn backward_tape<R: Real, G: GradSink<R> + ?Sized>(
        &self,
        v: &[R; D],
        tape: &SplineCouplingTape<C::Tape<R>, R, O>,
        obar: &[R; D],
        lbar: R,
        inverse: bool,
        grad: &mut G,
    ) -> [R; D] {
        let bound = R::from_f32(self.bound);
        let mut hbar = [R::zero(); O];
        let mut vbar = *obar;
        let mut chunks = tape.raw.chunks_exact(Self::PER);
        let mut bars = hbar.chunks_exact_mut(Self::PER);
        for i in 0..D {
            if self.mask.keep()[i] {
                continue;
            }
            if let (Some(params), Some(out)) = (chunks.next(), bars.next()) {
                let knots = Knots::<R, K>::from_raw(bound, params);
                let (vb, xb, yb, db) = knots.backward(v[i], inverse, obar[i], lbar);
                vbar[i] = vb;
                raw_backward::<R, K>(bound, params, &xb, &yb, &db, out);
            }
        }
        let ubar = self.net.backward(&self.mask.apply(v), &tape.net, &hbar, grad);
        self.mask.add_kept(&mut vbar, &ubar);
        vbar
    }
}

/// Backward of the spline coupling's inverse (see `backward_tape`).
impl<const D: usize, const K: usize, const O: usize, C: TrainableNetwork<D, O>> TrainableInverse<D>
    for SplineCoupling<D, K, O, C>
{
    type InverseTape<R: Real> = SplineCouplingTape<C::Tape<R>, R, O>;

    #[inline]
    fn inverse_tape<R: Real>(&self, x: [R; D]) -> Result<([R; D], R, Self::InverseTape<R>), Error> {
        Ok(self.apply_tape(x, true))
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
        self.backward_tape(x, tape, zbar, lbar, true, grad)
    }
}

/// Backward of the spline coupling's forward (see `backward_tape`).
impl<const D: usize, const K: usize, const O: usize, C: TrainableNetwork<D, O>> TrainableForward<D>
    for SplineCoupling<D, K, O, C>
{
    type ForwardTape<R: Real> = SplineCouplingTape<C::Tape<R>, R, O>;

    #[inline]
    fn forward_tape<R: Real>(&self, z: [R; D]) -> ([R; D], R, Self::ForwardTape<R>) {
        self.apply_tape(z, false)
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
        self.backward_tape(z, tape, xbar, lbar, false, grad)
    }
}
