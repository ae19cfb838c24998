//! The planar-flow job of `scripts/bench-peers.sh`: a 2-D flow of K = 10 planar layers (the
//! parameters of `benches/planar.rs`) draws 10⁶ samples with their log-densities through
//! `flowscore_std::par::flow_sample_and_log_prob` (all threads, the lanes of the run-time
//! dispatched path: `FLOWSCORE_SIMD=baseline` for the baseline). Prints the best of three runs
//! and the mean log-density (which `benches/peers/planar_flow.py` also prints).
//!
//! `cargo run --release -p flowscore-std --example planar_job [-- N]`

use std::time::Instant;

use flowscore::dist::StandardNormal;
use flowscore::flow::{Flow, Planar};
use flowscore::rng::mix64;
use flowscore_std::par::flow_sample_and_log_prob;

/// Uniform on [−1, 1) from a counter (the layers' parameters, as in `benches/planar.rs`).
fn param(i: u64) -> f32 {
    ((mix64(i) >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = std::env::args().nth(1).map_or(Ok(1_000_000), |a| a.parse())?;
    let mut layers = Vec::new();
    for k in 0..10u64 {
        let p = |j| param(10 * k + j);
        layers.push(Planar::new([1.5 * p(0), 1.5 * p(1)], [1.5 * p(2), 1.5 * p(3)], p(4))?);
    }
    let layers: [Planar<2>; 10] = layers.try_into().map_err(|_| "ten layers")?;
    let flow = Flow::new(StandardNormal, layers);
    let (mut xs, mut lps) = (vec![[0.0f32; 2]; n], vec![0.0f32; n]);
    let mut best = f64::INFINITY;
    for _ in 0..3 {
        let t = Instant::now();
        flow_sample_and_log_prob(&flow, 2015, &mut xs, &mut lps)?;
        best = best.min(t.elapsed().as_secs_f64());
    }
    let mean = lps.iter().map(|v| f64::from(*v)).sum::<f64>() / n as f64;
    println!(
        "planar D=2 K=10: {n} samples + log-densities in {best:.3} s = {:.2} M points/s \
         ({} threads, {} lanes), mean log p {mean:.4}",
        n as f64 / best / 1e6,
        rayon::current_num_threads(),
        flowscore_std::simd::Isa::active().name()
    );
    Ok(())
}
