//! The demo's sample-quality metrics: the weight found for each mode and the energy distance
//! between two sample sets.

use flowscore::score::GaussianMixture;
use rayon::prelude::*;

/// Energy distance 2E‖X−Y‖ − E‖X−X'‖ − E‖Y−Y'‖ between the two empirical distributions
/// (V-statistic, so it is ≥ 0 and 0 only for equal sets); per-row sums in a fixed order, so
/// the value does not depend on the thread count.
pub fn energy_distance<const D: usize>(a: &[[f64; D]], b: &[[f64; D]]) -> f64 {
    let dist = |p: &[f64; D], q: &[f64; D]| -> f64 {
        (0..D).map(|i| (p[i] - q[i]).powi(2)).sum::<f64>().sqrt()
    };
    let mean_cross = |x: &[[f64; D]], y: &[[f64; D]]| -> f64 {
        let rows: Vec<f64> =
            x.par_iter().map(|p| y.iter().map(|q| dist(p, q)).sum::<f64>()).collect();
        rows.iter().sum::<f64>() / (x.len() * y.len()).max(1) as f64
    };
    2.0 * mean_cross(a, b) - mean_cross(a, a) - mean_cross(b, b)
}

/// Fraction of samples per mode and the largest deviation from the weights.
/// A sample's mode is the component with the largest responsibility γₖ(x) at t = 0.
pub fn mode_weights<const D: usize, const K: usize>(
    mix: &GaussianMixture<D, K>,
    xs: &[[f64; D]],
) -> (Vec<f64>, f64) {
    let mut counts = [0usize; K];
    for x in xs {
        let g = mix.responsibilities(x, 1.0, 0.0);
        let mut best = 0;
        for (k, gk) in g.iter().enumerate() {
            if *gk > g[best] {
                best = k;
            }
        }
        counts[best] += 1;
    }
    let fr: Vec<f64> = counts.iter().map(|&c| c as f64 / xs.len().max(1) as f64).collect();
    let err =
        fr.iter().zip(mix.weights()).map(|(f, w)| (f - f64::from(*w)).abs()).fold(0.0, f64::max);
    (fr, err)
}
