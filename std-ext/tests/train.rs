//! The trainer: the same bits for any thread count, resume = uninterrupted, bad settings refused.

use flowscore::flow::coupling::{AffineCoupling, BinaryMask};
use flowscore::loss::{Dsm, FlowNll, Loss};
use flowscore::nn::{Activation, Mlp, TimeEmbedding, TimeFeature};
use flowscore::optim::AdamConfig;
use flowscore::params::Params;
use flowscore::rng::{LaneSource, Streams};
use flowscore::score::{OutputScale, ScoreNet, SdeTime};
use flowscore::sde::Vp;
use flowscore_std::backend::cpu::Cpu;
use flowscore_std::train::{Checkpoint, Resample, TrainConfig, Trainer};

type Net = ScoreNet<SdeTime<Vp>, 2, 4, 10, 32, 1>;
type Nvp = [AffineCoupling<2, 2, Mlp<2, 16, 2, 1>>; 4];

fn net() -> Net {
    let emb = TimeEmbedding::fourier(16.0, TimeFeature::Time { scale: 1.0 }, 1).unwrap();
    Net::init(Activation::Silu, emb, SdeTime(Vp::default()), OutputScale::InverseSigma, 1)
}

fn nvp() -> Nvp {
    core::array::from_fn(|k| {
        let net = Mlp::init(Activation::Tanh, 10 + k as u64);
        AffineCoupling::new(BinaryMask::alternating(k % 2).unwrap(), net).unwrap()
    })
}

fn data() -> Vec<[f32; 2]> {
    let mut r = Streams::<f32>::new(5, 0);
    (0..3000)
        .map(|_| {
            let z: [f32; 2] = r.normal_array();
            [2.0 * z[0] + 1.0, 0.5 * z[1] - z[0]]
        })
        .collect()
}

fn config(batch: usize) -> TrainConfig {
    TrainConfig { batch, adam: AdamConfig::adam(1e-3), ema_rate: Some(0.99), seed: 3 }
}

fn train<M: Params + Sync, Lo: Loss<2, M> + Sync>(
    model: M,
    loss: Lo,
    threads: usize,
    steps: u64,
    batch: usize,
) -> Vec<u32> {
    let rows = data();
    let src = Resample::new(&rows, 11).unwrap();
    let mut cpu = Cpu::new(threads).unwrap();
    let mut t = Trainer::new(model, loss, config(batch)).unwrap();
    for _ in 0..steps {
        t.step(&mut cpu, &src).unwrap();
    }
    t.params().iter().map(|v| v.to_bits()).collect()
}

#[test]
fn trained_parameters_do_not_depend_on_the_thread_count() {
    // Batches of 700 points: two full chunks of 256 and a partial one, with a tail of 4 that
    // is not a multiple of 8.
    let a = train(net(), Dsm::standard(Vp::default()), 1, 30, 700);
    let b = train(net(), Dsm::standard(Vp::default()), 2, 30, 700);
    let c = train(net(), Dsm::standard(Vp::default()), 3, 30, 700);
    assert_eq!(a, b, "1 vs 2 threads");
    assert_eq!(a, c, "1 vs 3 threads");
    let start: Vec<u32> = {
        let mut p = vec![0.0f32; Net::LEN];
        net().write_params(&mut p).unwrap();
        p.iter().map(|v| v.to_bits()).collect()
    };
    assert_ne!(a, start, "training moved nothing");
    let a = train(nvp(), FlowNll, 1, 30, 700);
    let b = train(nvp(), FlowNll, 2, 30, 700);
    assert_eq!(a, b, "flow: 1 vs 2 threads");
}

#[test]
fn resumed_training_ends_with_the_uninterrupted_bits() {
    let rows = data();
    let src = Resample::new(&rows, 11).unwrap();
    let mut cpu = Cpu::new(2).unwrap();
    let loss = Dsm::standard(Vp::default());
    let mut full = Trainer::new(net(), loss, config(300)).unwrap();
    for _ in 0..40 {
        full.step(&mut cpu, &src).unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.ckpt");
    let mut first = Trainer::new(net(), loss, config(300)).unwrap();
    for _ in 0..17 {
        first.step(&mut cpu, &src).unwrap();
    }
    first.checkpoint("scorenet-test").save(&path).unwrap();
    drop(first);
    let mut second = Trainer::new(net(), loss, config(300)).unwrap();
    second.resume(&Checkpoint::load(&path).unwrap(), "scorenet-test").unwrap();
    assert_eq!(second.steps_done(), 17);
    for _ in 17..40 {
        second.step(&mut cpu, &src).unwrap();
    }
    assert_eq!(
        full.params().iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
        second.params().iter().map(|v| v.to_bits()).collect::<Vec<_>>()
    );
    assert_eq!(full.ema_model().unwrap(), second.ema_model().unwrap());
    // A checkpoint of another model is refused.
    let mut other = Trainer::new(nvp(), FlowNll, config(300)).unwrap();
    assert!(other.resume(&Checkpoint::load(&path).unwrap(), "scorenet-test").is_err());
    assert!(other.resume(&Checkpoint::load(&path).unwrap(), "realnvp-test").is_err());
}

#[test]
fn bad_settings_are_errors() {
    assert!(Trainer::new(net(), Dsm::standard(Vp::default()), config(0)).is_err());
    let mut c = config(10);
    c.adam = AdamConfig::adam(-1.0);
    assert!(Trainer::new(net(), Dsm::standard(Vp::default()), c).is_err());
}
