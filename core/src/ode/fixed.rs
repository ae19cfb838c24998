//! Fixed-step explicit Runge–Kutta solvers: Euler (order 1), Heun (order 2), classic RK4
//! (order 4) — Hairer, Nørsett & Wanner, *Solving ODEs I*, §II.1.
//!
//! Every lane takes `steps` equal steps h = (t₁ − t₀)/steps from its own t₀ to its own t₁ (either
//! direction). A lane whose state turns non-finite from finite input stops there with
//! [`crate::Error::NonFiniteState`]; a lane with non-finite input is passed through.

use super::{LaneStatus, Solution, State, count, finite_mask, lincomb, select_state};
use crate::error::Error;
use crate::lane::{Lane, Mask};
use crate::real::Real;

/// The fixed-step method.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FixedMethod {
    /// Forward Euler: 1 evaluation per step, global error O(h).
    Euler,
    /// Heun's method (explicit trapezoid): 2 evaluations per step, O(h²).
    Heun,
    /// Classic fourth-order Runge–Kutta: 4 evaluations per step, O(h⁴).
    Rk4,
}

impl FixedMethod {
    /// Evaluations per step.
    pub const fn stages(self) -> u32 {
        match self {
            FixedMethod::Euler => 1,
            FixedMethod::Heun => 2,
            FixedMethod::Rk4 => 4,
        }
    }
}

/// Integrate dy/dt = f(t, y) from `t0` to `t1` (per lane) in `steps` equal steps.
///
/// Returns [`Error::InvalidParameter`] if `steps` is 0; otherwise per-lane outcomes in the
/// [`Solution`]. NFE per lane is `steps · method.stages()` (fewer for a lane that failed).
pub fn fixed_step<R: Real, S: State<R>>(
    method: FixedMethod,
    mut f: impl FnMut(R, &S) -> S,
    t0: R,
    t1: R,
    y0: S,
    steps: u32,
) -> Result<Solution<R, S>, Error> {
    if steps == 0 {
        return Err(Error::InvalidParameter { name: "steps", reason: "must be ≥ 1" });
    }
    let n = R::from_f64(steps as f64);
    let h = (t1 - t0) / n;
    let half = R::from_f64(0.5);
    let input_ok = finite_mask::<R, S>(&y0) & Real::is_finite(t0) & Real::is_finite(t1);
    let mut failed = !input_ok & input_ok; // all false
    let mut y = y0;
    let mut nfe = <R::Lane as Lane>::from_f64(0.0);
    let mut taken = <R::Lane as Lane>::from_f64(0.0);
    for k in 0..steps {
        let active = input_ok & !failed;
        if !active.any() {
            break;
        }
        // t_k = t₀ + k·h (not accumulated, so the last step ends at t₁ up to one rounding).
        let t = t0 + R::from_f64(k as f64) * h;
        let next = match method {
            FixedMethod::Euler => {
                let k1 = f(t, &y);
                lincomb(&y, h, &[(1.0, &k1)])
            }
            FixedMethod::Heun => {
                let k1 = f(t, &y);
                let k2 = f(t + h, &lincomb(&y, h, &[(1.0, &k1)]));
                lincomb(&y, h, &[(0.5, &k1), (0.5, &k2)])
            }
            FixedMethod::Rk4 => {
                let k1 = f(t, &y);
                let k2 = f(t + half * h, &lincomb(&y, half * h, &[(1.0, &k1)]));
                let k3 = f(t + half * h, &lincomb(&y, half * h, &[(1.0, &k2)]));
                let k4 = f(t + h, &lincomb(&y, h, &[(1.0, &k3)]));
                let sixth = 1.0 / 6.0;
                lincomb(
                    &y,
                    h,
                    &[(sixth, &k1), (2.0 * sixth, &k2), (2.0 * sixth, &k3), (sixth, &k4)],
                )
            }
        };
        nfe += count::<R::Lane>(active) * <R::Lane as Lane>::from_f64(method.stages() as f64);
        taken += count::<R::Lane>(active);
        let bad = active & !finite_mask::<R, S>(&next);
        failed = failed | bad;
        // Failed lanes keep their last finite state; finished and non-finite-input lanes
        // keep theirs.
        y = select_state::<R, S>(active & !bad, &next, &y);
    }
    let t_end = R::select(failed, t0 + R::from_lane(taken) * h, t1);
    let t_end = R::select(input_ok, t_end, t0);
    let mut status = LaneStatus::ok();
    status.non_finite = failed;
    Ok(Solution { t: t_end, y, nfe, steps: taken, status })
}

