//! First-order optimisation over flat `f32` parameter slices: Adam and AdamW, global-norm
//! gradient clipping, linear learning-rate warm-up and an exponential moving average (EMA) of the
//! parameters, with score_sde's training conventions.
//!
//! ## Formulas
//! With gradient g, step count n = 1, 2, … and learning rate ηₙ:
//! - **Adam** (Kingma & Ba 2015): m ← β₁m + (1 − β₁)g, v ← β₂v + (1 − β₂)g²,
//!   m̂ = m/(1 − β₁ⁿ), v̂ = v/(1 − β₂ⁿ), θ ← θ − ηₙ m̂/(√v̂ + ε).
//!   Defaults [`DEFAULT_BETA1`] = 0.9, [`DEFAULT_BETA2`] = 0.999, [`DEFAULT_EPS`] = 1e-8.
//! - **AdamW** (Loshchilov & Hutter 2019): decoupled weight decay λ adds −ηₙλθ to the Adam step,
//!   θ ← θ(1 − ηₙλ) − ηₙ m̂/(√v̂ + ε), with θ the parameters before the step. λ = 0 is Adam.
//! - **Global-norm clipping** to c: ‖g‖ = √(Σᵢ gᵢ²); if ‖g‖ > c then g ← g·c/‖g‖
//!   (score_sde clips to c = 1, [`SCORE_SDE_GRAD_CLIP`]). Clipping happens before the moments
//!   are updated.
//! - **Linear warm-up** (score_sde): ηₙ = η·min(1, n/W) for W > 0 warm-up steps, ηₙ = η for W = 0.
//!   Here n counts from 1, so the first step already moves the parameters (score_sde passes its
//!   step counter before incrementing it, which makes its first rate 0).
//! - **EMA** with score_sde's warm-up of the decay: dₙ = min(r, (1 + n)/(10 + n)),
//!   θ̄ ← dₙθ̄ + (1 − dₙ)θ, where n counts the updates including the current one (n = 1 on the
//!   first update, as score_sde increments its counter before using it). It is evaluated as
//!   θ̄ ← θ̄ − (1 − dₙ)(θ̄ − θ), the same value in exact arithmetic, so that the average of a
//!   constant stays exactly that constant.
//!
//! ## State lives in the caller's slices
//! Nothing here allocates and nothing is sized at compile time: an optimiser holds only its
//! hyper-parameters and step count, and every call takes the parameters, the gradients and the
//! moment buffers as slices of one common length (`m` and `v` start as zeros; an EMA's average
//! usually starts as a copy of the parameters, see [`Ema::reset`]). One [`Adam`] therefore
//! serves any parameter count, and the buffers may live in a static, on the stack or in a
//! caller's heap. A checkpoint is the slices plus [`Adam::step_count`] / [`Ema::updates`], which
//! the `set_` methods restore.
//!
//! ## Reproducibility
//! Bias corrections 1 − βⁿ are computed in `f64` with [`libm::pow`] and rounded to `f32` once per
//! step; the global norm is an `f64` sum of squares in index order. The per-element update is
//! `f32` arithmetic in a fixed order, with no fused multiply-add and a correctly rounded square
//! root: m ← β₁·m + (1 − β₁)·g, v ← β₂·v + (1 − β₂)·(g·g), u = (m/b₁)/(√(v/b₂) + ε),
//! θ ← θ − ((ηₙλ)·θ + ηₙ·u) with b₁, b₂ the rounded bias corrections. The same inputs therefore
//! give the same bits on every target.
//!
//! ## Errors, not panics
//! Constructors validate their hyper-parameters. A slice whose length differs from
//! `params.len()` is [`Error::InvalidParameter`]. A step either applies in full or changes
//! nothing: a NaN or infinite gradient (equivalently, a non-finite global norm) is
//! [`Error::NonFinite`]`("grads")`, and an update that would leave a non-finite parameter or
//! moment (e.g. a finite gradient whose square overflows `f32`) is [`Error::NonFiniteState`]; in
//! both cases the parameters, the moments and the step count are left as they were. Every loop
//! runs once over the given slices.

use crate::error::Error;

/// Adam's default exponential decay rate β₁ of the first moment.
pub const DEFAULT_BETA1: f32 = 0.9;
/// Adam's default exponential decay rate β₂ of the second moment.
pub const DEFAULT_BETA2: f32 = 0.999;
/// Adam's default ε added to √v̂.
pub const DEFAULT_EPS: f32 = 1e-8;
/// The global gradient norm score_sde clips to.
pub const SCORE_SDE_GRAD_CLIP: f32 = 1.0;

const LEN_REASON: &str = "length must equal params.len()";

fn check_len(name: &'static str, len: usize, want: usize) -> Result<(), Error> {
    if len == want { Ok(()) } else { Err(Error::InvalidParameter { name, reason: LEN_REASON }) }
}

fn check_pos(name: &'static str, x: f32) -> Result<f32, Error> {
    if !x.is_finite() {
        return Err(Error::NonFinite(name));
    }
    if x <= 0.0 {
        return Err(Error::InvalidParameter { name, reason: "must be > 0" });
    }
    Ok(x)
}

fn check_unit_interval(name: &'static str, x: f32) -> Result<f32, Error> {
    if !x.is_finite() {
        return Err(Error::NonFinite(name));
    }
    if !(0.0..1.0).contains(&x) {
        return Err(Error::InvalidParameter { name, reason: "must lie in [0, 1)" });
    }
    Ok(x)
}

// ---------------------------------------------------------------------------------------------
// Gradient clipping
// ---------------------------------------------------------------------------------------------

/// The global (Euclidean) norm √(Σᵢ gᵢ²) of a gradient, summed in `f64` in index order.
///
/// The sum of squares of finite `f32` values cannot overflow `f64`, so the result is finite
/// exactly when every entry is finite; it is NaN or +∞ otherwise. An empty slice has norm 0.
pub fn global_norm(grads: &[f32]) -> f64 {
    let mut sum = 0.0f64;
    for &g in grads {
        let g = g as f64;
        sum += g * g;
    }
    libm::sqrt(sum)
}

