//! Denoising score matching (VP, λ = σ_t²) for a ScoreNet 2 → 128 → 128 → 2 (SiLU, 8 Gaussian
//! Fourier time features, so the MLP input is 18 wide): per-sample loss + parameter gradient
//! throughput, scalar `f32` lanes vs `f32x8` lanes, one thread and two, with the Adam step.
//!
//! Each criterion iteration is one training step on a batch of B points (B = 512 and 4 096):
//! the chunk gradients of `chunk_gradient` (chunks of 256 points; two threads take alternate
//! chunks, the chunk sums are combined pairwise in chunk order, so the bits do not depend on the
//! thread count), then one Adam update. Throughput is B samples per iteration. The PyTorch peer
//! is `benches/peers/dsm_scorenet.py`.
//!
//! Maximum likelihood (`FlowNll`) for a RealNVP of four affine couplings with 2 → 64 → 64 → 2
//! tanh conditioners, one training step on 512 points per iteration, the same way.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use flowscore::Lane;
use flowscore::flow::coupling::{AffineCoupling, BinaryMask};
use flowscore::loss::{Dsm, FlowNll, Loss, Scratch, Workspace, chunk_gradient, record_len};
use flowscore::nn::{Activation, Mlp, TimeEmbedding, TimeFeature};
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
    flat: Vec<L>,
    flat_scalar: Vec<f32>,
    out: Vec<f32>,
}

impl<L: Lane<Scalar = f32>> Buffers<L> {
    fn new<const D: usize, M: Params, Lo: Loss<D, M>>(loss: &Lo, model: &M) -> Self {
        let p = M::LEN;
        let f = if Lo::NEEDS_FLAT { p } else { 0 };
        let mut flat = vec![L::splat(0.0); f];
        let n =
            record_len::<L, D, M, Lo>(loss, model, &mut Scratch { dual: &mut [], flat: &mut flat });
        Self {
            slots: vec![L::splat(0.0); p * (8 / L::LANES)],
            record: vec![L::splat(0.0); n],
            flat,
            flat_scalar: vec![0.0; f],
            out: vec![0.0; p],
        }
    }
    fn run<const D: usize, M: Params, Lo: Loss<D, M>>(
        &mut self,
        loss: &Lo,
        model: &M,
        data: &[[f32; D]],
        step: u64,
        first: u64,
    ) {
        let mut ws = Workspace {
            slots: &mut self.slots,
            record: &mut self.record,
            scratch: Scratch { dual: &mut [], flat: &mut self.flat },
            scratch_scalar: Scratch { dual: &mut [], flat: &mut self.flat_scalar },
        };
        chunk_gradient(loss, model, data, step, first, &mut ws, &mut self.out).unwrap();
    }
}

/// One training step: chunk gradients on `threads` threads, pairwise combination, Adam.
#[allow(clippy::too_many_arguments)]
fn step<L, const D: usize, M, Lo>(
    loss: &Lo,
    model: &mut M,
    params: &mut [f32],
    adam: &mut Adam,
    m: &mut [f32],
    v: &mut [f32],
    data: &[[f32; D]],
    bufs: &mut [Buffers<L>],
    threads: usize,
    n: u64,
) where
    L: Lane<Scalar = f32>,
    M: Params + Sync,
    Lo: Loss<D, M> + Sync,
{
    let chunks: Vec<&[[f32; D]]> = data.chunks(CHUNK).collect();
    let model_ref = &*model;
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
                    b.run(loss, model_ref, chunks[i], n, (i * CHUNK) as u64);
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
    model.read_params(params).unwrap();
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
                let mut bufs: Vec<Buffers<$lane>> = (0..batch.div_ceil(CHUNK))
                    .map(|_| Buffers::new::<2, Net, _>(&loss, &net))
                    .collect();
                let mut n = 0u64;
                g.bench_function($name, |b| {
                    b.iter(|| {
                        n += 1;
                        step::<$lane, 2, Net, _>(
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

type Nvp = [AffineCoupling<2, 2, Mlp<2, 64, 2, 1>>; 4];

/// Maximum likelihood for a RealNVP of four affine couplings (alternating masks, tanh
/// 2 → 64 → 64 → 2 conditioners) on 512 standard-normal points: one training step per
/// iteration, as for the DSM groups.
fn bench_nll(c: &mut Criterion) {
    let batch = 512usize;
    let mut r = Streams::<f32>::new(5, 0);
    let data: Vec<[f32; 2]> = (0..batch).map(|_| r.normal_array()).collect();
    let mut g = c.benchmark_group(format!("nll_realnvp_4x(2x64x64x2)_batch{batch}"));
    g.throughput(Throughput::Elements(batch as u64));
    g.sample_size(20);
    macro_rules! case {
        ($name:expr, $lane:ty, $threads:expr) => {{
            let mut model: Nvp = core::array::from_fn(|k| {
                let net = Mlp::<2, 64, 2, 1>::init(Activation::Tanh, 11 + k as u64);
                AffineCoupling::new(BinaryMask::alternating(k % 2).unwrap(), net).unwrap()
            });
            let mut params = vec![0.0f32; Nvp::LEN];
            model.write_params(&mut params).unwrap();
            let (mut m, mut v) = (vec![0.0f32; Nvp::LEN], vec![0.0f32; Nvp::LEN]);
            let mut adam = Adam::new(AdamConfig::adam(1e-4)).unwrap();
            let mut bufs: Vec<Buffers<$lane>> = (0..batch.div_ceil(CHUNK))
                .map(|_| Buffers::new::<2, Nvp, _>(&FlowNll, &model))
                .collect();
            let mut n = 0u64;
            g.bench_function($name, |b| {
                b.iter(|| {
                    n += 1;
                    step::<$lane, 2, Nvp, _>(
                        &FlowNll,
                        &mut model,
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

criterion_group!(benches, bench, bench_nll);
criterion_main!(benches);
