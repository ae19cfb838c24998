//! The CUDA backend without a GPU: its kernels compile with NVRTC, the same kernels compiled as
//! host C++ give the CPU backend's gradients, and a machine without a driver gets an error
//! value, not a panic.
//!
//! The NVRTC test needs `libnvrtc` on the loader's path: `scripts/fetch-nvrtc.sh` puts it under
//! `target/nvrtc/lib` and prints that folder (`scripts/test-all.sh` sets `LD_LIBRARY_PATH`).
//! Without it the test fails, unless `FLOWSCORE_SKIP_NVRTC=1` says to skip it.
#![cfg(feature = "cuda")]

use flowscore_std::backend::cuda::{self, ARCHS, CudaBackend, CudaError, KERNELS};

#[test]
fn new_without_a_driver_is_an_error_value() {
    match CudaBackend::new(0) {
        Err(e) if !cuda::driver_present() => {
            assert_eq!(e, CudaError::NoDriver);
            assert_eq!(e.to_string(), "no CUDA driver found");
        }
        Err(CudaError::NoDevice) => {
            assert_eq!(CudaError::NoDevice.to_string(), "no CUDA device");
        }
        // A machine with a driver and a device: the backend is made, or fails for a reason
        // other than the driver's absence.
        Ok(_) => {}
        Err(e) => assert_ne!(e, CudaError::NoDriver, "{e}"),
    }
}

#[test]
fn nvrtc_compiles_every_kernel_for_sm80_and_sm90() {
    if !cuda::nvrtc_present() {
        if std::env::var("FLOWSCORE_SKIP_NVRTC").is_ok_and(|v| v == "1") {
            eprintln!("skipped: no libnvrtc on the loader's path (FLOWSCORE_SKIP_NVRTC=1)");
            return;
        }
        panic!(
            "no libnvrtc on the loader's path: run scripts/fetch-nvrtc.sh and put the folder it \
             prints on LD_LIBRARY_PATH, or set FLOWSCORE_SKIP_NVRTC=1 to skip this test"
        );
    }
    for arch in ARCHS {
        for (name, body) in KERNELS {
            let ptx = match cuda::compile(name, arch) {
                Ok(p) => p.to_src(),
                Err(e) => panic!("{name}.cu for {arch}: {e}"),
            };
            // Every kernel of the file is in the PTX, for the target asked for.
            for line in body.lines().filter(|l| l.starts_with("FS_KERNEL void ")) {
                let kernel = line["FS_KERNEL void ".len()..].split('(').next().unwrap_or("");
                assert!(ptx.contains(&format!(".entry {kernel}(")), "{name}: {kernel} missing");
            }
            let sm = arch.replace("compute_", "sm_");
            assert!(ptx.contains(&format!(".target {sm}")), "{name}: not built for {sm}");
            // --fmad=false: no fused multiply-add in the f32 code.
            assert!(!ptx.contains("fma.rn.f32"), "{name}.cu for {arch} contracts into fma");
        }
    }
}

#[cfg(feature = "host-kernels")]
mod host {
    use flowscore::loss::{Dsm, Weighting};
    use flowscore::nn::{Activation, TimeEmbedding, TimeFeature};
    use flowscore::params::Params;
    use flowscore::rng::{LaneSource, Streams};
    use flowscore::score::{OutputScale, ScoreNet, SdeTime};
    use flowscore::sde::{SubVp, Ve, Vp};
    use flowscore_std::backend::Backend;
    use flowscore_std::backend::cpu::Cpu;
    use flowscore_std::backend::cuda::{GpuSde, host};

    fn batch(n: usize) -> Vec<[f32; 2]> {
        let mut r = Streams::<f32>::new(11, 0);
        (0..n)
            .map(|_| {
                let z: [f32; 2] = r.normal_array();
                [2.0 * z[0] + 1.0, 0.5 * z[1] - z[0]]
            })
            .collect()
    }

