//! Learned models against exact targets: a ScoreNet trained by denoising score matching (VP)
//! on 8gaussians samples the eight modes with the right weights and an energy distance to
//! held-out data close to the data-vs-data floor.

use flowscore::loss::Dsm;
use flowscore::nn::{Activation, TimeEmbedding, TimeFeature};
use flowscore::optim::AdamConfig;
use flowscore::rng::Streams;
use flowscore::sample::{EulerMaruyama, LaneSampler};
use flowscore::score::{GaussianMixture, OutputScale, ScoreNet, SdeTime};
use flowscore::sde::{DEFAULT_STEPS, SAMPLING_EPS_VP, Vp};
use flowscore_std::backend::cpu::Cpu;
use flowscore_std::train::{Resample, TrainConfig, Trainer};

/// 8gaussians (MATH.md §8) as the exact mixture it is: centres 4(cos kπ/4, sin kπ/4)/1.414,
/// isotropic std 0.5/1.414, equal weights.
fn eight_gaussians() -> GaussianMixture<2, 8> {
    let s = 1.414f64;
    let means = core::array::from_fn(|k| {
        let a = core::f64::consts::PI * k as f64 / 4.0;
        [(4.0 * a.cos() / s) as f32, (4.0 * a.sin() / s) as f32]
    });
    let v = ((0.5 / s) * (0.5 / s)) as f32;
    GaussianMixture::new([0.125; 8], means, [[[v, 0.0], [0.0, v]]; 8]).unwrap()
}

fn draw(m: &GaussianMixture<2, 8>, n: usize, seed: u64) -> Vec<[f32; 2]> {
    use flowscore::dist::Distribution;
    (0..n as u64).map(|i| m.sample(&mut Streams::<f32>::new(seed, i))).collect()
}

/// The energy distance 2E|X − Y| − E|X − X'| − E|Y − Y'| of two samples (V-statistic, f64).
fn energy_distance(a: &[[f32; 2]], b: &[[f32; 2]]) -> f64 {
    let mean_dist = |p: &[[f32; 2]], q: &[[f32; 2]]| {
        let mut s = 0.0f64;
        for x in p {
            for y in q {
                let (dx, dy) = ((x[0] - y[0]) as f64, (x[1] - y[1]) as f64);
                s += (dx * dx + dy * dy).sqrt();
            }
        }
        s / (p.len() * q.len()) as f64
    };
    2.0 * mean_dist(a, b) - mean_dist(a, a) - mean_dist(b, b)
}

fn mode_weights(m: &GaussianMixture<2, 8>, xs: &[[f32; 2]]) -> [f64; 8] {
    let mut w = [0.0f64; 8];
    for x in xs {
        let g = m.responsibilities(&[x[0] as f64, x[1] as f64], 1.0, 0.0);
        for (wk, gk) in w.iter_mut().zip(g.iter()) {
            *wk += gk / xs.len() as f64;
        }
    }
    w
}

#[test]
fn dsm_score_net_samples_eight_gaussians() {
    type Net = ScoreNet<SdeTime<Vp>, 2, 8, 18, 64, 1>;
    let target = eight_gaussians();
    let train_rows = draw(&target, 20_000, 1);
    let held_out = draw(&target, 2_000, 2);
    let emb = TimeEmbedding::fourier(16.0, TimeFeature::Time { scale: 1.0 }, 3).unwrap();
    let net =
        Net::init(Activation::Silu, emb, SdeTime(Vp::default()), OutputScale::InverseSigma, 3);
    let config =
        TrainConfig { batch: 512, adam: AdamConfig::adam(2e-3), ema_rate: Some(0.999), seed: 4 };
    let mut trainer = Trainer::new(net, Dsm::standard(Vp::default()), config).unwrap();
    let src = Resample::new(&train_rows, 5).unwrap();
    let mut cpu = Cpu::new(0).unwrap();
    let steps = std::env::var("DSM_STEPS").ok().and_then(|s| s.parse().ok()).unwrap_or(4000u64);
    let t0 = std::time::Instant::now();
    for _ in 0..steps {
        trainer.step(&mut cpu, &src).unwrap();
    }
    let train_s = t0.elapsed().as_secs_f64();
    let model = trainer.ema_model().unwrap();
    let em = EulerMaruyama::new(Vp::default(), DEFAULT_STEPS, SAMPLING_EPS_VP).unwrap();
    let mut xs = vec![[0.0f32; 2]; 2_000];
    em.sample_batch(&model, 6, 0, &mut xs);
    let w = mode_weights(&target, &xs);
    let werr = w.iter().fold(0.0f64, |a, v| a.max((v - 0.125).abs()));
    let ed = energy_distance(&xs, &held_out);
    let floor = energy_distance(&draw(&target, 2_000, 7), &held_out);
    println!(
        "DSM ScoreNet 2→64→64→2, {steps} steps × 512 in {train_s:.1} s: mode weights {w:.3?} \
         (max error {werr:.4}), energy distance {ed:.2e} vs data-vs-data {floor:.2e}"
    );
    assert!(werr <= 0.03, "mode-weight error {werr}");
    assert!(ed <= 3.0 * floor, "energy distance {ed:e} vs floor {floor:e}");
}