#[cfg(test)]
mod tests {
    use super::*;
    use wide::f64x4;

    /// Harmonic oscillator y'' = −y from (1, 0): y(t) = (cos t, −sin t).
    fn osc<R: Real>(_t: R, y: &[R; 2]) -> [R; 2] {
        [y[1], -y[0]]
    }

    fn err_at(method: FixedMethod, steps: u32) -> f64 {
        let s = fixed_step(method, osc, 0.0f64, 2.0, [1.0, 0.0], steps).unwrap();
        let (sn, cs) = Real::sin_cos(2.0f64);
        let (a, b) = (s.y[0] - cs, s.y[1] + sn);
        libm::sqrt(a * a + b * b)
    }

    /// Halving the step divides the global error by 2^order (within 10 %).
    #[test]
    fn convergence_orders() {
        for (m, order) in [(FixedMethod::Euler, 1), (FixedMethod::Heun, 2), (FixedMethod::Rk4, 4)] {
            let ratio = err_at(m, 200) / err_at(m, 400);
            let want = (1u32 << order) as f64;
            assert!((ratio / want - 1.0).abs() < 0.1, "{m:?}: ratio {ratio}, want {want}");
        }
        assert!(err_at(FixedMethod::Rk4, 400) < 1e-10);
    }

    #[test]
    fn lanes_are_independent_and_nonfinite_is_reported() {
        // dy/dt = y² blows up at t = 1/y₀; lane 1 (y₀ = 2 over [0, 1]) overflows.
        let f = |_t: f64x4, y: &[f64x4; 1]| [y[0] * y[0]];
        let y0 = [f64x4::new([0.5, 2.0, f64::NAN, -1.0])];
        let s = fixed_step(FixedMethod::Rk4, f, f64x4::splat(0.0), f64x4::splat(1.0), y0, 1000)
            .unwrap();
        assert_eq!(s.lane_result(0), Ok(()));
        assert_eq!(s.lane_result(1), Err(Error::NonFiniteState));
        assert_eq!(s.lane_result(2), Ok(()));
        assert!(s.y[0].to_array()[2].is_nan());
        assert_eq!(s.nfe_lane(2), 0);
        assert!(s.nfe_lane(1) < 4000);
        for (lane, y0) in [(0usize, 0.5f64), (3, -1.0)] {
            let r = fixed_step(
                FixedMethod::Rk4,
                |_t: f64, y: &[f64; 1]| [y[0] * y[0]],
                0.0,
                1.0,
                [y0],
                1000,
            )
            .unwrap();
            assert_eq!(s.y[0].to_array()[lane].to_bits(), r.y[0].to_bits());
            // Exact solution y₀/(1 − y₀t).
            assert!((r.y[0] - y0 / (1.0 - y0)).abs() < 1e-10);
        }
        assert!(fixed_step(FixedMethod::Euler, osc, 0.0f64, 1.0, [1.0, 0.0], 0).is_err());
    }

    #[test]
    fn backward_integration_returns_to_start() {
        let fwd = fixed_step(FixedMethod::Rk4, osc, 0.0f64, 3.0, [1.0, 0.0], 300).unwrap();
        let back = fixed_step(FixedMethod::Rk4, osc, 3.0f64, 0.0, fwd.y, 300).unwrap();
        assert!((back.y[0] - 1.0).abs() < 1e-8 && back.y[1].abs() < 1e-8);
        assert_eq!(back.t, 0.0);
    }
}
