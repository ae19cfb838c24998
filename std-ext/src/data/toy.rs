//! The standard 2-D toy sets, as FFJORD's `lib/toy_data.py` (`inf_train_gen`) generates them
//! (MATH.md §8), drawn from the project's seeded per-sample streams, with their generating
//! densities and entropy floors.
//!
//! Point i draws its random numbers from the stream (seed, i) alone. For 8gaussians, pinwheel,
//! 2spirals and checkerboard that makes point i independent of n (FFJORD's equal class counts
//! become a per-point class draw). moons, circles and rings are sklearn-style grids: the curve
//! parameter θ is evenly spaced over the points of each curve (so it depends on n, as in sklearn),
//! the grid is shuffled by a seeded Fisher–Yates shuffle (sklearn's `shuffle=True`; the shuffle
//! draws from the stream (seed, 2⁶⁴ − 1)) and point i's noise comes from the stream (seed, i).
//!
//! pinwheel follows FFJORD's `einsum("ti,tij->tj", f, R)`, the row vector f times the rotation R
//! by the arm's angle, i.e. f rotated by minus that angle (the mirror image of `R f`; the floor is
//! the same).
//!
//! ## Entropy floors
//! −E log p under the generating density: the best expected test NLL any model can reach
//! (quote held-out NLL as "NLL − floor"). Measured by [`entropy_floor`] with 20 000 points
//! at seed 0 (Monte Carlo, standard error of the mean); the densities integrate over the curve
//! parameter by the midpoint rule ([`ToySet::log_density`]). The test
//! `floors_match_the_table` recomputes them.
//!
//! | set | floor (nats) | standard error | note |
//! |---|---:|---:|---|
//! | moons | 2.3998 | 0.0054 | MATH.md: ≈ 2.39 |
//! | circles | 3.2683 | 0.0054 | MATH.md: ≈ 3.27 |
//! | rings | 2.6247 | 0.0063 | MATH.md: ≈ 2.62 |
//! | 8gaussians | 2.8327 | 0.0070 | ≈ ln 8 + 1 + ln(2π·0.125) = 2.838 |
//! | pinwheel | 2.3189 | 0.0070 | density by root finding over the arm angle |
//! | 2spirals | 2.6401 | 0.0050 | density by quadrature over the spiral parameter |
//! | checkerboard | 3.4657 | 0 | ln 32 exactly (uniform on eight 2×2 squares) |

use flowscore::rng::{LaneSource, Streams};

/// One of the standard 2-D toy sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ToySet {
    /// sklearn `make_moons(noise = 0.1)`·2 + (−1, −0.2).
    Moons,
    /// sklearn `make_circles(factor = 0.5, noise = 0.08)`·3.
    Circles,
    /// Four circles of radius 3, 2.25, 1.5, 0.75 plus N(0, 0.08²) noise.
    Rings,
    /// Eight Gaussians at 4·(cos kπ/4, sin kπ/4) with std 0.5, all divided by 1.414.
    EightGaussians,
    /// Five arms: radial std 0.3, tangential std 0.1, rate 0.25, scaled by 2.
    Pinwheel,
    /// Two interleaved spirals (one the mirror of the other), /3, plus 0.1·N.
    TwoSpirals,
    /// Uniform on eight 2×2 squares of a 4 × 4 checkerboard over [−4, 4]².
    Checkerboard,
}

/// The stream index the grid sets' shuffle draws from.
const SHUFFLE_INDEX: u64 = u64::MAX;
/// Midpoint-rule nodes per curve in the grid sets' densities.
const CURVE_NODES: usize = 2000;
/// Midpoint-rule nodes over the spiral parameter.
const SPIRAL_NODES: usize = 3000;
/// Grid points per period when bracketing the pinwheel's roots.
const PINWHEEL_GRID: usize = 512;
/// 8gaussians' divisor.
const EIGHT_DIV: f64 = 1.414;

/// A floor measurement: −E log p and its standard error.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Floor {
    /// The Monte Carlo mean of −log p(x) over the points.
    pub nats: f64,
    /// Its standard error (0 where −log p is constant on the support).
    pub se: f64,
}

