//! Throughput of the lane math kernels: 10⁶ values per iteration, scalar `f32` against `f32x8`
//! (same kernel, same bits), with the `libm` crate's scalar `f32` functions as a reference point.
//!
//! Times are the on-CPU time of the benchmarking thread where Linux reports it
//! (`/proc/thread-self/schedstat`), so that time spent waiting for a core on a shared machine is
//! not counted; elsewhere they are wall-clock times.
//!
//! Run: `cargo bench --bench math` (portable x86-64 baseline, SSE2) or
//! `RUSTFLAGS="-C target-cpu=x86-64-v3" cargo bench --bench math` (AVX2).

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use flowscore::math;
use wide::f32x8;

/// Values per iteration.
const N: usize = 1_000_000;

/// `N` values spread evenly over `[lo, hi]` (deterministic, no RNG needed for throughput).
fn inputs(lo: f32, hi: f32) -> Vec<f32> {
    (0..N).map(|i| lo + (hi - lo) * (i as f32 + 0.5) / N as f32).collect()
}

/// Nanoseconds this thread has run on a CPU, if the OS says (Linux `schedstat`).
fn thread_cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

/// Time of `iters` calls of `f`: on-CPU time where available, else wall-clock time.
fn timed(iters: u64, mut f: impl FnMut()) -> Duration {
    let wall = Instant::now();
    let cpu = thread_cpu_ns();
    for _ in 0..iters {
        f();
    }
    match (cpu, thread_cpu_ns()) {
        (Some(a), Some(b)) => Duration::from_nanos(b.saturating_sub(a)),
        _ => wall.elapsed(),
    }
}

/// Runs `f1` per element and `f8` per chunk of 8 over the same inputs.
fn family(
    c: &mut Criterion,
    name: &str,
    xs: &[f32],
    f1: fn(f32) -> f32,
    f8: fn(f32x8) -> f32x8,
    reference: fn(f32) -> f32,
) {
    let mut out = vec![0.0f32; xs.len()];
    let mut g = c.benchmark_group(format!("math/{name}"));
    g.throughput(Throughput::Elements(xs.len() as u64));
    g.bench_function("f32", |b| {
        b.iter_custom(|iters| {
            timed(iters, || {
                for (o, &x) in out.iter_mut().zip(black_box(xs)) {
                    *o = f1(x);
                }
                black_box(&out);
            })
        })
    });
    g.bench_function("f32x8", |b| {
        b.iter_custom(|iters| {
            timed(iters, || {
                for (o, x) in out.chunks_exact_mut(8).zip(black_box(xs).chunks_exact(8)) {
                    let v = f8(f32x8::from(<[f32; 8]>::try_from(x).unwrap_or_default()));
                    o.copy_from_slice(v.as_array());
                }
                black_box(&out);
            })
        })
    });
    g.bench_function("libm_f32", |b| {
        b.iter_custom(|iters| {
            timed(iters, || {
                for (o, &x) in out.iter_mut().zip(black_box(xs)) {
                    *o = reference(x);
                }
                black_box(&out);
            })
        })
    });
    g.finish();
}

fn bench_math(c: &mut Criterion) {
    family(c, "exp", &inputs(-10.0, 10.0), math::exp, math::exp, libm::expf);
    family(c, "ln", &inputs(1e-3, 1e3), math::ln, math::ln, libm::logf);
    family(c, "tanh", &inputs(-5.0, 5.0), math::tanh, math::tanh, libm::tanhf);
    family(c, "ln_1p", &inputs(-0.5, 10.0), math::ln_1p, math::ln_1p, libm::log1pf);
}

criterion_group!(benches, bench_math);
criterion_main!(benches);