    /// Max over entries of |a − b| / max(|a|, |b|) (0 where both are 0), and whether every
    /// entry is the same bits.
    fn compare(a: &[f32], b: &[f32]) -> (f64, bool) {
        let mut worst = 0.0f64;
        for (&x, &y) in a.iter().zip(b) {
            let scale = (x.abs().max(y.abs())) as f64;
            if scale > 0.0 {
                worst = worst.max((x as f64 - y as f64).abs() / scale);
            }
        }
        (worst, a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits()))
    }

    fn check<S: GpuSde + Sync, const F: usize, const IN: usize, const EXTRA: usize>(
        sde: S,
        act: Activation,
        feature: TimeFeature,
        weighting: Weighting,
        n: usize,
    ) -> f64
    where
        Dsm<S>: flowscore::loss::Loss<2, ScoreNet<SdeTime<S>, 2, F, IN, 24, EXTRA>> + Sync,
    {
        let emb = TimeEmbedding::<F>::fourier(16.0, feature, 3).unwrap();
        let model: ScoreNet<SdeTime<S>, 2, F, IN, 24, EXTRA> =
            ScoreNet::init(act, emb, SdeTime(sde), OutputScale::InverseSigma, 5);
        let loss = Dsm::new(sde, 1e-5, weighting).unwrap();
        let data = batch(n);
        let p = <ScoreNet<SdeTime<S>, 2, F, IN, 24, EXTRA> as Params>::LEN;
        let (mut cpu_g, mut host_g) = (vec![0.0f32; p], vec![0.0f32; p]);
        let mut cpu = Cpu::new(2).unwrap();
        let (seed, first) = (42, 7 * n as u64);
        let cpu_loss = cpu.batch_gradient(&loss, &model, &data, seed, first, &mut cpu_g).unwrap();
        let host_loss =
            host::dsm_gradient(&loss, &model, &data, seed, first, &mut host_g).unwrap().unwrap();
        let (rel, same) = compare(&cpu_g, &host_g);
        let what = format!("{sde:?} {act:?} {feature:?} {weighting:?} n = {n}");
        assert!(rel <= 1e-5, "{what}: max relative difference {rel:e}");
        assert!(
            (cpu_loss - host_loss).abs() <= 1e-12 * cpu_loss.abs(),
            "{what}: loss {cpu_loss} vs {host_loss}"
        );
        eprintln!("{what}: max relative difference {rel:e}, same bits: {same}");
        rel
    }

    #[test]
    fn host_kernels_give_the_cpu_dsm_gradient() {
        let log_sigma = TimeFeature::LogSigma;
        let time = TimeFeature::Time { scale: 1.0 };
        let mut worst = 0.0f64;
        // Batches: one partial chunk with a remainder of 5, three chunks with a partial last
        // block, exactly two chunks.
        for n in [61, 605, 512] {
            worst = worst.max(check::<Ve, 8, 18, 1>(
                Ve::default(),
                Activation::Silu,
                log_sigma,
                Weighting::SigmaSquared,
                n,
            ));
            worst = worst.max(check::<Vp, 4, 10, 1>(
                Vp::default(),
                Activation::Tanh,
                time,
                Weighting::SigmaSquared,
                n,
            ));
            worst = worst.max(check::<SubVp, 4, 10, 2>(
                SubVp::default(),
                Activation::Relu,
                time,
                Weighting::Likelihood,
                n,
            ));
        }
        worst = worst.max(check::<Ve, 6, 14, 0>(
            Ve::default(),
            Activation::Tanh,
            log_sigma,
            Weighting::Likelihood,
            300,
        ));
        eprintln!("max relative gradient difference, host kernels vs CPU: {worst:e}");
    }
}

