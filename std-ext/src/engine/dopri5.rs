//! TEMPORARY ADAPTER (until `flowscore::ode` is available): adaptive Dormand–Prince 5(4) with
//! scipy's RK45 step control (error norm, safety factors, initial step), bounded steps.

/// Solver tolerances and bounds.
#[derive(Clone, Copy, Debug)]
pub struct OdeOptions {
    /// Relative tolerance.
    pub rtol: f64,
    /// Absolute tolerance.
    pub atol: f64,
    /// Maximum number of accepted + rejected steps before giving up.
    pub max_steps: u32,
}

/// score_sde's ODE tolerances rtol = atol = 1e-5.
pub const DEFAULT_TOL: f64 = 1e-5;
/// Step budget: far above the few hundred steps the built-in SDEs need at 1e-5.
pub const DEFAULT_MAX_STEPS: u32 = 100_000;

impl Default for OdeOptions {
    fn default() -> Self {
        Self { rtol: DEFAULT_TOL, atol: DEFAULT_TOL, max_steps: DEFAULT_MAX_STEPS }
    }
}

/// The end state and the number of right-hand-side evaluations.
#[derive(Clone, Debug)]
pub struct Solution {
    /// y at the end time.
    pub y: Vec<f64>,
    /// Number of function evaluations.
    pub nfe: u32,
}

const C: [f64; 6] = [0.0, 1.0 / 5.0, 3.0 / 10.0, 4.0 / 5.0, 8.0 / 9.0, 1.0];
const A: [[f64; 5]; 6] = [
    [0.0; 5],
    [1.0 / 5.0, 0.0, 0.0, 0.0, 0.0],
    [3.0 / 40.0, 9.0 / 40.0, 0.0, 0.0, 0.0],
    [44.0 / 45.0, -56.0 / 15.0, 32.0 / 9.0, 0.0, 0.0],
    [19372.0 / 6561.0, -25360.0 / 2187.0, 64448.0 / 6561.0, -212.0 / 729.0, 0.0],
    [9017.0 / 3168.0, -355.0 / 33.0, 46732.0 / 5247.0, 49.0 / 176.0, -5103.0 / 18656.0],
];
const B: [f64; 6] =
    [35.0 / 384.0, 0.0, 500.0 / 1113.0, 125.0 / 192.0, -2187.0 / 6784.0, 11.0 / 84.0];
/// Error weights (5th minus 4th order), the last for the FSAL stage f(t + h, y_new).
const E: [f64; 7] = [
    -71.0 / 57600.0,
    0.0,
    71.0 / 16695.0,
    -71.0 / 1920.0,
    17253.0 / 339200.0,
    -22.0 / 525.0,
    1.0 / 40.0,
];
/// scipy's step-size safety factor and bounds on the change per step.
const SAFETY: f64 = 0.9;
const MIN_FACTOR: f64 = 0.2;
const MAX_FACTOR: f64 = 10.0;

fn rms(v: impl Iterator<Item = f64>) -> f64 {
    let (mut s, mut n) = (0.0, 0usize);
    for x in v {
        s += x * x;
        n += 1;
    }
    (s / n.max(1) as f64).sqrt()
}

