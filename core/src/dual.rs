//! Forward-mode dual numbers: exact Jacobian-vector products and Jacobians from model code
//! written over [`Real`].
//!
//! A [`Dual<R, N>`] carries a value and `N` tangents, all of the inner type `R` (a float lane, or
//! another dual for higher derivatives). Arithmetic and every [`Real`] function propagate the
//! tangents by the chain rule, so any function written generically over `R: Real` (closed-form
//! scores, MLPs, flows) also computes
//! - one Jacobian-vector product J·v with `N = 1` ([`jvp`]),
//! - `N` of them at once (e.g. `N` Hutchinson probes, MATH.md §6),
//! - the full D×D Jacobian with `N = D` tangents ([`jacobian`]) and its trace, the exact
//!   divergence ([`divergence`]) used by the probability-flow likelihood (MATH.md §6).
//!
//! Each lane of a SIMD inner type differentiates its own sample: lanes never mix. Comparisons
//! and [`Real::select`] act on the value, and the tangents follow the selected branch.

use core::ops::{Add, AddAssign, Div, DivAssign, Mul, MulAssign, Neg, Sub, SubAssign};

use crate::lane::Lane;
use crate::real::Real;

/// A value and `N` tangent components: `re + Σⱼ eps[j]·εⱼ` with `εᵢεⱼ = 0`.
#[derive(Clone, Copy, Debug)]
pub struct Dual<R: Real, const N: usize> {
    /// The value.
    pub re: R,
    /// The tangents (directional derivatives along the `N` seeded directions).
    pub eps: [R; N],
}

impl<R: Real, const N: usize> Default for Dual<R, N> {
    #[inline(always)]
    fn default() -> Self {
        Self::constant(R::zero())
    }
}

impl<R: Real, const N: usize> Dual<R, N> {
    /// A constant: all tangents zero.
    #[inline(always)]
    pub fn constant(re: R) -> Self {
        Self { re, eps: [R::zero(); N] }
    }
    /// The `i`-th coordinate variable: tangent 1 in direction `i`, 0 elsewhere (`i ≥ N` gives a
    /// constant).
    #[inline(always)]
    pub fn variable(re: R, i: usize) -> Self {
        Self { re, eps: crate::lane::array_fn(|j| if j == i { R::one() } else { R::zero() }) }
    }
    /// A value with the given tangents.
    #[inline(always)]
    pub fn new(re: R, eps: [R; N]) -> Self {
        Self { re, eps }
    }
    /// The chain rule for a unary function with value `f` and derivative `df` at `self.re`.
    #[inline(always)]
    fn chain(self, f: R, df: R) -> Self {
        Self { re: f, eps: self.eps.map(|e| e * df) }
    }
}

impl<R: Real, const N: usize> Add for Dual<R, N> {
    type Output = Self;
    #[inline(always)]
    fn add(self, rhs: Self) -> Self {
        Self { re: self.re + rhs.re, eps: crate::lane::array_fn(|j| self.eps[j] + rhs.eps[j]) }
    }
}

impl<R: Real, const N: usize> Sub for Dual<R, N> {
    type Output = Self;
    #[inline(always)]
    fn sub(self, rhs: Self) -> Self {
        Self { re: self.re - rhs.re, eps: crate::lane::array_fn(|j| self.eps[j] - rhs.eps[j]) }
    }
}

impl<R: Real, const N: usize> Mul for Dual<R, N> {
    type Output = Self;
    /// The product rule.
    #[allow(clippy::suspicious_arithmetic_impl)]
    #[inline(always)]
    fn mul(self, rhs: Self) -> Self {
        Self {
            re: self.re * rhs.re,
            eps: crate::lane::array_fn(|j| self.eps[j] * rhs.re + self.re * rhs.eps[j]),
        }
    }
}

impl<R: Real, const N: usize> Div for Dual<R, N> {
    type Output = Self;
    /// The quotient rule.
    #[allow(clippy::suspicious_arithmetic_impl)]
    #[inline(always)]
    fn div(self, rhs: Self) -> Self {
        // (a/b)' = (a' − (a/b)·b') / b.
        let q = self.re / rhs.re;
        Self { re: q, eps: crate::lane::array_fn(|j| (self.eps[j] - q * rhs.eps[j]) / rhs.re) }
    }
}

impl<R: Real, const N: usize> Neg for Dual<R, N> {
    type Output = Self;
    #[inline(always)]
    fn neg(self) -> Self {
        Self { re: -self.re, eps: self.eps.map(|e| -e) }
    }
}

