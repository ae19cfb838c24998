//! UniPC (Zhao et al. 2023, "UniPC: A Unified Predictor-Corrector Framework for Fast Sampling
//! of Diffusion Models"): a multistep probability-flow solver in the data-prediction form of
//! DPM-Solver++ (MATH.md §6.1) whose corrector raises the order by one at no extra score
//! evaluation, N evaluations for N steps.
//!
//! In the x̂ = x/α_t, λ = −ln σ̄ coordinates of [`crate::sample::few_step`], one step from λᵢ to
//! λᵢ₊₁ = λᵢ + h with the denoiser values Dᵢ, Dᵢ₋₁, … is
//!   x̂⁰ = e^{−h} x̂ᵢ + (1 − e^{−h}) Dᵢ,
//!   predictor (UniP-p): x̂ᵢ₊₁ᵖ = x̂⁰ − B(h) Σₖ aₖ Δₖ, Δₖ = (Dᵢ₋ₖ − Dᵢ)/rₖ, rₖ = (λᵢ₋ₖ − λᵢ)/h,
//!   corrector (UniC-p): with D̃ = D(x̂ᵢ₊₁ᵖ; λᵢ₊₁),
//!   x̂ᵢ₊₁ = x̂⁰ − B(h) (Σₖ cₖ Δₖ + c_p (D̃ − Dᵢ)),
//! and D̃ is kept as Dᵢ₊₁ for the next step (the corrected point is not evaluated again: that is
//! what makes the corrector free). With x = −h, gⱼ(x) = Σₙ₌₁^∞ xⁿ/(n + j)! (so g₁ = (eˣ − 1)/x − 1,
//! gⱼ₊₁ = gⱼ/x − 1/(j + 1)!: the reference code's recursion) and B = B(h) = −h
//! ([`UniPcVariant::Bh1`]) or e^{−h} − 1 ([`UniPcVariant::Bh2`]), the weights solve the order
//! conditions
//!   Σₖ aₖ rₖ^{j−1} = j! gⱼ(−h)/B, j = 1 … p − 1 (predictor; p = 2: a = ½),
//!   Σₖ cₖ rₖ^{j−1} = j! gⱼ(−h)/B, j = 1 … p, with r_p = 1 (corrector; p = 1: c = ½),
//! so that the corrector integrates a denoiser polynomial of degree p in λ exactly and the
//! predictor one of degree p − 1 (unit test). Below h = 0.5 the gⱼ are summed as series (the
//! recursion divides by x and loses about ε/|x|ʲ).
//! The order p of step i is min(order, i + 1) (the history there is), and lower on the last steps
//! (min(order, N − i)), as the reference code does; the last step has no corrector. That first-
//! order last step, with error about σ̄(ε)² h², makes the method second order as N → ∞; over the
//! step counts it is meant for (N = 10 … 80) its error falls at third order (unit test on a
//! Gaussian target).
//! The weights depend on the schedule only, so they are solved once per step in `f64`
//! scalars and every lane runs the same arithmetic.

use crate::error::Error;
use crate::lane::Lane;
use crate::rng::LaneSource;
use crate::sample::LaneSampler;
use crate::sample::few_step::{INV_FACTORIAL, NoiseSchedule, Spacing, denoise, start, usable};
use crate::score::ScoreModel;
use crate::sde::Sde;

/// UniPC's B(h) (module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UniPcVariant {
    /// B(h) = −h (the reference code's "bh1").
    Bh1,
    /// B(h) = e^{−h} − 1 (the reference code's "bh2").
    Bh2,
}

/// The UniPC sampler (module docs).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct UniPc<S> {
    sde: S,
    schedule: NoiseSchedule,
    order: u32,
    variant: UniPcVariant,
    from_prior: bool,
}

/// [`UniPc::new`]'s spacing: uniform in √t.
pub const DEFAULT_SPACING: Spacing = Spacing::Time { power: 2.0 };

/// The highest order [`UniPc`] runs.
pub const UNIPC_MAX_ORDER: u32 = 3;