/// What a clipping pass found.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ClipReport {
    /// The global norm of the gradient before clipping.
    pub norm: f64,
    /// Whether the gradient was rescaled (its norm exceeded the maximum).
    pub clipped: bool,
}

fn check_max_norm(max_norm: f32) -> Result<f32, Error> {
    check_pos("max_norm", max_norm)
}

/// The factor c/‖g‖ when ‖g‖ > c, else `None` (`norm` is finite).
#[inline]
fn clip_scale(norm: f64, max_norm: f32) -> Option<f64> {
    let c = max_norm as f64;
    if norm > c { Some(c / norm) } else { None }
}

/// One rescaled gradient entry: the product in `f64`, rounded to `f32` once.
#[inline(always)]
fn scale_grad(g: f32, scale: f64) -> f32 {
    (g as f64 * scale) as f32
}

/// Clip `grads` in place to global norm at most `max_norm`: if ‖g‖ > c, every entry is
/// multiplied by c/‖g‖ (the product taken in `f64` and rounded once), otherwise the gradient
/// is left exactly as it was.
///
/// Returns the norm before clipping. `max_norm` must be finite and > 0; a NaN or infinite
/// entry gives [`Error::NonFinite`]`("grads")` with `grads` unchanged.
pub fn clip_grad_norm(grads: &mut [f32], max_norm: f32) -> Result<ClipReport, Error> {
    let max_norm = check_max_norm(max_norm)?;
    let norm = global_norm(grads);
    if !norm.is_finite() {
        return Err(Error::NonFinite("grads"));
    }
    let scale = clip_scale(norm, max_norm);
    if let Some(s) = scale {
        for g in grads.iter_mut() {
            *g = scale_grad(*g, s);
        }
    }
    Ok(ClipReport { norm, clipped: scale.is_some() })
}

// ---------------------------------------------------------------------------------------------
// Learning-rate warm-up
// ---------------------------------------------------------------------------------------------

/// Linear learning-rate warm-up (score_sde's rule): ηₙ = η·min(1, n/W), n = 1, 2, …
///
/// With W = 0 the rate is constant. The ratio is formed in `f64` and the product rounded to
/// `f32` once; from step W on the rate is exactly η.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Warmup {
    lr: f32,
    steps: u64,
}

impl Warmup {
    /// A schedule that ramps linearly to `lr` over `warmup_steps` steps (0: no warm-up).
    /// `lr` must be finite and > 0.
    pub fn new(lr: f32, warmup_steps: u64) -> Result<Self, Error> {
        let lr = check_pos("lr", lr)?;
        Ok(Self { lr, steps: warmup_steps })
    }

    /// A constant rate `lr` (no warm-up).
    pub fn constant(lr: f32) -> Result<Self, Error> {
        Self::new(lr, 0)
    }

    /// The base rate η reached at the end of the warm-up.
    pub fn lr(&self) -> f32 {
        self.lr
    }

    /// The number of warm-up steps W (0: none).
    pub fn warmup_steps(&self) -> u64 {
        self.steps
    }

    /// The rate ηₙ of step `n` (counting from 1): η·min(1, n/W). Step 0 gives 0 when W > 0.
    pub fn lr_at(&self, n: u64) -> f32 {
        if n >= self.steps {
            return self.lr;
        }
        (self.lr as f64 * (n as f64 / self.steps as f64)) as f32
    }
}

// ---------------------------------------------------------------------------------------------
// Adam / AdamW
// ---------------------------------------------------------------------------------------------

/// Hyper-parameters of [`Adam`]. Build one with [`AdamConfig::adam`] or [`AdamConfig::adamw`]
/// and adjust fields with struct-update syntax; [`Adam::new`] validates it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamConfig {
    /// The base learning rate η (finite, > 0).
    pub lr: f32,
    /// Linear warm-up steps W ([`Warmup`]); 0 for a constant rate.
    pub warmup_steps: u64,
    /// First-moment decay β₁ ∈ [0, 1).
    pub beta1: f32,
    /// Second-moment decay β₂ ∈ [0, 1).
    pub beta2: f32,
    /// ε > 0 added to √v̂.
    pub eps: f32,
    /// Decoupled weight decay λ ≥ 0 (AdamW); 0 gives plain Adam. η·λ must be < 1.
    pub weight_decay: f32,
    /// Clip the gradient to this global norm before the update (finite, > 0), or `None`.
    pub grad_clip: Option<f32>,
}

impl AdamConfig {
    /// Adam with rate `lr` and the default β₁, β₂, ε; no warm-up, weight decay or clipping.
    pub const fn adam(lr: f32) -> Self {
        Self {
            lr,
            warmup_steps: 0,
            beta1: DEFAULT_BETA1,
            beta2: DEFAULT_BETA2,
            eps: DEFAULT_EPS,
            weight_decay: 0.0,
            grad_clip: None,
        }
    }

    /// AdamW: [`AdamConfig::adam`] with decoupled weight decay λ = `weight_decay`.
    pub const fn adamw(lr: f32, weight_decay: f32) -> Self {
        Self { weight_decay, ..Self::adam(lr) }
    }
}

/// What one optimiser step did.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepReport {
    /// The step number n of this update (1 for the first).
    pub step: u64,
    /// The learning rate ηₙ used.
    pub lr: f32,
    /// The global gradient norm before clipping.
    pub grad_norm: f64,
    /// Whether the gradient was clipped.
    pub clipped: bool,
}