macro_rules! assign_ops {
    ($($tr:ident $m:ident $op:tt),*) => {$(
        impl<R: Real, const N: usize> $tr for Dual<R, N> {
            #[inline(always)]
            fn $m(&mut self, rhs: Self) {
                *self = *self $op rhs;
            }
        }
    )*};
}
assign_ops!(AddAssign add_assign +, SubAssign sub_assign -, MulAssign mul_assign *, DivAssign div_assign /);

impl<R: Real, const N: usize> Real for Dual<R, N> {
    type Lane = R::Lane;

    #[inline(always)]
    fn from_f64(x: f64) -> Self {
        Self::constant(R::from_f64(x))
    }
    #[inline(always)]
    fn from_f32(x: f32) -> Self {
        Self::constant(R::from_f32(x))
    }
    #[inline(always)]
    fn from_lane(x: R::Lane) -> Self {
        Self::constant(R::from_lane(x))
    }
    #[inline(always)]
    fn value(self) -> R::Lane {
        self.re.value()
    }
    #[inline(always)]
    fn select(mask: <R::Lane as Lane>::Mask, a: Self, b: Self) -> Self {
        Self {
            re: R::select(mask, a.re, b.re),
            eps: crate::lane::array_fn(|j| R::select(mask, a.eps[j], b.eps[j])),
        }
    }
    #[inline(always)]
    fn sqrt(self) -> Self {
        // (√x)' = 1 / (2√x) (infinite at 0, as the derivative is).
        let s = self.re.sqrt();
        self.chain(s, R::from_f64(0.5) / s)
    }
    #[inline(always)]
    fn abs(self) -> Self {
        // |x|' = sign(x); at x = 0 the tangent is taken as is (right derivative).
        let neg = self.re.lt(R::zero());
        Self { re: self.re.abs(), eps: self.eps.map(|e| R::select(neg, -e, e)) }
    }
    #[inline(always)]
    fn exp(self) -> Self {
        let e = self.re.exp();
        self.chain(e, e)
    }
    #[inline(always)]
    fn expm1(self) -> Self {
        // (eˣ − 1)' = eˣ.
        self.chain(self.re.expm1(), self.re.exp())
    }
    #[inline(always)]
    fn ln(self) -> Self {
        self.chain(self.re.ln(), R::one() / self.re)
    }
    #[inline(always)]
    fn ln_1p(self) -> Self {
        self.chain(self.re.ln_1p(), R::one() / (R::one() + self.re))
    }
    #[inline(always)]
    fn tanh(self) -> Self {
        let y = self.re.tanh();
        self.chain(y, R::one() - y * y)
    }
    #[inline(always)]
    fn softplus(self) -> Self {
        // softplus' = sigmoid.
        self.chain(self.re.softplus(), self.re.sigmoid())
    }
    #[inline(always)]
    fn sigmoid(self) -> Self {
        let y = self.re.sigmoid();
        self.chain(y, y * (R::one() - y))
    }
    #[inline(always)]
    fn sin_cos(self) -> (Self, Self) {
        let (s, c) = self.re.sin_cos();
        (self.chain(s, c), self.chain(c, -s))
    }
}

/// The value f(x) and the Jacobian-vector product J_f(x)·v in one forward pass.
///
/// `f` is the function written over `R: Real`, instantiated at `Dual<R, 1>`.
#[inline]
pub fn jvp<R: Real, const D: usize, const M: usize>(
    f: impl FnOnce(&[Dual<R, 1>; D]) -> [Dual<R, 1>; M],
    x: &[R; D],
    v: &[R; D],
) -> ([R; M], [R; M]) {
    let xd: [Dual<R, 1>; D] = crate::lane::array_fn(|i| Dual::new(x[i], [v[i]]));
    let y = f(&xd);
    (y.map(|yi| yi.re), y.map(|yi| yi.eps[0]))
}

/// The value f(x) and the full Jacobian `J[i][j] = ∂fᵢ/∂xⱼ`, from one pass with `D` tangents.
#[inline]
pub fn jacobian<R: Real, const D: usize, const M: usize>(
    f: impl FnOnce(&[Dual<R, D>; D]) -> [Dual<R, D>; M],
    x: &[R; D],
) -> ([R; M], [[R; D]; M]) {
    let xd: [Dual<R, D>; D] = crate::lane::array_fn(|i| Dual::variable(x[i], i));
    let y = f(&xd);
    (y.map(|yi| yi.re), y.map(|yi| yi.eps))
}

