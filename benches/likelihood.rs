//! Probability-flow log-likelihood throughput: a 2-D 8-component anisotropic Gaussian mixture
//! under VP, rtol = atol = 1e-5, ε = 1e-5, exact divergence (duals) and exact prior; points per
//! second one at a time (`f32`, `f64`) against the batched lanes (`f32x8`, `f64x4`).
//! The mean NFE per point is printed once.

use core::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use flowscore::dist::Distribution;
use flowscore::likelihood::{
    ExactDivergence, ExactPrior, PfConfig, pf_log_likelihood, pf_log_likelihood_batch,
};
use flowscore::rng::Streams;
use flowscore::score::{GaussianMixture, MixtureScore};
use flowscore::sde::Vp;

/// Points per benchmark iteration (a multiple of 8, so no scalar tail in the batched runs).
const POINTS: usize = 64;

/// Eight components on a circle of radius 4, each stretched along its tangent.
fn mixture() -> MixtureScore<2, 8, Vp> {
    let mut means = [[0.0f32; 2]; 8];
    let mut covs = [[[0.0f32; 2]; 2]; 8];
    for k in 0..8 {
        let a = core::f64::consts::TAU * k as f64 / 8.0;
        let (s, c) = a.sin_cos();
        means[k] = [(4.0 * c) as f32, (4.0 * s) as f32];
        // Σ = R diag(0.4, 0.05) Rᵀ with R the rotation to the tangent direction (−s, c).
        let (l1, l2) = (0.4, 0.05);
        let xx = l1 * s * s + l2 * c * c;
        let yy = l1 * c * c + l2 * s * s;
        let xy = (l2 - l1) * s * c;
        covs[k] = [[xx as f32, xy as f32], [xy as f32, yy as f32]];
    }
    let w = [0.05, 0.1, 0.15, 0.1, 0.2, 0.1, 0.2, 0.1];
    GaussianMixture::new(w, means, covs).unwrap().under(Vp::default())
}

fn bench(c: &mut Criterion) {
    let model = mixture();
    let sde = Vp::default();
    let cfg = PfConfig::new(1e-5, 1e-5);
    let xs: Vec<[f64; 2]> = (0..POINTS)
        .map(|i| model.mixture().sample(&mut Streams::<f64>::new(3, i as u64)))
        .collect();
    let xs32: Vec<[f32; 2]> = xs.iter().map(|x| x.map(|v| v as f32)).collect();
    let prior = ExactPrior(&model);

    let mut out = vec![Err(flowscore::Error::NonFiniteState); POINTS];
    pf_log_likelihood_batch(&model, &sde, &ExactDivergence, &prior, &xs, 0, &cfg, &mut out)
        .unwrap();
    let nfe: u64 = out.iter().map(|r| r.unwrap().nfe as u64).sum();
    println!("mean NFE per point (f64): {:.1}", nfe as f64 / POINTS as f64);
    pf_log_likelihood_batch(&model, &sde, &ExactDivergence, &prior, &xs32, 0, &cfg, &mut out)
        .unwrap();
    let nfe: u64 = out.iter().map(|r| r.unwrap().nfe as u64).sum();
    println!("mean NFE per point (f32): {:.1}", nfe as f64 / POINTS as f64);

    let mut g = c.benchmark_group("likelihood_vp_2d_k8");
    g.throughput(Throughput::Elements(POINTS as u64));
    g.bench_function("f64_scalar", |b| {
        b.iter(|| {
            for (i, x) in xs.iter().enumerate() {
                black_box(
                    pf_log_likelihood(&model, &sde, &ExactDivergence, &prior, x, i as u64, &cfg)
                        .unwrap()
                        .log_p,
                );
            }
        })
    });
    g.bench_function("f64x4_batch", |b| {
        b.iter(|| {
            pf_log_likelihood_batch(&model, &sde, &ExactDivergence, &prior, &xs, 0, &cfg, &mut out)
                .unwrap();
            black_box(&out);
        })
    });
    g.bench_function("f32_scalar", |b| {
        b.iter(|| {
            for (i, x) in xs32.iter().enumerate() {
                black_box(
                    pf_log_likelihood(&model, &sde, &ExactDivergence, &prior, x, i as u64, &cfg)
                        .unwrap()
                        .log_p,
                );
            }
        })
    });
    g.bench_function("f32x8_batch", |b| {
        b.iter(|| {
            pf_log_likelihood_batch(
                &model,
                &sde,
                &ExactDivergence,
                &prior,
                &xs32,
                0,
                &cfg,
                &mut out,
            )
            .unwrap();
            black_box(&out);
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
