//! Unnormalised target densities for reverse-KL fitting, and the four 2-D test energies of
//! Rezende & Mohamed (2015, Table 1; MATH.md §7), p̃(z) = exp(−U(z)).
//!
//! The gradient of log p̃ comes from the same code on dual lanes ([`LogDensity::grad`]), so a
//! target is one function.

use crate::dual::Dual;
use crate::real::Real;

/// An unnormalised log-density log p̃(x) over ℝᴰ, lane-wise.
pub trait LogDensity<const D: usize> {
    /// log p̃(x).
    fn log_density<R: Real>(&self, x: &[R; D]) -> R;

    /// log p̃(x) and its gradient ∇ₓ log p̃, by a D-tangent dual pass.
    #[inline]
    fn grad<R: Real>(&self, x: &[R; D]) -> (R, [R; D]) {
        let xd: [Dual<R, D>; D] = crate::lane::array_fn(|i| Dual::variable(x[i], i));
        let l = self.log_density(&xd);
        (l.re, l.eps)
    }
}

/// One of the four test energies U₁ … U₄ of Rezende & Mohamed (2015), p̃ = exp(−U).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TestEnergy {
    /// U₁: a ring of radius 2 split into two lobes at z₁ = ±2.
    U1,
    /// U₂: a sine wave.
    U2,
    /// U₃: a sine wave and its Gaussian-bump-shifted copy.
    U3,
    /// U₄: a sine wave and its sigmoid-step-shifted copy.
    U4,
}

/// ln(e^a + e^b), stable.
#[inline(always)]
fn log_add_exp<R: Real>(a: R, b: R) -> R {
    let m = a.max(b);
    m + ((a - m).exp() + (b - m).exp()).ln()
}

impl TestEnergy {
    /// U(z).
    #[inline]
    pub fn energy<R: Real>(&self, z: &[R; 2]) -> R {
        let half = R::from_f64(0.5);
        let sq = |v: R| v * v;
        let w1 = (R::from_f64(core::f64::consts::TAU / 4.0) * z[0]).sin_cos().0;
        match self {
            TestEnergy::U1 => {
                let r = (z[0] * z[0] + z[1] * z[1]).sqrt();
                let a = -half * sq((z[0] - R::from_f64(2.0)) / R::from_f64(0.6));
                let b = -half * sq((z[0] + R::from_f64(2.0)) / R::from_f64(0.6));
                half * sq((r - R::from_f64(2.0)) / R::from_f64(0.4)) - log_add_exp(a, b)
            }
            TestEnergy::U2 => half * sq((z[1] - w1) / R::from_f64(0.4)),
            TestEnergy::U3 => {
                let w2 =
                    R::from_f64(3.0) * (-half * sq((z[0] - R::one()) / R::from_f64(0.6))).exp();
                let a = -half * sq((z[1] - w1) / R::from_f64(0.35));
                let b = -half * sq((z[1] - w1 + w2) / R::from_f64(0.35));
                -log_add_exp(a, b)
            }
            TestEnergy::U4 => {
                let w3 = R::from_f64(3.0) * ((z[0] - R::one()) / R::from_f64(0.3)).sigmoid();
                let a = -half * sq((z[1] - w1) / R::from_f64(0.4));
                let b = -half * sq((z[1] - w1 + w3) / R::from_f64(0.35));
                -log_add_exp(a, b)
            }
        }
    }
}

impl LogDensity<2> for TestEnergy {
    #[inline]
    fn log_density<R: Real>(&self, x: &[R; 2]) -> R {
        -self.energy(x)
    }
}