/// The value f(x) and the exact divergence ∇·f(x) = tr J_f(x) of a field ℝᴰ → ℝᴰ, from one pass
/// with `D` tangents (cost ≈ D + 1 evaluations of `f`, no allocation).
#[inline]
pub fn divergence<R: Real, const D: usize>(
    f: impl FnOnce(&[Dual<R, D>; D]) -> [Dual<R, D>; D],
    x: &[R; D],
) -> ([R; D], R) {
    let xd: [Dual<R, D>; D] = crate::lane::array_fn(|i| Dual::variable(x[i], i));
    let y = f(&xd);
    let mut tr = R::zero();
    for (i, yi) in y.iter().enumerate() {
        tr += yi.eps[i];
    }
    (y.map(|yi| yi.re), tr)
}

#[cfg(test)]
mod tests {
    use super::*;
    use wide::{f32x8, f64x4};

    type D1 = Dual<f64, 1>;

    /// Each function's tangent against its analytic derivative, at several points.
    #[test]
    fn every_function_has_its_analytic_derivative() {
        #[allow(clippy::type_complexity)]
        let cases: [(&str, fn(D1) -> D1, fn(f64) -> f64, &[f64]); 10] = [
            ("sqrt", |x| x.sqrt(), |x| 0.5 / libm::sqrt(x), &[0.01, 0.7, 3.0, 1e4]),
            ("abs", |x| x.abs(), |x| if x < 0.0 { -1.0 } else { 1.0 }, &[-2.0, -0.1, 0.3, 5.0]),
            ("exp", |x| x.exp(), libm::exp, &[-20.0, -1.0, 0.0, 0.5, 10.0]),
            ("expm1", |x| x.expm1(), libm::exp, &[-3.0, -1e-8, 1e-8, 0.5, 4.0]),
            ("ln", |x| x.ln(), |x| 1.0 / x, &[1e-6, 0.5, 1.0, 7.0, 1e8]),
            ("ln_1p", |x| x.ln_1p(), |x| 1.0 / (1.0 + x), &[-0.9, -1e-9, 0.0, 2.0, 1e6]),
            (
                "tanh",
                |x| x.tanh(),
                |x| 1.0 / (libm::cosh(x) * libm::cosh(x)),
                &[-5.0, -0.3, 0.0, 0.8, 3.0],
            ),
            (
                "softplus",
                |x| x.softplus(),
                |x| 1.0 / (1.0 + libm::exp(-x)),
                &[-30.0, -1.0, 0.0, 2.0, 40.0],
            ),
            (
                "sigmoid",
                |x| x.sigmoid(),
                |x| libm::exp(-x) / ((1.0 + libm::exp(-x)) * (1.0 + libm::exp(-x))),
                &[-8.0, -0.5, 0.0, 1.5, 9.0],
            ),
            ("sin", |x| x.sin_cos().0, libm::cos, &[-4.0, -1.0, 0.0, 0.3, 2.5, 100.0]),
        ];
        for (name, f, df, xs) in cases {
            for &x in xs {
                let d = f(Dual::variable(x, 0)).eps[0];
                let want = df(x);
                assert!(
                    (d - want).abs() <= 1e-14 * (1.0 + want.abs()),
                    "{name}'({x}) = {d}, want {want}"
                );
            }
        }
        for &x in &[-4.0f64, -1.0, 0.0, 0.3, 2.5, 100.0] {
            let d = Dual::<f64, 1>::variable(x, 0).sin_cos().1.eps[0];
            assert!((d + libm::sin(x)).abs() <= 1e-14, "cos'({x})");
        }
    }

    #[test]
    fn arithmetic_rules() {
        let a = Dual::<f64, 2>::new(3.0, [1.0, 2.0]);
        let b = Dual::<f64, 2>::new(-2.0, [0.5, -1.0]);
        let p = a * b;
        assert_eq!((p.re, p.eps), (-6.0, [1.0 * -2.0 + 3.0 * 0.5, 2.0 * -2.0 - 3.0]));
        let q = a / b;
        assert_eq!(q.re, -1.5);
        for j in 0..2 {
            let want = (a.eps[j] * b.re - a.re * b.eps[j]) / (b.re * b.re);
            assert!((q.eps[j] - want).abs() < 1e-15);
        }
        let s = a - b;
        assert_eq!((s.re, s.eps), (5.0, [0.5, 3.0]));
        let n = -a;
        assert_eq!((n.re, n.eps), (-3.0, [-1.0, -2.0]));
        let mut c = a;
        c *= b;
        c += a;
        c -= b;
        c /= a;
        let want = (a * b + a - b) / a;
        assert_eq!((c.re, c.eps), (want.re, want.eps));
    }

