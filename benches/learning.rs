//! Denoising score matching (VP, λ = σ_t²) for a ScoreNet 2 → 128 → 128 → 2 (SiLU, 8 Gaussian
//! Fourier time features, so the MLP input is 18 wide): per-sample loss + parameter gradient
//! throughput, scalar `f32` lanes vs `f32x8` lanes, one thread and two, with the Adam step.
//!
//! Each criterion iteration is one training step on a batch of B points (B = 512 and 4 096):
//! the chunk gradients of `chunk_gradient` (chunks of 256 points; two threads take alternate
//! chunks, the chunk sums are combined pairwise in chunk order, so the bits do not depend on the
//! thread count), then one Adam update. Throughput is B samples per iteration. The PyTorch peer
//! is `benches/peers/dsm_scorenet.py`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use flowscore::Lane;
use flowscore::loss::{Dsm, Scratch, Workspace, chunk_gradient, record_len};
use flowscore::nn::{Activation, TimeEmbedding, TimeFeature};
use flowscore::optim::{Adam, AdamConfig};
use flowscore::params::Params;
use flowscore::rng::{LaneSource, Streams};
use flowscore::score::{OutputScale, ScoreNet, SdeTime};
use flowscore::sde::Vp;
use std::hint::black_box;
use wide::f32x8;

type Net = ScoreNet<SdeTime<Vp>, 2, 8, 18, 128, 1>;

/// Points per chunk (fixed, whatever the thread count).
const CHUNK: usize = 256;

/// One chunk's buffers.
struct Buffers<L: Lane> {
    slots: Vec<L>,
    record: Vec<L>,
    out: Vec<f32>,
}

impl<L: Lane<Scalar = f32>> Buffers<L> {
    fn new(loss: &Dsm<Vp>, net: &Net) -> Self {
        let p = Net::LEN;
        let n = record_len::<L, 2, Net, Dsm<Vp>>(
            loss,
            net,
            &mut Scratch { dual: &mut [], flat: &mut [] },
        );
        Self {
            slots: vec![L::splat(0.0); p * (8 / L::LANES)],
            record: vec![L::splat(0.0); n],
            out: vec![0.0; p],
        }
    }
    fn run(&mut self, loss: &Dsm<Vp>, net: &Net, data: &[[f32; 2]], step: u64, first: u64) {
        let mut ws = Workspace {
            slots: &mut self.slots,
            record: &mut self.record,
            scratch: Scratch { dual: &mut [], flat: &mut [] },
            scratch_scalar: Scratch { dual: &mut [], flat: &mut [] },
        };
        chunk_gradient(loss, net, data, step, first, &mut ws, &mut self.out).unwrap();
    }
}

/// One training step: chunk gradients on `threads` threads, pairwise combination, Adam.
#[allow(clippy::too_many_arguments)]
fn step<L: Lane<Scalar = f32>>(
    loss: &Dsm<Vp>,
    net: &mut Net,
    params: &mut [f32],
    adam: &mut Adam,
    m: &mut [f32],
    v: &mut [f32],
    data: &[[f32; 2]],
    bufs: &mut [Buffers<L>],
    threads: usize,
    n: u64,
) {
    let chunks: Vec<&[[f32; 2]]> = data.chunks(CHUNK).collect();
    let net_ref = &*net;
    std::thread::scope(|s| {
        let mut per_thread: Vec<Vec<(usize, &mut Buffers<L>)>> =
            (0..threads).map(|_| vec![]).collect();
        for (i, b) in bufs.iter_mut().enumerate().take(chunks.len()) {
            per_thread[i % threads].push((i, b));
        }
        for work in per_thread {
            let chunks = &chunks;
            s.spawn(move || {
                for (i, b) in work {
                    b.run(loss, net_ref, chunks[i], n, (i * CHUNK) as u64);
                }
            });
        }
    });
    // Pairwise combination in chunk order.
    let mut width = 1;
    let k = chunks.len();
    while width < k {
        let mut i = 0;
        while i + width < k {
            let (a, b) = bufs.split_at_mut(i + width);
            for (x, y) in a[i].out.iter_mut().zip(b[0].out.iter()) {
                *x += *y;
            }
            i += 2 * width;
        }
        width *= 2;
    }
    let scale = 1.0 / data.len() as f32;
    let grad: Vec<f32> = bufs[0].out.iter().map(|g| g * scale).collect();
    adam.step(params, &grad, m, v).unwrap();
    net.read_params(params).unwrap();
}

fn bench(c: &mut Criterion) {
    let emb = TimeEmbedding::fourier(16.0, TimeFeature::Time { scale: 1.0 }, 1).unwrap();
    let loss = Dsm::standard(Vp::default());
    for batch in [512usize, 4096] {
        let mut r = Streams::<f32>::new(3, 0);
        let data: Vec<[f32; 2]> = (0..batch).map(|_| r.normal_array()).collect();
        let mut g = c.benchmark_group(format!("dsm_scorenet_2x128x128x2_batch{batch}"));
        g.throughput(Throughput::Elements(batch as u64));
        g.sample_size(20);
        macro_rules! case {
            ($name:expr, $lane:ty, $threads:expr) => {{
                let mut net = Net::init(
                    Activation::Silu,
                    emb,
                    SdeTime(Vp::default()),
                    OutputScale::InverseSigma,
                    2,
                );
                let mut params = vec![0.0f32; Net::LEN];
                net.write_params(&mut params).unwrap();
                let (mut m, mut v) = (vec![0.0f32; Net::LEN], vec![0.0f32; Net::LEN]);
                let mut adam = Adam::new(AdamConfig::adam(2e-4)).unwrap();
                let mut bufs: Vec<Buffers<$lane>> =
                    (0..batch.div_ceil(CHUNK)).map(|_| Buffers::new(&loss, &net)).collect();
                let mut n = 0u64;
                g.bench_function($name, |b| {
                    b.iter(|| {
                        n += 1;
                        step::<$lane>(
                            &loss,
                            &mut net,
                            &mut params,
                            &mut adam,
                            &mut m,
                            &mut v,
                            black_box(&data),
                            &mut bufs,
                            $threads,
                            n,
                        )
                    })
                });
            }};
        }
        case!("scalar_f32_1thread", f32, 1);
        case!("f32x8_1thread", f32x8, 1);
        case!("f32x8_2threads", f32x8, 2);
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
