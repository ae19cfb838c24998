//! Throughput of the lane math kernels: 10⁶ values per iteration, scalar `f32` against `f32x8`
//! (same kernel, same bits), with the `libm` crate's scalar `f32` functions as a reference point
//! and, on x86-64 Linux with glibc, glibc's vectorized `libmvec` (its SSE 4-wide and AVX2
//! 8-wide variants, chosen here by the CPU's features): the reference SIMD kernels, which are
//! neither bit-identical across widths nor to ours (they use fused multiply-adds and tables).
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
    #[cfg(all(target_arch = "x86_64", target_os = "linux", target_env = "gnu"))]
    if let Some(mv) = libmvec::family(name) {
        g.bench_function("libmvec_sse", |b| {
            b.iter_custom(|iters| timed(iters, || libmvec::run4(mv, black_box(xs), &mut out)))
        });
        if std::arch::is_x86_feature_detected!("avx2") {
            g.bench_function("libmvec_avx2", |b| {
                b.iter_custom(|iters| timed(iters, || libmvec::run8(mv, black_box(xs), &mut out)))
            });
        }
    }
    g.finish();
}

/// glibc's vectorized math library (`libmvec`, part of glibc ≥ 2.22; `tanh` and `log1p` since
/// 2.35; `cos`), called through its vector ABI (argument and result in `xmm0`/`ymm0`): the `b` (SSE,
/// 4 lanes) and `d` (AVX2, 8 lanes) variants. Stable Rust cannot declare SIMD types in an FFI
/// signature, so the call is one `call` instruction in inline assembly.
#[cfg(all(target_arch = "x86_64", target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
mod libmvec {
    use std::arch::asm;
    use std::arch::x86_64::{_mm_loadu_ps, _mm_storeu_ps, _mm256_loadu_ps, _mm256_storeu_ps};

    #[link(name = "mvec")]
    unsafe extern "C" {
        fn _ZGVbN4v_expf();
        fn _ZGVbN4v_logf();
        fn _ZGVbN4v_tanhf();
        fn _ZGVbN4v_log1pf();
        fn _ZGVbN4v_cosf();
        fn _ZGVdN8v_expf();
        fn _ZGVdN8v_logf();
        fn _ZGVdN8v_tanhf();
        fn _ZGVdN8v_log1pf();
        fn _ZGVdN8v_cosf();
    }

    /// Calls `$f` on the 4 floats at `$x`, writing 4 floats to `$o`.
    macro_rules! call4 {
        ($f:ident, $x:expr, $o:expr) => {{
            // SAFETY: `$x` and `$o` hold 4 floats; the function follows the vector ABI (argument
            // and result in xmm0, the C ABI's registers clobbered); SSE is part of x86-64.
            unsafe {
                let mut v = _mm_loadu_ps($x);
                asm!("call {f}", f = sym $f, inout("xmm0") v, clobber_abi("C"));
                _mm_storeu_ps($o, v);
            }
        }};
    }

    /// Calls `$f` on the 8 floats at `$x`, writing 8 floats to `$o` (inside an AVX2 function).
    macro_rules! call8 {
        ($f:ident, $x:expr, $o:expr) => {{
            // SAFETY: as `call4`, with ymm0; the enclosing function enables AVX2.
            unsafe {
                let mut v = _mm256_loadu_ps($x);
                asm!("call {f}", f = sym $f, inout("ymm0") v, clobber_abi("C"));
                _mm256_storeu_ps($o, v);
            }
        }};
    }

    /// Which function of `libmvec`.
    #[derive(Clone, Copy)]
    pub enum Family {
        /// `expf`.
        Exp,
        /// `logf`.
        Ln,
        /// `tanhf`.
        Tanh,
        /// `log1pf`.
        Ln1p,
        /// `cosf`.
        Cos,
    }

    /// The `libmvec` function of a benchmark family, by name.
    pub fn family(name: &str) -> Option<Family> {
        Some(match name {
            "exp" => Family::Exp,
            "ln" => Family::Ln,
            "tanh" => Family::Tanh,
            "ln_1p" => Family::Ln1p,
            "cos" => Family::Cos,
            _ => return None,
        })
    }

    /// `out[i] = f(xs[i])`, 4 lanes at a time.
    pub fn run4(f: Family, xs: &[f32], out: &mut [f32]) {
        for (o, x) in out.chunks_exact_mut(4).zip(xs.chunks_exact(4)) {
            let (x, o) = (x.as_ptr(), o.as_mut_ptr());
            match f {
                Family::Exp => call4!(_ZGVbN4v_expf, x, o),
                Family::Ln => call4!(_ZGVbN4v_logf, x, o),
                Family::Tanh => call4!(_ZGVbN4v_tanhf, x, o),
                Family::Ln1p => call4!(_ZGVbN4v_log1pf, x, o),
                Family::Cos => call4!(_ZGVbN4v_cosf, x, o),
            }
        }
    }

    /// `out[i] = f(xs[i])`, 8 lanes at a time. Only called when AVX2 was detected.
    pub fn run8(f: Family, xs: &[f32], out: &mut [f32]) {
        // SAFETY: the caller checked AVX2 at run time.
        unsafe { run8_avx2(f, xs, out) }
    }

    #[target_feature(enable = "avx2")]
    fn run8_avx2(f: Family, xs: &[f32], out: &mut [f32]) {
        for (o, x) in out.chunks_exact_mut(8).zip(xs.chunks_exact(8)) {
            let (x, o) = (x.as_ptr(), o.as_mut_ptr());
            match f {
                Family::Exp => call8!(_ZGVdN8v_expf, x, o),
                Family::Ln => call8!(_ZGVdN8v_logf, x, o),
                Family::Tanh => call8!(_ZGVdN8v_tanhf, x, o),
                Family::Ln1p => call8!(_ZGVdN8v_log1pf, x, o),
                Family::Cos => call8!(_ZGVdN8v_cosf, x, o),
            }
        }
    }
}

fn bench_math(c: &mut Criterion) {
    family(c, "exp", &inputs(-10.0, 10.0), math::exp, math::exp, libm::expf);
    family(c, "ln", &inputs(1e-3, 1e3), math::ln, math::ln, libm::logf);
    family(c, "tanh", &inputs(-5.0, 5.0), math::tanh, math::tanh, libm::tanhf);
    family(c, "ln_1p", &inputs(-0.5, 10.0), math::ln_1p, math::ln_1p, libm::log1pf);
    // Box–Muller's angle range; `sin_cos` computes both (the normal draws use the cosine).
    let tau = core::f32::consts::TAU;
    family(c, "cos", &inputs(0.0, tau), |x| math::sin_cos(x).1, |x| math::sin_cos(x).1, libm::cosf);
}

criterion_group!(benches, bench_math);
criterion_main!(benches);