    /// A nontrivial composite map ℝ³ → ℝ³ using every function family.
    fn composite<R: Real>(x: &[R; 3]) -> [R; 3] {
        let [a, b, c] = *x;
        let (s, co) = (a * b).sin_cos();
        [
            (a * a + b.exp()).sqrt() * c.tanh() + s / (R::from_f64(2.0) + co),
            (a - c).softplus().ln() + b.sigmoid() * (c * c).ln_1p(),
            (a * b * c).expm1() / (R::one() + (b - a).abs()),
        ]
    }

    #[test]
    fn jvp_and_jacobian_equal_finite_differences() {
        let points = [[0.3, -0.7, 1.1], [1.5, 0.2, -0.4], [-0.9, 0.8, 0.6]];
        let dirs = [[1.0, 0.0, 0.0], [0.3, -1.2, 0.5], [-0.7, 0.4, 2.0]];
        // Central differences with h = 1e-5 are accurate to ~1e-10 here (h² f''' and ε/h).
        let h = 1e-5;
        for x in &points {
            let (_, jac) = jacobian(composite, x);
            for v in &dirs {
                let (fx, jv) = jvp(composite, x, v);
                assert_eq!(fx, composite(x));
                let xp: [f64; 3] = crate::lane::array_fn(|i| x[i] + h * v[i]);
                let xm: [f64; 3] = crate::lane::array_fn(|i| x[i] - h * v[i]);
                let (fp, fm) = (composite(&xp), composite(&xm));
                for i in 0..3 {
                    let fd = (fp[i] - fm[i]) / (2.0 * h);
                    assert!(
                        (jv[i] - fd).abs() <= 1e-8 * (1.0 + fd.abs()),
                        "jvp {i}: {} vs {fd}",
                        jv[i]
                    );
                    let jv_from_jac: f64 = (0..3).map(|j| jac[i][j] * v[j]).sum();
                    assert!((jv[i] - jv_from_jac).abs() <= 1e-13 * (1.0 + fd.abs()));
                }
            }
        }
    }

    #[test]
    fn divergence_is_jacobian_trace_and_lanes_are_independent() {
        let x = [0.3f64, -0.7, 1.1];
        let (_, jac) = jacobian(composite, &x);
        let (_, div) = divergence(composite, &x);
        assert!((div - (jac[0][0] + jac[1][1] + jac[2][2])).abs() < 1e-14);
        // The same in f64x4 lanes, one lane poisoned with NaN: the other lanes are bit-identical
        // to the scalar computation.
        let xl: [f64x4; 3] =
            crate::lane::array_fn(|i| f64x4::new([x[i], f64::NAN, x[i] + 0.1, x[i]]));
        let (_, dl) = divergence(composite, &xl);
        let (_, d2) = divergence(composite, &[x[0] + 0.1, x[1] + 0.1, x[2] + 0.1]);
        let dl = dl.to_array();
        assert_eq!(dl[0].to_bits(), div.to_bits());
        assert!(dl[1].is_nan());
        assert_eq!(dl[2].to_bits(), d2.to_bits());
        assert_eq!(dl[3].to_bits(), div.to_bits());
        let xf: [f32x8; 3] = crate::lane::array_fn(|i| f32x8::splat(x[i] as f32));
        let (_, df) = divergence(composite, &xf);
        let (_, ds) = divergence(composite, &x.map(|v| v as f32));
        assert_eq!(df.to_array()[5].to_bits(), ds.to_bits());
    }

    #[test]
    fn nested_duals_give_second_derivatives() {
        // d²/dx² of x·exp(x) = (x + 2)eˣ.
        let x = 0.7f64;
        let inner = Dual::<f64, 1>::variable(x, 0);
        let xx = Dual::<Dual<f64, 1>, 1>::new(inner, [Dual::constant(1.0)]);
        let y = xx * xx.exp();
        assert!((y.eps[0].eps[0] - (x + 2.0) * libm::exp(x)).abs() < 1e-14);
    }
}