/// Integrates y' = f(t, y) from `t0` to `t1` (either direction). `on_step(t, y)` sees every
/// accepted state. Errors (never hangs): step budget exhausted, step size underflow, a
/// non-finite state.
pub fn solve<F, O>(
    mut f: F,
    t0: f64,
    t1: f64,
    y0: &[f64],
    opt: &OdeOptions,
    mut on_step: O,
) -> anyhow::Result<Solution>
where
    F: FnMut(f64, &[f64], &mut [f64]),
    O: FnMut(f64, &[f64]),
{
    let n = y0.len();
    let dir = if t1 >= t0 { 1.0 } else { -1.0 };
    let mut y = y0.to_vec();
    let mut k = vec![vec![0.0; n]; 7];
    f(t0, &y, &mut k[0]);
    let mut nfe = 1u32;
    // Initial step (Hairer, Nørsett & Wanner II.4, as scipy's select_initial_step).
    let scale: Vec<f64> = y.iter().map(|v| opt.atol + v.abs() * opt.rtol).collect();
    let d0 = rms(y.iter().zip(&scale).map(|(a, s)| a / s));
    let d1 = rms(k[0].iter().zip(&scale).map(|(a, s)| a / s));
    let h0 = if d0 < 1e-5 || d1 < 1e-5 { 1e-6 } else { 0.01 * d0 / d1 };
    let y1: Vec<f64> = y.iter().zip(&k[0]).map(|(a, b)| a + h0 * dir * b).collect();
    let mut f1 = vec![0.0; n];
    f(t0 + h0 * dir, &y1, &mut f1);
    nfe += 1;
    let d2 = rms(f1.iter().zip(&k[0]).zip(&scale).map(|((a, b), s)| (a - b) / s)) / h0;
    let h1 = if d1 <= 1e-15 && d2 <= 1e-15 {
        (h0 * 1e-3).max(1e-6)
    } else {
        (0.01 / d1.max(d2)).powf(1.0 / 5.0)
    };
    let mut h = (100.0 * h0).min(h1).min((t1 - t0).abs());
    let mut t = t0;
    let mut ynew = vec![0.0; n];
    let mut stage = vec![0.0; n];
    let mut steps = 0u32;
    while dir * (t1 - t) > 0.0 {
        let min_step = 10.0 * (t.abs() * f64::EPSILON).max(f64::MIN_POSITIVE);
        let mut rejected = false;
        loop {
            steps += 1;
            if steps > opt.max_steps {
                anyhow::bail!("ODE solve reached its maximum of {} steps", opt.max_steps);
            }
            if h < min_step {
                anyhow::bail!("ODE step size fell below its minimum at t = {t}");
            }
            let mut hs = h;
            let mut t_next = t + dir * hs;
            if dir * (t_next - t1) > 0.0 {
                t_next = t1;
            }
            hs = (t_next - t).abs();
            let hd = hs * dir;
            for s in 1..6 {
                for i in 0..n {
                    let mut acc = 0.0;
                    for (j, kj) in k.iter().enumerate().take(s) {
                        acc += A[s][j] * kj[i];
                    }
                    stage[i] = y[i] + hd * acc;
                }
                let (head, tail) = k.split_at_mut(s);
                let _ = head;
                f(t + C[s] * hd, &stage, &mut tail[0]);
            }
            for i in 0..n {
                let mut acc = 0.0;
                for s in 0..6 {
                    acc += B[s] * k[s][i];
                }
                ynew[i] = y[i] + hd * acc;
            }
            {
                let (head, tail) = k.split_at_mut(6);
                let _ = head;
                f(t_next, &ynew, &mut tail[0]);
            }
            nfe += 6;
            if ynew.iter().any(|v| !v.is_finite()) {
                anyhow::bail!("ODE state became non-finite at t = {t}");
            }
            let err = rms((0..n).map(|i| {
                let mut e = 0.0;
                for s in 0..7 {
                    e += E[s] * k[s][i];
                }
                hd * e / (opt.atol + y[i].abs().max(ynew[i].abs()) * opt.rtol)
            }));
            if err < 1.0 {
                let mut factor =
                    if err == 0.0 { MAX_FACTOR } else { MAX_FACTOR.min(SAFETY * err.powf(-0.2)) };
                if rejected {
                    factor = factor.min(1.0);
                }
                h = hs * factor;
                t = t_next;
                y.copy_from_slice(&ynew);
                let last = k[6].clone();
                k[0] = last;
                on_step(t, &y);
                break;
            }
            h = hs * MIN_FACTOR.max(SAFETY * err.powf(-0.2));
            rejected = true;
        }
    }
    Ok(Solution { y, nfe })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// y' = −y from 0 to 2: e⁻² to the tolerance, and backwards back to 1.
    #[test]
    fn exponential_decay() {
        let opt = OdeOptions { rtol: 1e-8, atol: 1e-8, max_steps: 10_000 };
        let sol = solve(|_, y, d| d[0] = -y[0], 0.0, 2.0, &[1.0], &opt, |_, _| {}).unwrap();
        assert!((sol.y[0] - (-2.0f64).exp()).abs() < 1e-8);
        let back = solve(|_, y, d| d[0] = -y[0], 2.0, 0.0, &sol.y, &opt, |_, _| {}).unwrap();
        assert!((back.y[0] - 1.0).abs() < 1e-7);
    }

    /// A blow-up within the interval is an error, not a hang.
    #[test]
    fn blow_up_is_an_error() {
        let opt = OdeOptions { rtol: 1e-6, atol: 1e-6, max_steps: 1000 };
        assert!(solve(|_, y, d| d[0] = y[0] * y[0], 0.0, 2.0, &[1.0], &opt, |_, _| {}).is_err());
    }
}