/// Adam, or AdamW when the weight decay is non-zero, over flat `f32` parameters (see the
/// [module docs](self) for the update).
///
/// The optimiser holds its hyper-parameters and the step count n; the moments m and v are
/// caller-provided slices of the parameters' length, zero-initialised before the first step.
///
/// ```
/// use flowscore::optim::{Adam, AdamConfig};
///
/// let mut adam = Adam::new(AdamConfig { grad_clip: Some(1.0), ..AdamConfig::adam(1e-2) })?;
/// let (mut theta, mut m, mut v) = ([0.0f32; 2], [0.0f32; 2], [0.0f32; 2]);
/// for _ in 0..2000 {
///     // Gradient of (θ₀ − 1)² + (θ₁ + 2)².
///     let g = [2.0 * (theta[0] - 1.0), 2.0 * (theta[1] + 2.0)];
///     adam.step(&mut theta, &g, &mut m, &mut v)?;
/// }
/// assert!((theta[0] - 1.0).abs() < 1e-3 && (theta[1] + 2.0).abs() < 1e-3);
/// # Ok::<(), flowscore::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Adam {
    schedule: Warmup,
    beta1: f32,
    beta2: f32,
    eps: f32,
    weight_decay: f32,
    grad_clip: Option<f32>,
    step: u64,
}

/// The per-step constants of the element update.
struct Coefficients {
    lr: f32,
    beta1: f32,
    one_minus_beta1: f32,
    beta2: f32,
    one_minus_beta2: f32,
    /// 1 − β₁ⁿ, from `f64`.
    bias1: f32,
    /// 1 − β₂ⁿ, from `f64`.
    bias2: f32,
    eps: f32,
    /// ηₙλ.
    decay: f32,
    /// c/‖g‖ when clipping applies.
    clip: Option<f64>,
}

impl Coefficients {
    /// The new (θ, m, v) of one element; the same sequence of `f32` operations on every call.
    #[inline(always)]
    fn update(&self, p: f32, g: f32, m: f32, v: f32) -> (f32, f32, f32) {
        let g = match self.clip {
            Some(s) => scale_grad(g, s),
            None => g,
        };
        let m = self.beta1 * m + self.one_minus_beta1 * g;
        let v = self.beta2 * v + self.one_minus_beta2 * (g * g);
        let m_hat = m / self.bias1;
        let v_hat = v / self.bias2;
        let step = self.lr * (m_hat / (libm::sqrtf(v_hat) + self.eps));
        let p = p - (self.decay * p + step);
        (p, m, v)
    }
}

impl Adam {
    /// An optimiser at step count 0 with validated hyper-parameters: η finite and > 0,
    /// β₁, β₂ ∈ [0, 1), ε finite and > 0, λ finite and ≥ 0 with η·λ < 1, the clip norm (if
    /// any) finite and > 0.
    pub fn new(config: AdamConfig) -> Result<Self, Error> {
        let schedule = Warmup::new(config.lr, config.warmup_steps)?;
        let beta1 = check_unit_interval("beta1", config.beta1)?;
        let beta2 = check_unit_interval("beta2", config.beta2)?;
        let eps = check_pos("eps", config.eps)?;
        let weight_decay = config.weight_decay;
        if !weight_decay.is_finite() {
            return Err(Error::NonFinite("weight_decay"));
        }
        if weight_decay < 0.0 {
            return Err(Error::InvalidParameter { name: "weight_decay", reason: "must be >= 0" });
        }
        if 1.0 - config.lr * weight_decay <= 0.0 {
            return Err(Error::InvalidParameter {
                name: "weight_decay",
                reason: "lr * weight_decay must be < 1",
            });
        }
        let grad_clip = match config.grad_clip {
            Some(c) => Some(check_pos("grad_clip", c)?),
            None => None,
        };
        Ok(Self { schedule, beta1, beta2, eps, weight_decay, grad_clip, step: 0 })
    }

    /// The hyper-parameters this optimiser was built from.
    pub fn config(&self) -> AdamConfig {
        AdamConfig {
            lr: self.schedule.lr(),
            warmup_steps: self.schedule.warmup_steps(),
            beta1: self.beta1,
            beta2: self.beta2,
            eps: self.eps,
            weight_decay: self.weight_decay,
            grad_clip: self.grad_clip,
        }
    }

    /// The learning-rate schedule.
    pub fn schedule(&self) -> Warmup {
        self.schedule
    }

    /// The number of steps applied so far (the next step is number `step_count() + 1`).
    pub fn step_count(&self) -> u64 {
        self.step
    }

    /// Set the step count, e.g. when resuming from a checkpoint together with its m and v.
    pub fn set_step_count(&mut self, n: u64) {
        self.step = n;
    }

    /// Apply one step to `params` given `grads`, updating the moments `m` and `v` in place.
    ///
    /// All four slices must have the same length. If the configuration clips, the gradient is
    /// rescaled on the fly (`grads` itself is not modified), bit for bit as
    /// [`clip_grad_norm`] would. On any error nothing is modified: see the
    /// [module docs](self#errors-not-panics).
    pub fn step(
        &mut self,
        params: &mut [f32],
        grads: &[f32],
        m: &mut [f32],
        v: &mut [f32],
    ) -> Result<StepReport, Error> {
        let len = params.len();
        check_len("grads", grads.len(), len)?;
        check_len("m", m.len(), len)?;
        check_len("v", v.len(), len)?;
        let n = self.step.checked_add(1).ok_or(Error::InvalidParameter {
            name: "step_count",
            reason: "the step count would overflow u64",
        })?;
        let grad_norm = global_norm(grads);
        if !grad_norm.is_finite() {
            return Err(Error::NonFinite("grads"));
        }
        let clip = self.grad_clip.and_then(|c| clip_scale(grad_norm, c));
        let k = self.coefficients(n, clip);

        // Pass 1: compute every new value without writing, so that a failure changes nothing.
        for (((&p, &g), &mi), &vi) in params.iter().zip(grads).zip(m.iter()).zip(v.iter()) {
            let (p1, m1, v1) = k.update(p, g, mi, vi);
            if !(p1.is_finite() && m1.is_finite() && v1.is_finite()) {
                return Err(if !p.is_finite() {
                    Error::NonFinite("params")
                } else if !(mi.is_finite() && vi.is_finite()) {
                    Error::NonFinite("moments")
                } else {
                    Error::NonFiniteState
                });
            }
        }
        // Pass 2: the same computation, written back.
        for (((p, &g), mi), vi) in params.iter_mut().zip(grads).zip(m.iter_mut()).zip(v.iter_mut())
        {
            (*p, *mi, *vi) = k.update(*p, g, *mi, *vi);
        }
        self.step = n;
        Ok(StepReport { step: n, lr: k.lr, grad_norm, clipped: clip.is_some() })
    }