impl ToySet {
    /// All seven, in MATH.md's order.
    pub const ALL: [ToySet; 7] = [
        ToySet::Moons,
        ToySet::Circles,
        ToySet::Rings,
        ToySet::EightGaussians,
        ToySet::Pinwheel,
        ToySet::TwoSpirals,
        ToySet::Checkerboard,
    ];

    /// FFJORD's name of the set (`moons`, `circles`, `rings`, `8gaussians`, `pinwheel`,
    /// `2spirals`, `checkerboard`).
    pub fn name(self) -> &'static str {
        match self {
            ToySet::Moons => "moons",
            ToySet::Circles => "circles",
            ToySet::Rings => "rings",
            ToySet::EightGaussians => "8gaussians",
            ToySet::Pinwheel => "pinwheel",
            ToySet::TwoSpirals => "2spirals",
            ToySet::Checkerboard => "checkerboard",
        }
    }

    /// The set of a name as [`ToySet::name`] gives it.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }

    /// `n` points of the set under `seed` (see the module docs for what depends on n).
    pub fn sample(self, n: usize, seed: u64) -> Vec<[f64; 2]> {
        match self {
            ToySet::Moons => moons(n, seed),
            ToySet::Circles => circles(n, seed),
            ToySet::Rings => rings(n, seed),
            _ => (0..n as u64).map(|i| self.point(&mut Streams::<f64>::new(seed, i))).collect(),
        }
    }

    /// [`ToySet::sample`] in f32.
    pub fn sample_f32(self, n: usize, seed: u64) -> Vec<[f32; 2]> {
        self.sample(n, seed).into_iter().map(|p| [p[0] as f32, p[1] as f32]).collect()
    }

    /// One point of a set without a grid, from its own stream.
    fn point(self, r: &mut Streams<f64>) -> [f64; 2] {
        match self {
            ToySet::EightGaussians => {
                let z: [f64; 2] = r.normal_array();
                let k = ((8.0 * r.uniform()) as usize).min(7);
                let c = eight_centre(k);
                [(z[0] * 0.5 + c[0]) / EIGHT_DIV, (z[1] * 0.5 + c[1]) / EIGHT_DIV]
            }
            ToySet::Pinwheel => {
                let z: [f64; 2] = r.normal_array();
                let arm = ((5.0 * r.uniform()) as usize).min(4);
                let f = [z[0] * 0.3 + 1.0, z[1] * 0.1];
                let a = arm as f64 * core::f64::consts::TAU / 5.0 + 0.25 * f[0].exp();
                let (s, c) = a.sin_cos();
                [2.0 * (f[0] * c + f[1] * s), 2.0 * (-f[0] * s + f[1] * c)]
            }
            ToySet::TwoSpirals => {
                let t = r.uniform().sqrt() * 540.0 * core::f64::consts::TAU / 360.0;
                let dx = -t.cos() * t + r.uniform() * 0.5;
                let dy = t.sin() * t + r.uniform() * 0.5;
                let sign = if r.uniform() < 0.5 { 1.0 } else { -1.0 };
                let z: [f64; 2] = r.normal_array();
                [sign * dx / 3.0 + 0.1 * z[0], sign * dy / 3.0 + 0.1 * z[1]]
            }
            ToySet::Checkerboard => {
                let x1 = r.uniform() * 4.0 - 2.0;
                let b = if r.uniform() < 0.5 { 0.0 } else { 1.0 };
                let x2 = r.uniform() - 2.0 * b + x1.floor().rem_euclid(2.0);
                [2.0 * x1, 2.0 * x2]
            }
            _ => unreachable!("grid sets are drawn by their own functions"),
        }
    }

    /// log p(x) under the generating density (−∞ off the checkerboard's squares).
    pub fn log_density(self, x: [f64; 2]) -> f64 {
        match self {
            ToySet::Moons => {
                // Each moon with weight ½, θ uniform on [0, π], noise 0.1 before the ×2.
                let s = 0.2;
                let m = |th: f64, inner: bool| -> [f64; 2] {
                    let (sn, c) = th.sin_cos();
                    let p = if inner { [1.0 - c, 1.0 - sn - 0.5] } else { [c, sn] };
                    [2.0 * p[0] - 1.0, 2.0 * p[1] - 0.2]
                };
                let a = curve_density(x, s, core::f64::consts::PI, |t| m(t, false));
                let b = curve_density(x, s, core::f64::consts::PI, |t| m(t, true));
                (0.5 * (a + b)).ln()
            }
            ToySet::Circles => {
                let s = 0.24;
                let ring = |r: f64| {
                    curve_density(x, s, core::f64::consts::TAU, |t| [r * t.cos(), r * t.sin()])
                };
                (0.5 * (ring(3.0) + ring(1.5))).ln()
            }
            ToySet::Rings => {
                let s = 0.08;
                let p: f64 = [3.0, 2.25, 1.5, 0.75]
                    .iter()
                    .map(|&r| {
                        curve_density(x, s, core::f64::consts::TAU, |t| [r * t.cos(), r * t.sin()])
                    })
                    .sum();
                (0.25 * p).ln()
            }
            ToySet::EightGaussians => {
                let s = 0.5 / EIGHT_DIV;
                let p: f64 = (0..8)
                    .map(|k| {
                        let c = eight_centre(k);
                        gauss2(x, [c[0] / EIGHT_DIV, c[1] / EIGHT_DIV], s)
                    })
                    .sum();
                (p / 8.0).ln()
            }
            ToySet::Pinwheel => pinwheel_density(x).ln(),
            ToySet::TwoSpirals => spirals_density(x).ln(),
            ToySet::Checkerboard => {
                let (a, b) = (x[0] / 2.0, x[1] / 2.0);
                let inside = (-2.0..2.0).contains(&a)
                    && (-2.0..2.0).contains(&b)
                    && (b.floor().rem_euclid(2.0) == a.floor().rem_euclid(2.0));
                if inside { -(32.0f64).ln() } else { f64::NEG_INFINITY }
            }
        }
    }
}

