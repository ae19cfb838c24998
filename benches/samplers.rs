//! Reverse VP-SDE Euler–Maruyama on an 8-component 2-D Gaussian mixture (exact score),
//! 1 000 steps: sample·steps per second, scalar `f32` lanes vs `f32x8` lanes.
//!
//! Each criterion iteration samples a batch of `BATCH` samples (the reported throughput is
//! BATCH × 1 000 sample·steps per iteration); samples are independent, so 10⁵ samples take
//! 10⁵/BATCH times as long.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use flowscore::sample::{EulerMaruyama, LaneSampler};
use flowscore::score::{GaussianMixture, MixtureScore};
use flowscore::sde::{DEFAULT_STEPS, SAMPLING_EPS_VP, Vp};
use std::hint::black_box;
use wide::f32x8;

/// Samples per criterion iteration.
const BATCH: usize = 1024;

/// Eight anisotropic components on a circle of radius 4 with unequal weights.
fn mixture() -> MixtureScore<2, 8, Vp> {
    let w = [0.05, 0.1, 0.15, 0.2, 0.1, 0.15, 0.1, 0.15];
    let means = core::array::from_fn(|k| {
        let a = core::f32::consts::TAU * k as f32 / 8.0;
        [4.0 * a.cos(), 4.0 * a.sin()]
    });
    let covs = core::array::from_fn(|k| {
        let a = core::f32::consts::TAU * k as f32 / 8.0;
        let (s, c) = a.sin_cos();
        // Rotated diag(0.3, 0.05): elongated along the circle's radius.
        let (l1, l2) = (0.3f32, 0.05f32);
        let off = (l1 - l2) * c * s;
        [[l1 * c * c + l2 * s * s, off], [off, l1 * s * s + l2 * c * c]]
    });
    GaussianMixture::new(w, means, covs).unwrap().under(Vp::default())
}

fn bench(c: &mut Criterion) {
    let model = mixture();
    let em = EulerMaruyama::new(Vp::default(), DEFAULT_STEPS, SAMPLING_EPS_VP).unwrap();
    let mut g = c.benchmark_group("em_vp_mixture8_1000steps");
    g.throughput(Throughput::Elements(BATCH as u64 * DEFAULT_STEPS as u64));
    let mut xs = vec![[0.0f32; 2]; BATCH];
    g.bench_function("scalar_f32", |b| {
        b.iter(|| em.run_batch::<f32, f32>(black_box(&model), 1, 0, black_box(&mut xs)))
    });
    g.bench_function("f32x8", |b| {
        b.iter(|| em.run_batch::<f32x8, f32>(black_box(&model), 1, 0, black_box(&mut xs)))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