/// On a machine with a GPU (`scripts/gpu-check.sh` runs it with `--ignored`): the device's DSM
/// gradient equals the CPU's within 1e-5 relative, and 100 training steps on each end within
/// 1e-4 relative of each other (the steps are the same computation; only the order of the
/// global norm's f64 sum may differ, which moves no parameter unless clipping is on).
#[test]
#[ignore = "needs a CUDA device"]
fn device_matches_cpu() {
    use flowscore::loss::Dsm;
    use flowscore::nn::{Activation, TimeEmbedding, TimeFeature};
    use flowscore::optim::AdamConfig;
    use flowscore::params::Params;
    use flowscore::rng::{LaneSource, Streams};
    use flowscore::score::{OutputScale, ScoreNet, SdeTime};
    use flowscore::sde::{SubVp, Ve, Vp};
    use flowscore_std::backend::Backend;
    use flowscore_std::backend::cpu::Cpu;
    use flowscore_std::train::{Resample, TrainConfig, Trainer};

    let mut gpu = CudaBackend::new(0).expect("a CUDA device");
    let mut cpu = Cpu::new(0).unwrap();
    let mut r = Streams::<f32>::new(11, 0);
    let data: Vec<[f32; 2]> = (0..65_536).map(|_| r.normal_array()).collect();

    fn rel(a: &[f32], b: &[f32]) -> f64 {
        a.iter()
            .zip(b)
            .map(|(&x, &y)| {
                let s = x.abs().max(y.abs()) as f64;
                if s > 0.0 { (x as f64 - y as f64).abs() / s } else { 0.0 }
            })
            .fold(0.0, f64::max)
    }

    macro_rules! gradients {
        ($ty:ty, $sde:expr, $feature:expr) => {{
            let emb = TimeEmbedding::<16>::fourier(16.0, $feature, 1).unwrap();
            let model: ScoreNet<SdeTime<$ty>, 2, 16, 34, 256, 1> =
                ScoreNet::init(Activation::Silu, emb, SdeTime($sde), OutputScale::InverseSigma, 2);
            let loss = Dsm::standard($sde);
            let p = <ScoreNet<SdeTime<$ty>, 2, 16, 34, 256, 1> as Params>::LEN;
            let (mut a, mut b) = (vec![0.0f32; p], vec![0.0f32; p]);
            let la = cpu.batch_gradient(&loss, &model, &data, 9, 0, &mut a).unwrap();
            let lb = gpu.batch_gradient(&loss, &model, &data, 9, 0, &mut b).unwrap();
            let d = rel(&a, &b);
            println!("gradient {:?}: max relative difference {d:e}, loss {la} vs {lb}", $sde);
            assert!(d <= 1e-5);
        }};
    }
    gradients!(Ve, Ve::default(), TimeFeature::LogSigma);
    gradients!(Vp, Vp::default(), TimeFeature::Time { scale: 999.0 });
    gradients!(SubVp, SubVp::default(), TimeFeature::Time { scale: 999.0 });

    // 100 steps, batch 4096, from the same start.
    let emb = TimeEmbedding::<16>::fourier(16.0, TimeFeature::LogSigma, 1).unwrap();
    let model: ScoreNet<_, 2, 16, 34, 128, 1> =
        ScoreNet::init(Activation::Silu, emb, SdeTime(Ve::default()), OutputScale::InverseSigma, 2);
    let config =
        TrainConfig { batch: 4096, adam: AdamConfig::adam(1e-3), ema_rate: Some(0.999), seed: 4 };
    let source = Resample::new(&data, 5).unwrap();
    let mut tc = Trainer::new(model, Dsm::standard(Ve::default()), config).unwrap();
    let mut tg = Trainer::new(model, Dsm::standard(Ve::default()), config).unwrap();
    for _ in 0..100 {
        tc.step(&mut cpu, &source).unwrap();
        tg.step(&mut gpu, &source).unwrap();
    }
    let d = rel(tc.params(), tg.params());
    println!("100 steps: max relative parameter difference {d:e}");
    assert!(d <= 1e-4);
}