/// −E log p of `set` over `n` of its points under `seed`, with the standard error of the mean.
pub fn entropy_floor(set: ToySet, n: usize, seed: u64) -> Floor {
    use rayon::prelude::*;
    let pts = set.sample(n, seed);
    let v: Vec<f64> = pts.par_iter().map(|x| -set.log_density(*x)).collect();
    let m = v.iter().sum::<f64>() / n as f64;
    let var = v.iter().map(|a| (a - m).powi(2)).sum::<f64>() / (n as f64 - 1.0).max(1.0);
    Floor { nats: m, se: (var / n as f64).sqrt() }
}

/// The centre k of 8gaussians before the division: 4·(the k-th of FFJORD's unit directions).
fn eight_centre(k: usize) -> [f64; 2] {
    let h = core::f64::consts::FRAC_1_SQRT_2;
    let c = [[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0], [h, h], [h, -h], [-h, h], [-h, -h]];
    [4.0 * c[k][0], 4.0 * c[k][1]]
}

/// The isotropic normal density N(x; m, s² I) in 2-D.
fn gauss2(x: [f64; 2], m: [f64; 2], s: f64) -> f64 {
    let d = (x[0] - m[0]).powi(2) + (x[1] - m[1]).powi(2);
    (-d / (2.0 * s * s)).exp() / (core::f64::consts::TAU * s * s)
}

/// ∫ N(x; c(t), s² I) dt / len over t uniform on [0, len), midpoint rule.
fn curve_density(x: [f64; 2], s: f64, len: f64, c: impl Fn(f64) -> [f64; 2]) -> f64 {
    let h = len / CURVE_NODES as f64;
    (0..CURVE_NODES).map(|j| gauss2(x, c((j as f64 + 0.5) * h), s)).sum::<f64>()
        / CURVE_NODES as f64
}

