//! Shared checks of sampler output against exact Gaussian-mixture targets (used by
//! `tests/samplers.rs`, `tests/sde_solvers.rs` and `examples/sampler_quality.rs`).
//!
//! - **mode weights**: the mean posterior responsibility (1/N) Σₙ γₖ(xₙ) estimates πₖ without
//!   bias for exact samples, with standard error ≤ √(πₖ(1−πₖ)/N) ≤ 0.0035 at N = 20 000, so
//!   ±0.02 is a > 5σ bound;
//! - **sliced energy distance**: the Cramér distance 2∫(F − G)² of 1-D projections, averaged
//!   over directions (in 2-D 16 equally spaced angles, in D > 2 dimensions 32 seeded random
//!   unit directions), in O(N log N), calibrated by a permutation test (200 relabellings of
//!   the pooled set; passes when the p-value (1 + #{perm ≥ obs})/201 is ≥ 0.01).
#![allow(dead_code)]

use flowscore::dist::Distribution;
use flowscore::rng::{LaneSource, Streams};
use flowscore::score::GaussianMixture;

/// Samples per check.
pub const N: usize = 20_000;
/// Half-width of the mode-weight check (> 5 standard errors at N = 20 000).
pub const WEIGHT_TOL: f64 = 0.02;
/// Projection directions of the sliced energy distance in 2-D.
pub const DIRECTIONS_2D: usize = 16;
/// Projection directions of the sliced energy distance in more than 2 dimensions.
pub const DIRECTIONS_HIGH: usize = 32;
/// Random relabellings of the permutation test.
pub const PERMUTATIONS: usize = 200;
/// Significance level of the two-sample test.
pub const ALPHA: f64 = 0.01;

/// A random mixture in ℝᴰ with K components, seeded: weights ∝ 0.5 + U(0, 1), means 3·N(0, I),
/// covariances A Aᵀ/D + 0.1 I with A standard normal (anisotropic, rotated). The same
/// construction as the likelihood tests' `random_mixture`.
pub fn random_mixture<const D: usize, const K: usize>(seed: u64) -> GaussianMixture<D, K> {
    let mut rng = Streams::<f64>::new(seed, 0);
    let raw: [f64; K] = core::array::from_fn(|_| 0.5 + rng.uniform());
    let total: f64 = raw.iter().sum();
    let mut weights = raw.map(|w| (w / total) as f32);
    let rest: f32 = weights[..K - 1].iter().sum();
    weights[K - 1] = 1.0 - rest;
    let mut means = [[0.0f32; D]; K];
    let mut covs = [[[0.0f32; D]; D]; K];
    for k in 0..K {
        let a: [[f64; D]; D] = core::array::from_fn(|_| rng.normal_array());
        for i in 0..D {
            means[k][i] = (3.0 * rng.normal()) as f32;
            for j in 0..=i {
                let v: f64 = (0..D).map(|l| a[i][l] * a[j][l]).sum::<f64>() / D as f64;
                let v = (v + if i == j { 0.1 } else { 0.0 }) as f32;
                covs[k][i][j] = v;
                covs[k][j][i] = v;
            }
        }
    }
    GaussianMixture::new(weights, means, covs).unwrap()
}

/// `n` exact samples of `m` under `seed` (sample i from `Streams::new(seed, i)`).
pub fn exact_n<const D: usize, const K: usize>(
    m: &GaussianMixture<D, K>,
    seed: u64,
    n: usize,
) -> Vec<[f32; D]> {
    (0..n as u64).map(|i| m.sample(&mut Streams::<f32>::new(seed, i))).collect()
}

/// `N` exact samples of `m` under `seed`.
pub fn exact<const D: usize, const K: usize>(
    m: &GaussianMixture<D, K>,
    seed: u64,
) -> Vec<[f32; D]> {
    exact_n(m, seed, N)
}

/// Mean posterior responsibilities (1/N) Σ γₖ(x) under p₀, in f64.
pub fn weights_of<const D: usize, const K: usize>(
    m: &GaussianMixture<D, K>,
    xs: &[[f32; D]],
) -> [f64; K] {
    let mut w = [0.0f64; K];
    for x in xs {
        let g = m.responsibilities(&x.map(|v| v as f64), 1.0, 0.0);
        for (wk, gk) in w.iter_mut().zip(g.iter()) {
            *wk += gk / xs.len() as f64;
        }
    }
    w
}

/// The largest |weight − πₖ| of `xs`.
pub fn weight_error<const D: usize, const K: usize>(
    m: &GaussianMixture<D, K>,
    xs: &[[f32; D]],
) -> f64 {
    let w = weights_of(m, xs);
    w.iter().zip(m.weights().iter()).map(|(a, b)| (a - *b as f64).abs()).fold(0.0, f64::max)
}

