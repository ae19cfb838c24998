//! Planar flow throughput: D = 2, K = 10, `sample_and_log_prob` on 10⁶ points, scalar `f32`
//! against the batched `f32x8` path, and the "transcendental floor": only the same K tanh and
//! K ln_1p per point on the same lanes, with no random numbers, no base density and no
//! parameter handling. Figures and commands: BENCHMARKS.md, "Planar flow".

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use flowscore::Real;
use flowscore::dist::StandardNormal;
use flowscore::flow::{Flow, Planar};
use flowscore::rng::{Streams, mix64};
use wide::f32x8;

/// Points per benchmark iteration.
const N: usize = 1_000_000;
/// Dimension.
const D: usize = 2;
/// Number of planar layers.
const K: usize = 10;
/// Seed of the samples.
const SEED: u64 = 2015;

/// Uniform on [−1, 1) from a counter (for parameters).
fn param(i: u64) -> f32 {
    ((mix64(i) >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
}

fn planar_flow() -> Flow<StandardNormal, [Planar<D>; K]> {
    let layers = core::array::from_fn(|k| {
        let k = 10 * k as u64;
        Planar::new(
            [1.5 * param(k), 1.5 * param(k + 1)],
            [1.5 * param(k + 2), 1.5 * param(k + 3)],
            param(k + 4),
        )
        .expect("finite parameters")
    });
    Flow::new(StandardNormal, layers)
}

fn planar(c: &mut Criterion) {
    let flow = black_box(planar_flow());
    let mut xs = vec![[0.0f32; D]; N];
    let mut lps = vec![0.0f32; N];
    let mut group = c.benchmark_group("planar_d2_k10");
    group.throughput(Throughput::Elements(N as u64));

    group.bench_function("sample_and_log_prob/f32", |b| {
        b.iter(|| {
            for (i, (x, lp)) in xs.iter_mut().zip(lps.iter_mut()).enumerate() {
                let (xi, lpi): ([f32; D], f32) =
                    flow.sample_and_log_prob(&mut Streams::new(SEED, i as u64));
                *x = xi;
                *lp = lpi;
            }
            black_box((&xs, &lps));
        })
    });

    group.bench_function("sample_and_log_prob/f32x8", |b| {
        b.iter(|| {
            flow.sample_and_log_prob_batch(SEED, 0, &mut xs, &mut lps).expect("lengths match");
            black_box((&xs, &lps));
        })
    });

    // The floor: per point, K tanh and K ln_1p on f32x8 lanes, nothing else.
    let bias: [f32; K] = black_box(core::array::from_fn(|k| param(1000 + k as u64)));
    let coef: [f32; K] = black_box(core::array::from_fn(|k| 0.5 * param(2000 + k as u64)));
    let inputs: Vec<f32> = (0..N).map(|i| 2.0 * param(3000 + i as u64)).collect();
    group.bench_function("transcendental_floor/f32x8", |b| {
        b.iter(|| {
            for (chunk, out) in inputs.chunks_exact(8).zip(lps.chunks_exact_mut(8)) {
                let mut a = f32x8::from(<[f32; 8]>::try_from(chunk).expect("chunk of 8"));
                let mut acc = f32x8::splat(0.0);
                // Chained like the layers: each tanh's argument depends on the previous one.
                for k in 0..K {
                    let t = Real::tanh(a + f32x8::splat(bias[k]));
                    let ct = t * f32x8::splat(coef[k]);
                    acc += Real::ln_1p(ct);
                    a += ct;
                }
                out.copy_from_slice(&acc.to_array());
            }
            black_box(&lps);
        })
    });
    // The same floor on scalar f32, for context.
    group.bench_function("transcendental_floor/f32", |b| {
        b.iter(|| {
            for (&x, out) in inputs.iter().zip(lps.iter_mut()) {
                let mut a = x;
                let mut acc = 0.0f32;
                for k in 0..K {
                    let t = Real::tanh(a + bias[k]);
                    let ct = t * coef[k];
                    acc += Real::ln_1p(ct);
                    a += ct;
                }
                *out = acc;
            }
            black_box(&lps);
        })
    });
    group.finish();
}

criterion_group!(benches, planar);
criterion_main!(benches);