/// The density of U·w + s·Z at v (U uniform on [0, 1), Z standard normal; w may be negative).
fn box_normal(v: f64, w: f64, s: f64) -> f64 {
    let (a, b) = if w >= 0.0 { (0.0, w) } else { (w, 0.0) };
    let phi = |t: f64| 0.5 * libm_erfc(-t / (s * core::f64::consts::SQRT_2));
    (phi(v - a) - phi(v - b)) / (b - a)
}

/// erfc by the Numerical Recipes Chebyshev fit (relative error below 1.2e-7 everywhere).
fn libm_erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t
        * (-z * z - 1.265_512_23
            + t * (1.000_023_68
                + t * (0.374_091_96
                    + t * (0.096_784_18
                        + t * (-0.186_288_06
                            + t * (0.278_868_07
                                + t * (-1.135_203_98
                                    + t * (1.488_515_87
                                        + t * (-0.822_152_23 + t * 0.170_872_77)))))))))
            .exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

/// 2spirals: ½ Σ_sign ∫ p(t) Π_axes p(x_j | t) dt with p(t) = 2t/T² on [0, T], T = 3π, and
/// x_j | t the spiral point ± (a uniform of width 1/6) + 0.1·N.
fn spirals_density(x: [f64; 2]) -> f64 {
    let tmax = 3.0 * core::f64::consts::PI;
    let h = tmax / SPIRAL_NODES as f64;
    let mut acc = 0.0;
    for j in 0..SPIRAL_NODES {
        let t = (j as f64 + 0.5) * h;
        let pt = 2.0 * t / (tmax * tmax);
        let c = [-t.cos() * t / 3.0, t.sin() * t / 3.0];
        let plus =
            box_normal(x[0] - c[0], 0.5 / 3.0, 0.1) * box_normal(x[1] - c[1], 0.5 / 3.0, 0.1);
        let minus =
            box_normal(x[0] + c[0], -0.5 / 3.0, 0.1) * box_normal(x[1] + c[1], -0.5 / 3.0, 0.1);
        acc += pt * 0.5 * (plus + minus) * h;
    }
    acc
}

/// pinwheel: y = x/2 = f rotated by −φ, φ = arm·2π/5 + 0.25 e^{f₀}. With f = r(cos ψ, sin ψ),
/// ‖y‖ = r and arg y = ψ − φ(r cos ψ); p(y) = Σ_arm ⅕ Σ_roots ψ p_f(f) / |1 + 0.25 e^{f₀} f₁|
/// (the Jacobian of ψ ↦ arg y), and p(x) = p(y)/4.
fn pinwheel_density(x: [f64; 2]) -> f64 {
    use core::f64::consts::{PI, TAU};
    let y = [x[0] / 2.0, x[1] / 2.0];
    let r = (y[0] * y[0] + y[1] * y[1]).sqrt();
    if r == 0.0 {
        return 0.0;
    }
    let th = y[1].atan2(y[0]);
    let pf = |f: [f64; 2]| {
        let a = (f[0] - 1.0) / 0.3;
        let b = f[1] / 0.1;
        (-(a * a + b * b) / 2.0).exp() / (TAU * 0.3 * 0.1)
    };
    let h = |psi: f64| psi - 0.25 * (r * psi.cos()).exp();
    let mut total = 0.0;
    for arm in 0..5 {
        let target = th + arm as f64 * TAU / 5.0;
        // Roots of h(ψ) − target ≡ 0 (mod 2π) for ψ in [−π, π): crossings of the levels
        // target + 2πm between grid points, refined by bisection.
        let g = |psi: f64, m: f64| h(psi) - target - TAU * m;
        let step = TAU / PINWHEEL_GRID as f64;
        for j in 0..PINWHEEL_GRID {
            let (p0, p1) = (-PI + j as f64 * step, -PI + (j + 1) as f64 * step);
            let (h0, h1) = (h(p0) - target, h(p1) - target);
            let (lo, hi) = (h0.min(h1), h0.max(h1));
            let mut m = (lo / TAU).ceil();
            while TAU * m < hi {
                let (mut a, mut b) = (p0, p1);
                let ga = g(a, m);
                for _ in 0..60 {
                    let c = 0.5 * (a + b);
                    if (g(c, m) > 0.0) == (ga > 0.0) {
                        a = c;
                    } else {
                        b = c;
                    }
                }
                let psi = 0.5 * (a + b);
                let f = [r * psi.cos(), r * psi.sin()];
                let jac = (1.0 + 0.25 * f[0].exp() * f[1]).abs();
                total += 0.2 * pf(f) / jac;
                m += 1.0;
            }
        }
    }
    total / 4.0
}