impl<S: Sde> UniPc<S> {
    /// N = `steps` ≥ 1 steps (N evaluations) from T to `eps` ∈ (0, T), uniform in √t
    /// ([`Spacing::Time`] with p = 2), order 3, B(h) = e^{−h} − 1 ([`UniPcVariant::Bh2`]): the
    /// choices measured best per evaluation (BENCHMARKS.md, "quality per score evaluation").
    pub fn new(sde: S, steps: u32, eps: f32) -> Result<Self, Error> {
        Self::with(sde, steps, eps, DEFAULT_SPACING, 3, UniPcVariant::Bh2)
    }
    /// The same with another spacing, order (1 … [`UNIPC_MAX_ORDER`]) and B(h).
    pub fn with(
        sde: S,
        steps: u32,
        eps: f32,
        spacing: Spacing,
        order: u32,
        variant: UniPcVariant,
    ) -> Result<Self, Error> {
        if !(1..=UNIPC_MAX_ORDER).contains(&order) {
            return Err(Error::InvalidParameter { name: "order", reason: "must be 1, 2 or 3" });
        }
        let schedule = NoiseSchedule::new(&sde, steps, eps, spacing)?;
        Ok(Self { sde, schedule, order, variant, from_prior: true })
    }
    /// Start from the state given to [`LaneSampler::run`] (as x_T) instead of the prior.
    pub fn starting_from_input(self) -> Self {
        Self { from_prior: false, ..self }
    }
    /// Score evaluations per sample: N.
    pub fn evaluations(&self) -> u32 {
        self.schedule.steps()
    }
    /// The SDE.
    pub fn sde(&self) -> &S {
        &self.sde
    }
}

/// The weights of one step: x̂⁰'s e^{−h}, the 1/rₖ of Δₖ = (Dᵢ₋ₖ − Dᵢ)/rₖ (zero where the
/// step's order leaves Δₖ out), the predictor's aₖ on Δ₁, Δ₂ and the corrector's cₖ on Δ₁, Δ₂
/// and on D̃ − Dᵢ, each already multiplied by −B(h); `p` the step's order.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Weights {
    ratio: f64,
    inv_r: [f64; 2],
    pred: [f64; 2],
    corr: [f64; 3],
    p: usize,
}

/// Solves the `n` × `n` system `a x = b` (n ≤ 3) by Gaussian elimination with partial pivoting;
/// `None` when it is singular or a result is not finite. (Written here rather than taken from
/// a linear-algebra crate: the core has none, and a 3 × 3 solve per step does not justify one
/// on the firmware.)
fn solve(mut a: [[f64; 3]; 3], mut b: [f64; 3], n: usize) -> Option<[f64; 3]> {
    for c in 0..n {
        let piv = (c..n).max_by(|&i, &j| a[i][c].abs().total_cmp(&a[j][c].abs()))?;
        if a[piv][c] == 0.0 || a[piv][c].is_nan() {
            return None;
        }
        a.swap(c, piv);
        b.swap(c, piv);
        for r in c + 1..n {
            let f = a[r][c] / a[c][c];
            let pivot_row = a[c];
            for (v, p) in a[r][c..n].iter_mut().zip(&pivot_row[c..n]) {
                *v -= f * p;
            }
            b[r] -= f * b[c];
        }
    }
    let mut x = [0.0f64; 3];
    for r in (0..n).rev() {
        let mut v = b[r];
        for k in r + 1..n {
            v -= a[r][k] * x[k];
        }
        x[r] = v / a[r][r];
        if !x[r].is_finite() {
            return None;
        }
    }
    Some(x)
}

/// Below this |x| the gⱼ(x) are summed as series (see [`g_functions`]).
const G_SERIES_BELOW: f64 = 0.5;

/// g₁, g₂, g₃ at `x` (module docs): gⱼ(x) = Σₙ₌₁^∞ xⁿ/(n + j)!, by the closed form
/// g₁ = (eˣ − 1)/x − 1, gⱼ₊₁ = gⱼ/x − 1/(j + 1)! for |x| ≥ 0.5 (it loses about ε/|x|ʲ), and by
/// the series to n = 12 below (truncation under 1e-16 relative there).
fn g_functions(x: f64) -> [f64; 3] {
    let mut g = [0.0f64; 3];
    if x.abs() < G_SERIES_BELOW {
        for (j, gj) in g.iter_mut().enumerate() {
            // Horner: Σₙ₌₁¹² xⁿ/(n + j + 1)!, j counted from 0.
            let mut acc = 0.0f64;
            for n in (1..=12usize).rev() {
                acc = x * (INV_FACTORIAL[n + j + 1] + acc);
            }
            *gj = acc;
        }
    } else {
        g[0] = libm::expm1(x) / x - 1.0;
        g[1] = g[0] / x - 0.5;
        g[2] = g[1] / x - 1.0 / 6.0;
    }
    g
}