/// 2∫(F − G)² dx of the 1-D empirical CDFs, walking the pooled values in sorted order
/// (`order`, with `gaps[r]` the distance from the r-th to the (r+1)-th sorted value) with
/// labels `in_a`. The gaps are contiguous, so each step reads one label at random (the labels
/// of 40 000 points fit in the L1 cache) instead of two values and a label.
fn cramer(gaps: &[f64], order: &[u32], in_a: &[bool], na: f64, nb: f64) -> f64 {
    let (ia, ib) = (1.0 / na, 1.0 / nb);
    let (mut fa, mut fb, mut acc) = (0.0f64, 0.0f64, 0.0f64);
    for (&i, gap) in order.iter().zip(gaps) {
        // Without a branch (the labels are random, a branch would miss half the time): adding
        // an exact 0 to the other CDF leaves it unchanged.
        let a = f64::from(u8::from(in_a[i as usize]));
        fa += a * ia;
        fb += (1.0 - a) * ib;
        acc += (fa - fb) * (fa - fb) * gap;
    }
    2.0 * acc
}

/// The projection directions for dimension D.
pub fn directions<const D: usize>() -> Vec<[f64; D]> {
    if D == 2 {
        (0..DIRECTIONS_2D)
            .map(|d| {
                let th = core::f64::consts::PI * d as f64 / DIRECTIONS_2D as f64;
                let (s, c) = th.sin_cos();
                core::array::from_fn(|i| if i == 0 { c } else { s })
            })
            .collect()
    } else {
        (0..DIRECTIONS_HIGH as u64)
            .map(|d| {
                let v: [f64; D] = Streams::<f64>::new(0xd1ec, d).normal_array();
                let n = v.iter().map(|x| x * x).sum::<f64>().sqrt();
                v.map(|x| x / n)
            })
            .collect()
    }
}

/// For each direction, the gaps between consecutive sorted projections of the pooled samples
/// and the sort order (see [`cramer`]).
fn projections<const D: usize>(pooled: &[[f64; D]]) -> Vec<(Vec<f64>, Vec<u32>)> {
    directions::<D>()
        .iter()
        .map(|dir| {
            let z: Vec<f64> =
                pooled.iter().map(|x| x.iter().zip(dir.iter()).map(|(a, b)| a * b).sum()).collect();
            let mut order: Vec<u32> = (0..pooled.len() as u32).collect();
            order.sort_by(|&i, &j| z[i as usize].total_cmp(&z[j as usize]));
            let gaps = order.windows(2).map(|w| z[w[1] as usize] - z[w[0] as usize]).collect();
            (gaps, order)
        })
        .collect()
}

/// The sliced energy distance of `a` vs `b` (no test).
pub fn sliced_energy<const D: usize>(a: &[[f32; D]], b: &[[f32; D]]) -> f64 {
    let pooled: Vec<[f64; D]> = a.iter().chain(b.iter()).map(|x| x.map(|v| v as f64)).collect();
    let proj = projections(&pooled);
    let labels: Vec<bool> = (0..pooled.len()).map(|i| i < a.len()).collect();
    let (na, nb) = (a.len() as f64, b.len() as f64);
    proj.iter().map(|(z, o)| cramer(z, o, &labels, na, nb)).sum::<f64>() / proj.len() as f64
}

/// Sliced energy distance of `a` vs `b` and its permutation p-value.
pub fn energy_test<const D: usize>(a: &[[f32; D]], b: &[[f32; D]], seed: u64) -> (f64, f64) {
    let pooled: Vec<[f64; D]> = a.iter().chain(b.iter()).map(|x| x.map(|v| v as f64)).collect();
    let n = pooled.len();
    let proj = projections(&pooled);
    let (na, nb) = (a.len() as f64, b.len() as f64);
    let stat = |labels: &[bool]| {
        proj.iter().map(|(z, o)| cramer(z, o, labels, na, nb)).sum::<f64>() / proj.len() as f64
    };
    let mut labels: Vec<bool> = (0..n).map(|i| i < a.len()).collect();
    let obs = stat(&labels);
    let mut rng = Streams::<f64>::new(seed, 0);
    let mut above = 0usize;
    for _ in 0..PERMUTATIONS {
        // Fisher–Yates.
        for i in (1..n).rev() {
            let j = ((LaneSource::<f64>::uniform(&mut rng) * (i + 1) as f64) as usize).min(i);
            labels.swap(i, j);
        }
        if stat(&labels) >= obs {
            above += 1;
        }
    }
    (obs, (1 + above) as f64 / (1 + PERMUTATIONS) as f64)
}

/// Both checks of `xs` against the mixture `m`.
pub fn check_against<const D: usize, const K: usize>(
    name: &str,
    m: &GaussianMixture<D, K>,
    xs: &[[f32; D]],
) {
    assert!(xs.iter().all(|x| x.iter().all(|v| v.is_finite())), "{name}: non-finite");
    let w = weights_of(m, xs);
    let (stat, p) = energy_test(xs, &exact(m, 9_999), 77);
    println!("{name}: weights {w:.4?}, sliced energy {stat:.3e}, p = {p:.3}");
    for (k, (got, want)) in w.iter().zip(m.weights().iter()).enumerate() {
        let err = (got - *want as f64).abs();
        assert!(err <= WEIGHT_TOL, "{name}: weight {k} is {got:.4}, want {want}");
    }
    assert!(p >= ALPHA, "{name}: sliced energy distance {stat:.3e}, permutation p = {p:.4}");
}