/// The sklearn-style grid sets: `curves[k](j, n_k)` is point j of the n_k points on curve k;
/// the grid is shuffled and point i gets N(0, noise²) noise from the stream (seed, i).
fn grid_set(
    n: usize,
    seed: u64,
    counts: &[usize],
    curve: impl Fn(usize, usize, usize) -> [f64; 2],
    noise: f64,
    post: impl Fn([f64; 2]) -> [f64; 2],
) -> Vec<[f64; 2]> {
    let mut grid: Vec<[f64; 2]> = Vec::with_capacity(n);
    for (k, &nk) in counts.iter().enumerate() {
        grid.extend((0..nk).map(|j| curve(k, j, nk)));
    }
    let mut r = Streams::<f64>::new(seed, SHUFFLE_INDEX);
    for i in (1..grid.len()).rev() {
        let j = ((r.uniform() * (i + 1) as f64) as usize).min(i);
        grid.swap(i, j);
    }
    grid.into_iter()
        .enumerate()
        .map(|(i, p)| {
            let z: [f64; 2] = Streams::<f64>::new(seed, i as u64).normal_array();
            post([p[0] + noise * z[0], p[1] + noise * z[1]])
        })
        .collect()
}

/// sklearn's `np.linspace(0, π, n)` (end point included).
fn linspace_pi(j: usize, n: usize) -> f64 {
    if n <= 1 { 0.0 } else { core::f64::consts::PI * j as f64 / (n - 1) as f64 }
}

fn moons(n: usize, seed: u64) -> Vec<[f64; 2]> {
    let out = n / 2;
    grid_set(
        n,
        seed,
        &[out, n - out],
        |k, j, nk| {
            let (s, c) = linspace_pi(j, nk).sin_cos();
            if k == 0 { [c, s] } else { [1.0 - c, 1.0 - s - 0.5] }
        },
        0.1,
        |p| [2.0 * p[0] - 1.0, 2.0 * p[1] - 0.2],
    )
}

fn circles(n: usize, seed: u64) -> Vec<[f64; 2]> {
    let out = n / 2;
    grid_set(
        n,
        seed,
        &[out, n - out],
        |k, j, nk| {
            let (s, c) = (core::f64::consts::TAU * j as f64 / nk as f64).sin_cos();
            let r = if k == 0 { 1.0 } else { 0.5 };
            [r * c, r * s]
        },
        0.08,
        |p| [3.0 * p[0], 3.0 * p[1]],
    )
}