/// The weights of a step of length `h` in λ, with the earlier steps `back` = (λᵢ − λᵢ₋₁,
/// λᵢ₋₁ − λᵢ₋₂) (the first p − 1 of them used) and order `p` (module docs). A degenerate schedule (a step that is
/// not positive and finite, or a singular system) keeps the step first order.
fn weights(h: f64, back: [f64; 2], p: usize, variant: UniPcVariant) -> Weights {
    let p = p.clamp(1, UNIPC_MAX_ORDER as usize);
    let hh = -h;
    let ratio = libm::exp(hh);
    let first = Weights { ratio, p: 1, ..Weights::default() };
    if !usable(h) || back[..p - 1].iter().any(|&b| !usable(b)) {
        return first;
    }
    let h_phi_1 = libm::expm1(hh);
    let b_h = match variant {
        UniPcVariant::Bh1 => hh,
        UniPcVariant::Bh2 => h_phi_1,
    };
    // rₖ = (λᵢ₋ₖ − λᵢ)/h < 0, then r_p = 1.
    let mut r = [1.0f64; 3];
    let dist = [back[0], back[0] + back[1]];
    for k in 0..p - 1 {
        r[k] = -dist[k] / h;
    }
    r[p - 1] = 1.0;
    let (mut a, mut rhs) = ([[0.0f64; 3]; 3], [0.0f64; 3]);
    let g = g_functions(hh);
    let mut fact = 1.0f64;
    for j in 0..p {
        for k in 0..p {
            a[j][k] = libm::pow(r[k], j as f64);
        }
        fact *= (j + 1) as f64;
        rhs[j] = g[j] * fact / b_h;
    }
    let pred = match p {
        1 => Some([0.0; 3]),
        2 => Some([0.5, 0.0, 0.0]),
        _ => solve(a, rhs, p - 1),
    };
    let corr = if p == 1 { Some([0.5, 0.0, 0.0]) } else { solve(a, rhs, p) };
    let (Some(pred), Some(corr)) = (pred, corr) else {
        return first;
    };
    let m = -b_h;
    let mut w = Weights { ratio, p, ..Weights::default() };
    for (ir, rk) in w.inv_r.iter_mut().zip(&r[..p - 1]) {
        *ir = 1.0 / rk;
    }
    w.pred = [m * pred[0], m * pred[1]];
    // The corrector's last weight multiplies D̃ − Dᵢ; the others Δ₁, Δ₂.
    for (wk, ck) in w.corr.iter_mut().zip(&corr[..p - 1]) {
        *wk = m * ck;
    }
    w.corr[2] = m * corr[p - 1];
    w
}

