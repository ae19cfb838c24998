//! `log_prob` on 10⁶ 2-D points: a RealNVP stack (4 affine couplings, MLP 2 → 64 → 64 → 2) and a
//! spline coupling stack (4 layers, 8 bins, MLP 2 → 64 → 64 → 23), scalar `f32` (one point at a
//! time) vs `f32x8` (`Flow::log_prob_batch`: 8 points per lane vector, scalar tail).
//!
//! Run: `cargo bench --bench flow_zoo -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use flowscore::dist::StandardNormal;
use flowscore::flow::coupling::{AffineCoupling, BinaryMask};
use flowscore::flow::spline::SplineCoupling;
use flowscore::flow::{Bijector, Flow};
use flowscore::nn::{Activation, Mlp2};
use flowscore::rng::{LaneSource, Streams};

/// Points per measured call.
const N: usize = 1_000_000;

type RealNvp = [AffineCoupling<2, 2, Mlp2<2, 64, 2>>; 4];
type SplineStack = [SplineCoupling<2, 8, 23, Mlp2<2, 64, 23>>; 4];

fn realnvp() -> RealNvp {
    core::array::from_fn(|i| {
        let mask = BinaryMask::alternating(i % 2).unwrap();
        AffineCoupling::new(mask, Mlp2::init(Activation::Tanh, 100 + i as u64)).unwrap()
    })
}

fn spline_stack() -> SplineStack {
    core::array::from_fn(|i| {
        let mask = BinaryMask::alternating(i % 2).unwrap();
        SplineCoupling::new(mask, 3.0, Mlp2::init(Activation::Tanh, 200 + i as u64)).unwrap()
    })
}

fn points() -> Vec<[f32; 2]> {
    let mut rng = Streams::<f32>::new(7, 0);
    (0..N).map(|_| [2.0 * rng.normal(), 2.0 * rng.normal()]).collect()
}

fn bench_stack<B: Bijector<2>>(c: &mut Criterion, name: &str, b: B) {
    let flow = Flow::new(StandardNormal, b);
    let xs = points();
    let mut out = vec![0.0f32; N];
    let mut g = c.benchmark_group(name);
    g.sample_size(10);
    g.throughput(Throughput::Elements(N as u64));
    g.bench_function("scalar f32", |bch| {
        bch.iter(|| {
            for (x, o) in xs.iter().zip(out.iter_mut()) {
                *o = flow.log_prob(black_box(*x)).unwrap();
            }
            black_box(&out);
        })
    });
    g.bench_function("f32x8", |bch| {
        bch.iter(|| {
            flow.log_prob_batch(black_box(&xs), &mut out).unwrap();
            black_box(&out);
        })
    });
    g.finish();
}

fn benches(c: &mut Criterion) {
    bench_stack(c, "realnvp_4x_mlp64_log_prob_1e6", realnvp());
    bench_stack(c, "spline_4x_k8_log_prob_1e6", spline_stack());
}

criterion_group!(flow_zoo, benches);
criterion_main!(flow_zoo);