fn rings(n: usize, seed: u64) -> Vec<[f64; 2]> {
    let q = n / 4;
    grid_set(
        n,
        seed,
        &[q, q, q, n - 3 * q],
        |k, j, nk| {
            let (s, c) = (core::f64::consts::TAU * j as f64 / nk as f64).sin_cos();
            let r = [1.0, 0.75, 0.5, 0.25][k] * 3.0;
            [r * c, r * s]
        },
        0.08,
        |p| p,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The floors of the module docs' table (seed 0, 20 000 points), recomputed here with
    /// 10 000 points at seed 0.
    const TABLE: [(ToySet, f64); 7] = [
        (ToySet::Moons, 2.3998),
        (ToySet::Circles, 3.2683),
        (ToySet::Rings, 2.6247),
        (ToySet::EightGaussians, 2.8327),
        (ToySet::Pinwheel, 2.3189),
        (ToySet::TwoSpirals, 2.6401),
        (ToySet::Checkerboard, 3.4657),
    ];

    #[test]
    fn floors_match_the_table() {
        for (set, want) in TABLE {
            let f = entropy_floor(set, 10_000, 0);
            eprintln!("{}: {:.4} ± {:.4}", set.name(), f.nats, f.se);
            assert!((f.nats - want).abs() <= 3.0 * f.se + 0.01, "{}: {f:?} vs {want}", set.name());
        }
        // The floors MATH.md §8 states.
        let ck = entropy_floor(ToySet::Checkerboard, 1000, 1);
        assert!((ck.nats - 32f64.ln()).abs() < 1e-12 && ck.se < 1e-12);
        for (set, want) in [
            (ToySet::EightGaussians, 8f64.ln() + 1.0 + (core::f64::consts::TAU * 0.125).ln()),
            (ToySet::Moons, 2.39),
            (ToySet::Rings, 2.62),
            (ToySet::Circles, 3.27),
        ] {
            let f = entropy_floor(set, 10_000, 7);
            assert!((f.nats - want).abs() <= 3.0 * f.se + 0.01, "{}: {f:?} vs {want}", set.name());
        }
    }

    #[test]
    fn every_density_integrates_to_one() {
        // Midpoint rule over [-6, 6]² (every set lies well inside; cells of 0.08, spectrally
        // accurate for the narrowest noise, 0.08).
        let cells = 150;
        let h = 12.0 / cells as f64;
        use rayon::prelude::*;
        for set in ToySet::ALL {
            // Rows in parallel (each density takes a quadrature of its own).
            let total: f64 = (0..cells)
                .into_par_iter()
                .map(|i| {
                    (0..cells)
                        .map(|j| {
                            let x = [-6.0 + (i as f64 + 0.5) * h, -6.0 + (j as f64 + 0.5) * h];
                            set.log_density(x).exp() * h * h
                        })
                        .sum::<f64>()
                })
                .sum();
            assert!((total - 1.0).abs() < 5e-3, "{}: {total}", set.name());
        }
    }

    #[test]
    fn reproducible_by_seed_and_independent_of_n() {
        for set in ToySet::ALL {
            let a = set.sample(500, 3);
            assert_eq!(a, set.sample(500, 3), "{}", set.name());
            assert_ne!(a, set.sample(500, 4), "{}", set.name());
            assert!(a.iter().flatten().all(|v| v.is_finite()));
        }
        for set in
            [ToySet::EightGaussians, ToySet::Pinwheel, ToySet::TwoSpirals, ToySet::Checkerboard]
        {
            let long = set.sample(300, 9);
            assert_eq!(set.sample(100, 9)[..], long[..100], "{}", set.name());
        }
        // Grid sets: the same grid points, shuffled, with point i's noise from stream (seed, i).
        let a = ToySet::Rings.sample(400, 5);
        let radii = |v: &[[f64; 2]]| {
            let mut r: Vec<f64> = v.iter().map(|p| (p[0] * p[0] + p[1] * p[1]).sqrt()).collect();
            r.sort_by(f64::total_cmp);
            r
        };
        assert_eq!(radii(&a).len(), 400);
        assert_eq!(ToySet::from_name("2spirals"), Some(ToySet::TwoSpirals));
        assert_eq!(ToySet::sample_f32(ToySet::Moons, 3, 0).len(), 3);
    }

    fn mean_std(v: impl Iterator<Item = f64>) -> (f64, f64) {
        let v: Vec<f64> = v.collect();
        let m = v.iter().sum::<f64>() / v.len() as f64;
        let s = (v.iter().map(|a| (a - m).powi(2)).sum::<f64>() / v.len() as f64).sqrt();
        (m, s)
    }

    #[test]
    fn shapes_follow_the_definitions() {
        let n = 20_000;
        // rings: radii 3, 2.25, 1.5, 0.75 with equal counts and noise 0.08.
        let pts = ToySet::Rings.sample(n, 1);
        for (k, r0) in [3.0, 2.25, 1.5, 0.75].into_iter().enumerate() {
            let rs: Vec<f64> = pts
                .iter()
                .map(|p| (p[0] * p[0] + p[1] * p[1]).sqrt())
                .filter(|r| (r - r0).abs() < 0.375)
                .collect();
            assert_eq!(rs.len(), n / 4, "ring {k}");
            let (m, s) = mean_std(rs.into_iter());
            assert!((m - r0).abs() < 0.01 && (s - 0.08).abs() < 0.005, "ring {k}: {m} {s}");
        }
        // circles: radii 3 and 1.5, noise 0.24, equal halves.
        let pts = ToySet::Circles.sample(n, 1);
        let outer: Vec<f64> =
            pts.iter().map(|p| (p[0] * p[0] + p[1] * p[1]).sqrt()).filter(|r| *r > 2.25).collect();
        assert!((outer.len() as f64 - n as f64 / 2.0).abs() < 60.0, "{}", outer.len());
        let (m, s) = mean_std(outer.into_iter());
        assert!((m - 3.0).abs() < 0.02 && (s - 0.24).abs() < 0.01, "{m} {s}");
        // 8gaussians: each point near one of the eight centres, std 0.5/1.414, equal counts.
        let pts = ToySet::EightGaussians.sample(n, 1);
        let mut counts = [0usize; 8];
        let mut dev = Vec::new();
        for p in &pts {
            let (k, d) = (0..8)
                .map(|k| {
                    let c = eight_centre(k);
                    (k, [p[0] - c[0] / EIGHT_DIV, p[1] - c[1] / EIGHT_DIV])
                })
                .min_by(|a, b| (a.1[0].hypot(a.1[1])).total_cmp(&b.1[0].hypot(b.1[1])))
                .unwrap();
            counts[k] += 1;
            dev.push(d[0]);
            dev.push(d[1]);
        }
        assert!(counts.iter().all(|&c| (c as f64 - n as f64 / 8.0).abs() < 150.0), "{counts:?}");
        let (m, s) = mean_std(dev.into_iter());
        assert!(m.abs() < 0.01 && (s - 0.5 / EIGHT_DIV).abs() < 0.006, "{m} {s}");
        // checkerboard: uniform on the eight squares, nothing elsewhere.
        let pts = ToySet::Checkerboard.sample(n, 1);
        let mut sq = std::collections::HashMap::new();
        for p in &pts {
            assert!(ToySet::Checkerboard.log_density(*p).is_finite(), "{p:?}");
            *sq.entry(((p[0] / 2.0).floor() as i32, (p[1] / 2.0).floor() as i32)).or_insert(0) += 1;
        }
        assert_eq!(sq.len(), 8);
        assert!(sq.values().all(|&c| (c as f64 - n as f64 / 8.0).abs() < 150.0), "{sq:?}");
        // moons: the outer arc (upper) centred at (−1, −0.2) with radius 2, the inner one at
        // (1, 0.8) with radius 2, noise 0.2 each side of the arc.
        let pts = ToySet::Moons.sample(n, 1);
        let (mut up, mut down) = (Vec::new(), Vec::new());
        for p in &pts {
            let ro = (p[0] + 1.0).hypot(p[1] + 0.2);
            let ri = (p[0] - 1.0).hypot(p[1] - 0.8);
            if (ro - 2.0).abs() < (ri - 2.0).abs() { up.push(ro) } else { down.push(ri) }
        }
        assert!((up.len() as f64 - n as f64 / 2.0).abs() < 300.0, "{}", up.len());
        let (m, s) = mean_std(up.into_iter());
        assert!((m - 2.0).abs() < 0.02 && (s - 0.2).abs() < 0.02, "{m} {s}");
        let (m, _) = mean_std(down.into_iter());
        assert!((m - 2.0).abs() < 0.02, "{m}");
        // 2spirals: symmetric under x -> -x, mean 0; pinwheel: five arms, mean radius ~2.
        let (mx, _) = mean_std(ToySet::TwoSpirals.sample(n, 1).iter().map(|p| p[0]));
        assert!(mx.abs() < 0.03, "{mx}");
        let (mr, _) = mean_std(ToySet::Pinwheel.sample(n, 1).iter().map(|p| p[0].hypot(p[1])));
        assert!((mr - 2.0).abs() < 0.1, "{mr}");
    }
}