impl<const D: usize, S: Sde, M: ScoreModel<D>> LaneSampler<D, M> for UniPc<S> {
    /// Draws D normals for the prior (none when starting from the input).
    fn run<L: Lane, G: LaneSource<L>>(&self, model: &M, x: &mut [L; D], rng: &mut G) {
        let c = |v: f64| <L as Lane>::from_f64(v);
        let n = self.schedule.steps();
        let mut lv = self.schedule.level(&self.sde, 0);
        let mut xh = start(&self.sde, self.from_prior, x, rng, lv.alpha);
        // Dᵢ, then Dᵢ₋₁ and Dᵢ₋₂, and the λ-distances back to them.
        let mut den = denoise(model, &xh, &lv);
        let (mut d1, mut d2) = ([L::default(); D], [L::default(); D]);
        let mut back = [0.0f64; 2];
        for i in 0..n {
            let next = self.schedule.level(&self.sde, i + 1);
            let h = libm::log(lv.sigma_bar / next.sigma_bar);
            let p = (self.order.min(i + 1).min(n - i)) as usize;
            let w = weights(h, back, p, self.variant);
            let (ir0, ir1) = (c(w.inv_r[0]), c(w.inv_r[1]));
            let (ratio, one_m) = (c(w.ratio), c(1.0 - w.ratio));
            let mut x0 = [L::default(); D];
            let mut dl = [[L::default(); D]; 2];
            for j in 0..D {
                x0[j] = ratio * xh[j] + one_m * den[j];
                dl[0][j] = ir0 * (d1[j] - den[j]);
                dl[1][j] = ir1 * (d2[j] - den[j]);
            }
            let (p0, p1) = (c(w.pred[0]), c(w.pred[1]));
            let pred: [L; D] = crate::lane::array_fn(|j| x0[j] + (p0 * dl[0][j] + p1 * dl[1][j]));
            if i + 1 == n {
                xh = pred;
                lv = next;
                break;
            }
            let new = denoise(model, &pred, &next);
            let (c0, c1, cl) = (c(w.corr[0]), c(w.corr[1]), c(w.corr[2]));
            for j in 0..D {
                xh[j] = x0[j] + (c0 * dl[0][j] + c1 * dl[1][j] + cl * (new[j] - den[j]));
            }
            d2 = d1;
            d1 = den;
            den = new;
            back = [h, back[0]];
            lv = next;
        }
        let a = c(lv.alpha);
        *x = xh.map(|v| a * v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::few_step::tests::gaussian_flow;
    use crate::score::GaussianMixture;
    use crate::sde::Vp;

    /// ∫₀ʰ e^{τ−h} D(τ) dτ by composite Simpson (2 000 intervals).
    fn integral(h: f64, d: &dyn Fn(f64) -> f64) -> f64 {
        let m = 2000;
        let f = |tau: f64| libm::exp(tau - h) * d(tau);
        let mut acc = f(0.0) + f(h);
        for k in 1..m {
            let tau = h * k as f64 / m as f64;
            acc += if k % 2 == 1 { 4.0 } else { 2.0 } * f(tau);
        }
        acc * h / (3.0 * m as f64)
    }

    /// The weights meet UniPC's order conditions, checked against the integral they stand
    /// for: over one step the exact flow is x̂⁰ + ∫₀ʰ e^{τ−h} (D(λᵢ + τ) − Dᵢ) dτ, so for
    /// D(λ) = (λ − λᵢ)^deg the corrector's terms (history and D̃) must give that integral for
    /// deg = 1 … p, and the order-3 predictor's (history only) for deg = 1, 2. One degree more
    /// is not integrated (the check has the power to fail).
    #[test]
    fn weights_integrate_polynomials_of_their_degree() {
        for variant in [UniPcVariant::Bh1, UniPcVariant::Bh2] {
            for (h, back) in [(0.3f64, [0.25f64, 0.4f64]), (1.1, [0.9, 1.3]), (0.05, [0.05, 0.05])]
            {
                for p in 2..=3usize {
                    let w = weights(h, back, p, variant);
                    assert_eq!(w.p, p);
                    // rₖ = (λᵢ₋ₖ − λᵢ)/h, written out here rather than read from the weights.
                    let r = [-back[0] / h, -(back[0] + back[1]) / h];
                    assert_eq!(w.inv_r[0], 1.0 / r[0]);
                    assert_eq!(w.inv_r[1], if p > 2 { 1.0 / r[1] } else { 0.0 });
                    for deg in 1..=p + 1 {
                        let d = |l: f64| libm::pow(l, deg as f64);
                        let dl = [
                            d(-back[0]) / r[0],
                            if p > 2 { d(-back[0] - back[1]) / r[1] } else { 0.0 },
                        ];
                        let exact = integral(h, &d);
                        let corr = w.corr[0] * dl[0] + w.corr[1] * dl[1] + w.corr[2] * d(h);
                        let err = (corr - exact).abs() / exact.abs();
                        if deg <= p {
                            assert!(
                                err < 1e-9,
                                "{variant:?} h {h} p {p} deg {deg}: {corr} vs {exact}"
                            );
                        } else {
                            assert!(err > 1e-4, "{variant:?} h {h} p {p} deg {deg}: {err}");
                        }
                        if p == 3 && deg <= 3 {
                            let pred = w.pred[0] * dl[0] + w.pred[1] * dl[1];
                            let err = (pred - exact).abs() / exact.abs();
                            if deg <= 2 {
                                assert!(
                                    err < 1e-9,
                                    "predictor {variant:?} h {h} deg {deg}: {pred} vs {exact}"
                                );
                            } else {
                                assert!(err > 1e-4, "predictor {variant:?} h {h} deg {deg}: {err}");
                            }
                        }
                    }
                }
            }
        }
    }

    /// The g functions by series and by closed form agree where they meet (1e-12 relative),
    /// and a tiny step keeps the weights of a moderate one scaled by h (the closed form alone
    /// is off by orders of magnitude at h = 1e-6).
    #[test]
    fn small_steps_keep_their_weights() {
        for x in [G_SERIES_BELOW, -G_SERIES_BELOW] {
            let below = g_functions(x * (1.0 - 1e-15));
            let above = g_functions(x * (1.0 + 1e-15));
            for j in 0..3 {
                assert!(
                    (below[j] - above[j]).abs() < 1e-12 * above[j].abs(),
                    "{x} {j}: {below:?} {above:?}"
                );
            }
        }
        let scaled = |h: f64| {
            let w = weights(h, [h, h], 3, UniPcVariant::Bh2);
            w.corr.map(|c| c / h)
        };
        let (base, tiny) = (scaled(1e-3), scaled(1e-6));
        for k in 0..3 {
            assert!((base[k] - tiny[k]).abs() < 1e-3 * base[k].abs(), "{base:?} vs {tiny:?}");
        }
    }

    /// A degenerate schedule step keeps the step first order instead of dividing by zero.
    #[test]
    fn degenerate_steps_fall_back_to_first_order() {
        for (h, back) in [(0.0, [0.1, 0.1]), (0.2, [0.0, 0.1]), (f64::NAN, [0.1, 0.1])] {
            let w = weights(h, back, 3, UniPcVariant::Bh2);
            assert_eq!((w.p, w.pred, w.corr), (1, [0.0; 2], [0.0; 3]), "{h} {back:?}");
        }
        assert!(
            UniPc::with(Vp::default(), 10, 1e-3, DEFAULT_SPACING, 0, UniPcVariant::Bh1).is_err()
        );
        assert!(
            UniPc::with(Vp::default(), 10, 1e-3, DEFAULT_SPACING, 4, UniPcVariant::Bh1).is_err()
        );
    }

    /// On a Gaussian target, over N = 20 … 80, both orders' errors fall by more than 6 per
    /// halving of the step (third order; measured 7.3–9.5 for order 2, whose corrector raises
    /// it by one, and 7.3–8.8 for order 3; the bound is DPM-Solver++(3M)'s test's). This is the
    /// range the method is for: the first-order last step makes it second order as N → ∞. Order
    /// 3 has the smaller error.
    #[test]
    fn unipc_converges_at_its_order() {
        let v = 0.5f64;
        let sde = Vp::default();
        let m = GaussianMixture::new([1.0], [[0.0]], [[[v as f32]]]).unwrap().under(sde);
        let rng = || crate::rng::Streams::<f64>::new(0, 0);
        for spacing in [Spacing::LogSnr, DEFAULT_SPACING] {
            for variant in [UniPcVariant::Bh1, UniPcVariant::Bh2] {
                let mut errs = [[0.0f64; 3]; 2];
                for (j, n) in [20u32, 40, 80].into_iter().enumerate() {
                    let s = NoiseSchedule::new(&sde, n, 1e-3, spacing).unwrap();
                    let exact = gaussian_flow(v, 0.7, &s, &sde);
                    for (o, order) in [2u32, 3].into_iter().enumerate() {
                        let u = UniPc::with(sde, n, 1e-3, spacing, order, variant)
                            .unwrap()
                            .starting_from_input();
                        let mut a = [0.7f64];
                        LaneSampler::<1, _>::run(&u, &m, &mut a, &mut rng());
                        errs[o][j] = (a[0] - exact).abs();
                    }
                }
                let [two, three] = errs;
                for e in [two, three] {
                    assert!(
                        e[0] / e[1] > 6.0 && e[1] / e[2] > 6.0,
                        "{spacing:?} {variant:?}: {errs:?}"
                    );
                }
                assert!((0..3).all(|j| three[j] < two[j]), "{spacing:?} {variant:?}: {errs:?}");
            }
        }
    }
}