    fn coefficients(&self, n: u64, clip: Option<f64>) -> Coefficients {
        let lr = self.schedule.lr_at(n);
        let bias = |beta: f32| (1.0 - libm::pow(beta as f64, n as f64)) as f32;
        Coefficients {
            lr,
            beta1: self.beta1,
            one_minus_beta1: 1.0 - self.beta1,
            beta2: self.beta2,
            one_minus_beta2: 1.0 - self.beta2,
            bias1: bias(self.beta1),
            bias2: bias(self.beta2),
            eps: self.eps,
            decay: lr * self.weight_decay,
            clip,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Exponential moving average
// ---------------------------------------------------------------------------------------------

/// An exponential moving average θ̄ of the parameters with score_sde's decay warm-up,
/// dₙ = min(r, (1 + n)/(10 + n)) on the n-th update (n = 1 first).
///
/// The average is a caller-provided slice of the parameters' length; [`Ema::reset`] starts it
/// as a copy of the parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Ema {
    rate: f32,
    updates: u64,
}

impl Ema {
    /// An EMA with maximum decay `rate` r ∈ [0, 1] and no updates yet.
    pub fn new(rate: f32) -> Result<Self, Error> {
        if !rate.is_finite() {
            return Err(Error::NonFinite("rate"));
        }
        if !(0.0..=1.0).contains(&rate) {
            return Err(Error::InvalidParameter { name: "rate", reason: "must lie in [0, 1]" });
        }
        Ok(Self { rate, updates: 0 })
    }

    /// The maximum decay r.
    pub fn rate(&self) -> f32 {
        self.rate
    }

    /// The number of updates applied so far.
    pub fn updates(&self) -> u64 {
        self.updates
    }

    /// Set the update count, e.g. when resuming from a checkpoint together with the average.
    pub fn set_updates(&mut self, n: u64) {
        self.updates = n;
    }

    /// The decay dₙ = min(r, (1 + n)/(10 + n)) of the n-th update, in `f64`.
    pub fn decay_at(&self, n: u64) -> f64 {
        let n = n as f64;
        let warm = (1.0 + n) / (10.0 + n);
        let rate = self.rate as f64;
        if warm < rate { warm } else { rate }
    }

    /// Copy `params` into `average` and set the update count to 0.
    pub fn reset(&mut self, average: &mut [f32], params: &[f32]) -> Result<(), Error> {
        check_len("average", average.len(), params.len())?;
        average.copy_from_slice(params);
        self.updates = 0;
        Ok(())
    }

    /// Fold `params` into `average`: with n = [`updates`](Ema::updates)` + 1` and d = dₙ,
    /// θ̄ ← θ̄ − (1 − d)(θ̄ − θ), where 1 − d is rounded to `f32` once. Returns d.
    ///
    /// The slices must have the same length. A non-finite parameter gives
    /// [`Error::NonFinite`]`("params")`, a non-finite average entry `NonFinite("average")`, and
    /// a result that would overflow [`Error::NonFiniteState`]; on any error nothing changes.
    pub fn update(&mut self, average: &mut [f32], params: &[f32]) -> Result<f64, Error> {
        check_len("average", average.len(), params.len())?;
        let n = self.updates.checked_add(1).ok_or(Error::InvalidParameter {
            name: "updates",
            reason: "the update count would overflow u64",
        })?;
        let d = self.decay_at(n);
        let one_minus = (1.0 - d) as f32;
        let blend = |a: f32, p: f32| a - one_minus * (a - p);
        for (&a, &p) in average.iter().zip(params) {
            if !blend(a, p).is_finite() {
                return Err(if !p.is_finite() {
                    Error::NonFinite("params")
                } else if !a.is_finite() {
                    Error::NonFinite("average")
                } else {
                    Error::NonFiniteState
                });
            }
        }
        for (a, &p) in average.iter_mut().zip(params) {
            *a = blend(*a, p);
        }
        self.updates = n;
        Ok(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The distance from `got` to `want` in units of the `f32` spacing at `want`.
    fn ulps(got: f32, want: f64) -> f64 {
        let w = want as f32;
        let spacing = (f32::from_bits(w.abs().to_bits() + 1) - w.abs()) as f64;
        libm::fabs(got as f64 - want) / spacing
    }

    fn bits(xs: &[f32]) -> [u32; 8] {
        let mut out = [0u32; 8];
        for (o, x) in out.iter_mut().zip(xs) {
            *o = x.to_bits();
        }
        out
    }

    // ---- Adam ------------------------------------------------------------------------------

    #[test]
    fn first_steps_match_the_closed_form_for_a_constant_gradient() {
        // With a constant gradient, m̂ = g and v̂ = g² at every step (exactly, before rounding),
        // so each step moves θ by −η·sign(g)·|g|/(|g| + ε).
        let lr = 1e-3f32;
        let g = [1.0f32, -2.5, 1e-3, -4e-8, 1e-7, 3e4, -1e-20, 0.0];
        let mut adam = Adam::new(AdamConfig::adam(lr)).unwrap();
        let (mut p, mut m, mut v) = ([0.0f32; 8], [0.0f32; 8], [0.0f32; 8]);
        for n in 1..=10u32 {
            let r = adam.step(&mut p, &g, &mut m, &mut v).unwrap();
            assert_eq!(r.step, n as u64);
            assert_eq!(r.lr, lr);
            for (&pi, &gi) in p.iter().zip(&g) {
                let a = libm::fabs(gi as f64);
                let one =
                    -(lr as f64) * libm::copysign(1.0, gi as f64) * a / (a + DEFAULT_EPS as f64);
                let want = n as f64 * one;
                if gi == 0.0 {
                    assert_eq!(pi, 0.0);
                } else {
                    // Step 1 to a couple of ulps; later steps accumulate one rounding each.
                    let tol = if n == 1 { 2.0 } else { 4.0 * n as f64 };
                    assert!(ulps(pi, want) <= tol, "n={n} g={gi}: {pi:e} vs {want:e}");
                }
            }
        }
        // ε matters where |g| is comparable to it: |g| = 4e-8 moves by 0.8 η, |g| = 1e-20 by
        // ~1e-12 η, not by η.
        assert!(libm::fabs(p[3] as f64 - 10.0 * 0.8e-3) < 1e-9);
        assert!(libm::fabs(p[6] as f64 - 1e-14) < 1e-19);
    }

    /// An independent `f64` Adam(W) on the same hyper-parameters.
    struct Reference {
        p: [f64; 5],
        m: [f64; 5],
        v: [f64; 5],
        n: i32,
    }

    impl Reference {
        #[allow(clippy::needless_range_loop)] // index loops mirror the formulas
        fn step(&mut self, g: &[f32; 5], lr: f64, wd: f64) {
            let (b1, b2, eps) = (DEFAULT_BETA1 as f64, DEFAULT_BETA2 as f64, DEFAULT_EPS as f64);
            self.n += 1;
            let c1 = 1.0 - libm::pow(b1, self.n as f64);
            let c2 = 1.0 - libm::pow(b2, self.n as f64);
            for i in 0..5 {
                let gi = g[i] as f64;
                self.m[i] = b1 * self.m[i] + (1.0 - b1) * gi;
                self.v[i] = b2 * self.v[i] + (1.0 - b2) * gi * gi;
                let mh = self.m[i] / c1;
                let vh = self.v[i] / c2;
                self.p[i] = self.p[i] - lr * wd * self.p[i] - lr * mh / (libm::sqrt(vh) + eps);
            }
        }
    }

    fn varying_gradient(k: u32) -> [f32; 5] {
        let t = k as f64;
        crate::lane::array_fn(|i| {
            let scale = [1.0, 0.01, 30.0, 1e-5, 2.0][i];
            (scale * libm::sin(0.37 * t + 1.3 * i as f64) + 0.2 * scale) as f32
        })
    }

    fn check_against_reference(wd: f32) {
        let lr = 1e-2f32;
        let p0 = [0.5f32, -1.25, 3.0, 0.75, -2.0];
        let mut adam = Adam::new(AdamConfig::adamw(lr, wd)).unwrap();
        let (mut p, mut m, mut v) = (p0, [0.0f32; 5], [0.0f32; 5]);
        let mut r = Reference { p: p0.map(|x| x as f64), m: [0.0; 5], v: [0.0; 5], n: 0 };
        // Each step rounds θ once (≤ ½ ulp, σ ≈ 0.29 ulp), so after 100 steps θ is a random walk
        // of σ ≈ 3 ulps around the exact trajectory; the moments add a smaller drift. Measure in
        // ulps at the trajectory's largest magnitude, so a path through 0 is not penalised.
        let mut scale = p0.map(libm::fabsf);
        let mut worst = 0.0f64;
        for k in 1..=100 {
            let g = varying_gradient(k);
            adam.step(&mut p, &g, &mut m, &mut v).unwrap();
            r.step(&g, lr as f64, wd as f64);
            for i in 0..5 {
                scale[i] = scale[i].max(libm::fabsf(p[i]));
                let spacing = (f32::from_bits(scale[i].to_bits() + 1) - scale[i]) as f64;
                worst = worst.max(libm::fabs(p[i] as f64 - r.p[i]) / spacing);
                let rel = |a: f32, b: f64| libm::fabs(a as f64 - b) / libm::fabs(b);
                assert!(rel(v[i], r.v[i]) < 1e-5, "v[{i}] at step {k}");
                assert!(libm::fabs(m[i] as f64 - r.m[i]) < 1e-5 * libm::sqrt(r.v[i]) + 1e-30);
            }
        }
        assert!(worst <= 12.0, "worst deviation {worst} ulps");
        // The parameters did move far (tens of thousands of ulps), so the bound is tight.
        assert!(libm::fabs(p[0] as f64 - 0.5) > 0.05);
    }

    #[test]
    fn adam_matches_an_f64_reference_for_100_steps() {
        check_against_reference(0.0);
    }

    #[test]
    fn adamw_matches_an_f64_reference_for_100_steps() {
        check_against_reference(0.05);
    }

    #[test]
    fn adam_minimises_a_convex_quadratic() {
        // f(θ) = Σ aᵢ(θᵢ − cᵢ)², ∇f = 2aᵢ(θᵢ − cᵢ).
        let a = [0.5f32, 1.0, 2.0, 4.0, 10.0, 0.1];
        let c = [1.0f32, -2.0, 0.5, 3.0, -0.25, 0.0];
        let mut adam = Adam::new(AdamConfig::adam(1e-2)).unwrap();
        let (mut p, mut m, mut v) = ([0.0f32; 6], [0.0f32; 6], [0.0f32; 6]);
        p[5] = 2.0;
        for _ in 0..20_000 {
            let g: [f32; 6] = crate::lane::array_fn(|i| 2.0 * a[i] * (p[i] - c[i]));
            adam.step(&mut p, &g, &mut m, &mut v).unwrap();
        }
        for i in 0..6 {
            assert!((p[i] - c[i]).abs() < 1e-4, "θ[{i}] = {} vs {}", p[i], c[i]);
        }
    }

    #[test]
    fn adamw_with_zero_gradient_shrinks_by_one_minus_lr_lambda() {
        let (lr, wd) = (1e-2f32, 0.1f32);
        let mut adam = Adam::new(AdamConfig::adamw(lr, wd)).unwrap();
        let p0 = [1.0f32, -3.5, 0.25, 1e3, -7e-5, 0.0];
        let (mut p, mut m, mut v) = (p0, [0.0f32; 6], [0.0f32; 6]);
        let g = [0.0f32; 6];
        let factor = 1.0 - lr as f64 * wd as f64;
        for k in 1..=200 {
            let before = p;
            adam.step(&mut p, &g, &mut m, &mut v).unwrap();
            for i in 0..6 {
                // One rounding per step relative to θ·(1 − ηλ) ...
                assert!(ulps(p[i], before[i] as f64 * factor) <= 1.0);
                // ... and the trajectory is the geometric sequence θ₀(1 − ηλ)ᵏ.
                let want = p0[i] as f64 * libm::pow(factor, k as f64);
                assert!(libm::fabs(p[i] as f64 - want) <= 1e-7 * k as f64 * libm::fabs(want));
            }
        }
        assert_eq!(m, [0.0; 6]);
        assert_eq!(v, [0.0; 6]);
        assert!((p[0] as f64 - libm::pow(0.999, 200.0)).abs() < 1e-5);
        // Plain Adam leaves θ bit for bit where it was.
        let mut adam = Adam::new(AdamConfig::adam(lr)).unwrap();
        let mut q = p0;
        for _ in 0..10 {
            adam.step(&mut q, &g, &mut m, &mut v).unwrap();
        }
        assert_eq!(bits(&q), bits(&p0));
    }

    #[test]
    fn warm_up_scales_the_rate_linearly_then_holds() {
        let lr = 2e-4f32;
        let w = Warmup::new(lr, 5000).unwrap();
        assert_eq!(w.lr_at(1), (lr as f64 / 5000.0) as f32);
        assert_eq!(w.lr_at(2500), lr / 2.0);
        assert_eq!(w.lr_at(5000), lr);
        assert_eq!(w.lr_at(10_000), lr);
        assert_eq!(w.lr_at(u64::MAX), lr);
        assert_eq!(w.lr_at(0), 0.0);
        let c = Warmup::constant(lr).unwrap();
        assert_eq!((c.lr_at(1), c.lr_at(7)), (lr, lr));

        // The optimiser uses the schedule: its first step moves by η/W, not η.
        let config = AdamConfig { warmup_steps: 4, ..AdamConfig::adam(1e-2) };
        let mut adam = Adam::new(config).unwrap();
        let (mut p, mut m, mut v) = ([0.0f32], [0.0f32], [0.0f32]);
        let mut rates = [0.0f32; 6];
        for r in rates.iter_mut() {
            *r = adam.step(&mut p, &[1.0], &mut m, &mut v).unwrap().lr;
        }
        assert_eq!(rates, [0.0025, 0.005, 0.0075, 0.01, 0.01, 0.01]);
        // Constant gradient: each step moves by ηₙ (ε negligible), so θ = −Σ ηₙ.
        assert!((p[0] + 0.045).abs() < 1e-7);
    }

    // ---- Clipping --------------------------------------------------------------------------

    #[test]
    fn clipping_rescales_to_the_maximum_norm_in_the_same_direction() {
        let orig = [3.0f32, -4.0, 12.0, 0.0];
        let mut g = orig;
        let r = clip_grad_norm(&mut g, 1.0).unwrap();
        assert_eq!(r, ClipReport { norm: 13.0, clipped: true });
        assert!(libm::fabs(global_norm(&g) - 1.0) < 1e-7);
        for (&gi, &oi) in g.iter().zip(&orig) {
            assert!(ulps(gi, oi as f64 / 13.0) <= 0.5);
        }

        // The norm is taken in f64: squares that overflow f32 are fine.
        let mut big = [1e30f32, -1e30, 1e30, 1e30];
        let r = clip_grad_norm(&mut big, 1.0).unwrap();
        assert_eq!(r.norm, 2e30f32 as f64);
        assert_eq!(big, [0.5, -0.5, 0.5, 0.5]);
    }

    #[test]
    fn clipping_below_the_maximum_is_the_identity() {
        let orig = [0.3f32, -0.4, 1e-7, -0.0];
        for max_norm in [0.6f32, 1.0, 1e30] {
            let mut g = orig;
            let r = clip_grad_norm(&mut g, max_norm).unwrap();
            assert!(!r.clipped);
            assert_eq!(bits(&g), bits(&orig));
        }
        // Norm exactly at the maximum: not clipped.
        let mut g = [3.0f32, 4.0];
        assert!(!clip_grad_norm(&mut g, 5.0).unwrap().clipped);
        assert_eq!(g, [3.0, 4.0]);
        let mut empty: [f32; 0] = [];
        assert_eq!(clip_grad_norm(&mut empty, 1.0).unwrap().norm, 0.0);
    }

    #[test]
    fn clipping_inside_the_step_equals_clipping_first() {
        let config = AdamConfig { grad_clip: Some(1.0), ..AdamConfig::adamw(1e-2, 0.01) };
        let mut with_clip = Adam::new(config).unwrap();
        let mut without = Adam::new(AdamConfig { grad_clip: None, ..config }).unwrap();
        let (mut p1, mut m1, mut v1) = ([0.5f32, -1.0, 2.0], [0.0f32; 3], [0.0f32; 3]);
        let (mut p2, mut m2, mut v2) = (p1, m1, v1);
        for k in 0..50 {
            let g = [libm::sinf(k as f32) * 3.0, 0.2, -(k as f32) * 0.1];
            let r1 = with_clip.step(&mut p1, &g, &mut m1, &mut v1).unwrap();
            let mut gc = g;
            let c = clip_grad_norm(&mut gc, 1.0).unwrap();
            let r2 = without.step(&mut p2, &gc, &mut m2, &mut v2).unwrap();
            assert_eq!((r1.grad_norm, r1.clipped), (c.norm, c.clipped));
            assert!(!r2.clipped);
            assert_eq!((bits(&p1), bits(&m1), bits(&v1)), (bits(&p2), bits(&m2), bits(&v2)));
        }
        assert!(p1 != [0.5, -1.0, 2.0]);
    }

    // ---- EMA -------------------------------------------------------------------------------

    #[test]
    fn ema_decay_follows_score_sde_warm_up() {
        let rate = 0.99f32;
        let mut ema = Ema::new(rate).unwrap();
        let (mut avg, p) = ([0.0f32; 2], [1.0f32, -1.0]);
        for n in 1..=2000u64 {
            let d = ema.update(&mut avg, &p).unwrap();
            let warm = (1.0 + n as f64) / (10.0 + n as f64);
            assert_eq!(d, if warm < rate as f64 { warm } else { rate as f64 }, "n={n}");
            assert_eq!(ema.updates(), n);
            match n {
                1 => assert_eq!(d, 2.0 / 11.0),
                2 => assert_eq!(d, 3.0 / 12.0),
                // (1 + n)/(10 + n) reaches 0.99 at n = 890; the f32 rate 0.99 lies just above
                // it, so the rate takes over from n = 891.
                890 => assert!(d < rate as f64),
                891.. => assert_eq!(d, rate as f64),
                _ => {}
            }
        }
    }

    #[test]
    fn ema_of_a_constant_stays_that_constant() {
        let c = [0.1f32, -3.7, 1e-30, 6.02e23, 0.0];
        let mut ema = Ema::new(0.9999).unwrap();
        let mut avg = [9.0f32; 5];
        ema.reset(&mut avg, &c).unwrap();
        for _ in 0..1000 {
            ema.update(&mut avg, &c).unwrap();
        }
        assert_eq!(bits(&avg), bits(&c));
        assert_eq!(ema.updates(), 1000);
    }

    #[test]
    fn ema_converges_geometrically_to_a_new_constant() {
        // Past the decay warm-up, θ̄ − b shrinks by exactly the factor r per update.
        let rate = 0.95f32;
        let mut ema = Ema::new(rate).unwrap();
        let (mut avg, b) = ([0.0f32, 4.0, -2.0], [1.0f32, 1.0, 1.0]);
        let e0 = avg.map(|a| a as f64 - 1.0);
        ema.set_updates(1_000_000);
        for k in 1..=200 {
            ema.update(&mut avg, &b).unwrap();
            for i in 0..3 {
                let want = e0[i] * libm::pow(rate as f64, k as f64);
                assert!(libm::fabs((avg[i] - b[i]) as f64 - want) < 4e-6, "k={k} i={i}");
            }
        }
        // During the warm-up the error shrinks by the product of the warm-up decays.
        let mut ema = Ema::new(rate).unwrap();
        let mut avg = [0.0f32, 4.0, -2.0];
        let mut product = 1.0f64;
        for n in 1..=100u64 {
            product *= ema.decay_at(n);
            ema.update(&mut avg, &b).unwrap();
            for i in 0..3 {
                assert!(libm::fabs((avg[i] - b[i]) as f64 - e0[i] * product) < 4e-6);
            }
        }
    }

    // ---- Errors ----------------------------------------------------------------------------

    fn state() -> (Adam, [f32; 4], [f32; 4], [f32; 4]) {
        let config = AdamConfig { grad_clip: Some(1.0), ..AdamConfig::adamw(1e-2, 0.1) };
        let mut adam = Adam::new(config).unwrap();
        let (mut p, mut m, mut v) = ([0.5f32, -1.0, 2.0, 0.0], [0.0f32; 4], [0.0f32; 4]);
        for _ in 0..3 {
            adam.step(&mut p, &[0.1, -0.2, 0.3, 0.4], &mut m, &mut v).unwrap();
        }
        (adam, p, m, v)
    }

    #[test]
    fn non_finite_gradients_change_nothing() {
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            for clip in [Some(1.0), None] {
                let (adam0, p0, m0, v0) = state();
                let mut adam = Adam::new(AdamConfig { grad_clip: clip, ..adam0.config() }).unwrap();
                adam.set_step_count(adam0.step_count());
                let (mut p, mut m, mut v) = (p0, m0, v0);
                let g = [0.1, 0.2, bad, 0.3];
                let e = adam.step(&mut p, &g, &mut m, &mut v);
                assert_eq!(e, Err(Error::NonFinite("grads")));
                assert_eq!((bits(&p), bits(&m), bits(&v)), (bits(&p0), bits(&m0), bits(&v0)));
                assert_eq!(adam.step_count(), 3);
            }
            let mut g = [0.1f32, bad, 3.0];
            let before = bits(&g);
            assert_eq!(clip_grad_norm(&mut g, 1.0), Err(Error::NonFinite("grads")));
            assert_eq!(bits(&g), before);
        }
    }

    #[test]
    fn an_overflowing_update_changes_nothing() {
        // A finite gradient whose square overflows f32 would make v infinite: without clipping
        // the step is refused as a whole; with clipping it is fine.
        let (mut adam, p0, m0, v0) = state();
        let mut unclipped = Adam::new(AdamConfig { grad_clip: None, ..adam.config() }).unwrap();
        unclipped.set_step_count(3);
        let (mut p, mut m, mut v) = (p0, m0, v0);
        let g = [0.1f32, 0.2, 0.3, 1e30];
        assert_eq!(unclipped.step(&mut p, &g, &mut m, &mut v), Err(Error::NonFiniteState));
        assert_eq!((bits(&p), bits(&m), bits(&v)), (bits(&p0), bits(&m0), bits(&v0)));
        assert_eq!(unclipped.step_count(), 3);
        assert!(adam.step(&mut p, &g, &mut m, &mut v).unwrap().clipped);

        // A NaN already in the parameters or moments is reported, not spread.
        let (mut adam, mut p, mut m, mut v) = state();
        p[1] = f32::NAN;
        assert_eq!(adam.step(&mut p, &[0.0; 4], &mut m, &mut v), Err(Error::NonFinite("params")));
        p[1] = 0.0;
        v[2] = f32::INFINITY;
        assert_eq!(adam.step(&mut p, &[0.0; 4], &mut m, &mut v), Err(Error::NonFinite("moments")));
        assert_eq!(adam.step_count(), 3);
    }

    #[test]
    fn length_mismatches_are_errors() {
        let (mut adam, p0, m0, v0) = state();
        let (mut p, mut m, mut v) = (p0, m0, v0);
        let g = [0.1f32; 4];
        fn bad<T>(name: &'static str) -> Result<T, Error> {
            Err(Error::InvalidParameter { name, reason: LEN_REASON })
        }
        assert_eq!(adam.step(&mut p, &g[..3], &mut m, &mut v), bad("grads"));
        assert_eq!(adam.step(&mut p[..3], &g[..3], &mut m, &mut v[..3]), bad("m"));
        assert_eq!(adam.step(&mut p, &g, &mut m, &mut v[..2]), bad("v"));
        assert_eq!(adam.step(&mut p[..0], &g, &mut m, &mut v), bad("grads"));
        assert_eq!((bits(&p), bits(&m), bits(&v)), (bits(&p0), bits(&m0), bits(&v0)));
        assert_eq!(adam.step_count(), 3);

        let mut ema = Ema::new(0.999).unwrap();
        let mut avg = [0.0f32; 3];
        assert_eq!(ema.update(&mut avg, &p), bad("average"));
        assert_eq!(ema.reset(&mut avg, &p), bad("average"));
        assert_eq!((avg, ema.updates()), ([0.0; 3], 0));
    }

    #[test]
    fn counters_do_not_overflow() {
        let (mut adam, mut p, mut m, mut v) = state();
        adam.set_step_count(u64::MAX);
        assert!(adam.step(&mut p, &[0.0; 4], &mut m, &mut v).is_err());
        assert_eq!(adam.step_count(), u64::MAX);
        let mut ema = Ema::new(0.5).unwrap();
        ema.set_updates(u64::MAX);
        assert!(ema.update(&mut [0.0], &[1.0]).is_err());
        assert_eq!(ema.decay_at(u64::MAX), 0.5);
    }

    #[test]
    fn bad_hyper_parameters_are_errors() {
        let base = AdamConfig::adam(1e-3);
        let invalid = |c: AdamConfig| matches!(Adam::new(c), Err(Error::InvalidParameter { .. }));
        let non_finite = |c: AdamConfig| matches!(Adam::new(c), Err(Error::NonFinite(_)));
        assert!(Adam::new(base).is_ok());
        assert!(Adam::new(AdamConfig { beta1: 0.0, beta2: 0.0, ..base }).is_ok());
        for lr in [0.0, -1e-3] {
            assert!(invalid(AdamConfig { lr, ..base }));
        }
        for lr in [f32::NAN, f32::INFINITY] {
            assert!(non_finite(AdamConfig { lr, ..base }));
        }
        for beta in [1.0, 1.5, -0.1] {
            assert!(invalid(AdamConfig { beta1: beta, ..base }));
            assert!(invalid(AdamConfig { beta2: beta, ..base }));
        }
        assert!(non_finite(AdamConfig { beta1: f32::NAN, ..base }));
        assert!(non_finite(AdamConfig { beta2: f32::NEG_INFINITY, ..base }));
        assert!(invalid(AdamConfig { eps: 0.0, ..base }));
        assert!(invalid(AdamConfig { eps: -1e-8, ..base }));
        assert!(non_finite(AdamConfig { eps: f32::NAN, ..base }));
        assert!(invalid(AdamConfig::adamw(1e-3, -0.1)));
        assert!(non_finite(AdamConfig::adamw(1e-3, f32::INFINITY)));
        assert!(invalid(AdamConfig::adamw(0.5, 2.0)));
        assert!(Adam::new(AdamConfig::adamw(0.5, 1.9)).is_ok());
        for c in [0.0, -1.0] {
            assert!(invalid(AdamConfig { grad_clip: Some(c), ..base }));
        }
        assert!(non_finite(AdamConfig { grad_clip: Some(f32::NAN), ..base }));
        assert!(matches!(Warmup::new(0.0, 10), Err(Error::InvalidParameter { .. })));
        assert_eq!(Warmup::new(f32::NAN, 10), Err(Error::NonFinite("lr")));
        for rate in [1.01, -0.01] {
            assert!(matches!(Ema::new(rate), Err(Error::InvalidParameter { .. })));
        }
        assert_eq!(Ema::new(f32::NAN), Err(Error::NonFinite("rate")));
        assert!(Ema::new(0.0).is_ok() && Ema::new(1.0).is_ok());
        let mut g = [1.0f32, 2.0];
        assert!(clip_grad_norm(&mut g, 0.0).is_err());
        assert!(clip_grad_norm(&mut g, f32::INFINITY).is_err());
        assert_eq!(g, [1.0, 2.0]);
        // The configuration round-trips.
        let c =
            AdamConfig { warmup_steps: 9, grad_clip: Some(1.0), ..AdamConfig::adamw(1e-3, 0.1) };
        assert_eq!(Adam::new(c).unwrap().config(), c);
    }

    #[test]
    fn ema_non_finite_inputs_change_nothing() {
        let mut ema = Ema::new(0.999).unwrap();
        let p = [1.0f32, 2.0, 3.0];
        let mut avg = [0.0f32; 3];
        ema.reset(&mut avg, &p).unwrap();
        ema.update(&mut avg, &[1.5, 2.5, 3.5]).unwrap();
        let before = bits(&avg);
        assert_eq!(ema.update(&mut avg, &[1.0, f32::NAN, 3.0]), Err(Error::NonFinite("params")));
        assert_eq!(
            ema.update(&mut avg, &[f32::INFINITY, 0.0, 3.0]),
            Err(Error::NonFinite("params"))
        );
        assert_eq!(bits(&avg), before);
        assert_eq!(ema.updates(), 1);
        let mut big = [f32::MAX];
        assert_eq!(ema.update(&mut big, &[-f32::MAX]), Err(Error::NonFiniteState));
        assert_eq!(big, [f32::MAX]);
    }
}
