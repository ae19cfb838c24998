//! `flowscore train`: a validated training job on 2-D data (a built-in toy set or a user's file),
//! run on the CPU backend, ending in a model file (the core's format) and, on request,
//! checkpoints every N steps.
//!
//! Built-in models (D = 2; their shapes are fixed here and named in the checkpoints' model
//! tags):
//! - `realnvp`: 8 affine couplings, alternating masks, conditioners 2 → 64 → 64 → 2 (tanh);
//! - `maf`: 4 MAF layers (MADE 2 → 64 → 64 → 4, tanh), the coordinates reversed between them;
//!   with `--hidden 16`, MADE 2 → 16 → 16 → 4 (1 552 parameters, 6.2 KB: the size a
//!   microcontroller holds next to its firmware, as the firmware example's detector does);
//! - `spline`: 4 rational-quadratic spline couplings, 8 bins on [−4, 4], conditioners
//!   2 → 64 → 64 → 23 (tanh);
//! - `scorenet`: s(x, t) = MLP([x, emb(t)])/σ_t, 2 + 16 → 128 → 128 → 2 (SiLU), 8 Gaussian
//!   Fourier features of t (scale 16), trained by denoising score matching under the chosen SDE;
//!   with `--hidden 16`, 2 + 16 → 16 → 16 → 2 (610 parameters: the firmware example's second
//!   opinion).
//!
//! Data are standardised per dimension on the training split; the map is stored in the model
//! file, so densities and samples are in the user's units. A toy set gives 50 000 training and
//! 5 000 held-out points (different seeds); a file is split 90 % / 10 % by seed.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail, ensure};
use flowscore::dist::StandardNormal;
use flowscore::flow::Flow;
use flowscore::flow::coupling::{AffineCoupling, BinaryMask};
use flowscore::flow::maf::Maf;
use flowscore::flow::permute::Permutation;
use flowscore::flow::spline::SplineCoupling;
use flowscore::flow::train::TrainableInverse;
use flowscore::format::{self, ModelFormat};
use flowscore::loss::{Dsm, FlowNll, Loss};
use flowscore::nn::{Activation, Mlp2, TimeEmbedding, TimeFeature};
use flowscore::optim::AdamConfig;
use flowscore::params::Params;
use flowscore::score::{OutputScale, ScoreNet, SdeTime};
use flowscore::sde::{Sde, SubVp, Ve, Vp};

use super::Say;
use crate::backend::cpu::Cpu;
use crate::data::{self, ToySet};
use crate::io::staged::Staged;
use crate::sde_kind::AnySde;
use crate::train::{Checkpoint, Resample, TrainConfig, Trainer};

/// RealNVP: 8 affine couplings.
pub type RealNvp = [AffineCoupling<2, 2, Mlp2<2, 64, 2>>; 8];
/// MAF: 4 layers with reversals between them.
pub type MafStack = [(Maf<2, 64, 4>, Permutation<2>); 4];
/// MAF sized for a microcontroller (`--hidden 16`): 4 layers, MADE 2 → 16 → 16 → 4.
pub type MafSmall = [(Maf<2, 16, 4>, Permutation<2>); 4];
/// Rational-quadratic spline couplings.
pub type SplineStack = [SplineCoupling<2, 8, 23, Mlp2<2, 64, 23>>; 4];
/// The score network under SDE `S`.
pub type ScoreNet2<S> = ScoreNet<SdeTime<S>, 2, 8, 18, 128, 1>;
/// The score network sized for a microcontroller (`--hidden 16`): 2 + 16 → 16 → 16 → 2.
pub type ScoreNetSmall<S> = ScoreNet<SdeTime<S>, 2, 8, 18, 16, 1>;

/// Training points of a toy set.
const TOY_TRAIN: usize = 50_000;
/// Held-out points of a toy set.
const TOY_HELD_OUT: usize = 5_000;
/// The held-out fraction of a user's file.
const HELD_OUT_FRACTION: f64 = 0.1;
/// Spline bound after standardisation.
const SPLINE_BOUND: f32 = 4.0;

/// The built-in models.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelName {
    /// RealNVP affine couplings.
    Realnvp,
    /// Masked autoregressive flow.
    Maf,
    /// Rational-quadratic spline couplings.
    Spline,
    /// A learned score network.
    Scorenet,
}

/// The losses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LossName {
    /// Flow maximum likelihood.
    Nll,
    /// Denoising score matching.
    Dsm,
}

/// `flowscore train` as given.
#[derive(Clone, Debug)]
pub struct TrainRequest {
    /// The model.
    pub model: ModelName,
    /// A toy set's name or a file.
    pub data: String,
    /// The loss (default: the model's).
    pub loss: Option<LossName>,
    /// The SDE (scorenet only).
    pub sde: Option<AnySde>,
    /// Hidden width (maf: 16 or 64, default 64; scorenet: 16 or 128, default 128).
    pub hidden: Option<usize>,
    /// Steps.
    pub steps: u64,
    /// Batch size.
    pub batch: usize,
    /// Learning rate.
    pub lr: f32,
    /// Seed.
    pub seed: u64,
    /// Threads (0: all).
    pub threads: usize,
    /// Resume from this checkpoint.
    pub resume: Option<PathBuf>,
    /// Write checkpoints here.
    pub checkpoint: Option<PathBuf>,
    /// Every this many steps.
    pub checkpoint_every: u64,
    /// The model file.
    pub out: PathBuf,
}

/// A validated training job.
#[derive(Debug)]
pub struct TrainJob {
    req: TrainRequest,
    train: Vec<[f32; 2]>,
    held_out: Vec<[f32; 2]>,
    shift: [f32; 2],
    scale: [f32; 2],
    log_det: f64,
    resume: Option<Checkpoint>,
    out: Staged,
}

fn to_rows(t: &data::Table) -> Vec<[f64; 2]> {
    (0..t.rows).map(|i| [t.row(i)[0], t.row(i)[1]]).collect()
}

impl TrainJob {
    /// Validates the request: the model/loss pair, the numbers, the data, the checkpoint to
    /// resume from, the output path — all before any training.
    pub fn new(req: TrainRequest) -> anyhow::Result<Self> {
        let loss = req.loss.unwrap_or(match req.model {
            ModelName::Scorenet => LossName::Dsm,
            _ => LossName::Nll,
        });
        match (req.model, loss) {
            (ModelName::Scorenet, LossName::Dsm) => {}
            (ModelName::Scorenet, l) => {
                bail!("loss {l:?} does not fit scorenet (it trains by dsm)")
            }
            (m, LossName::Dsm) => bail!("loss dsm does not fit {m:?} (flows train by nll)"),
            _ => {}
        }
        ensure!(
            req.sde.is_none() || req.model == ModelName::Scorenet,
            "--sde applies to scorenet only"
        );
        match (req.model, req.hidden) {
            (_, None) | (ModelName::Maf, Some(16 | 64)) | (ModelName::Scorenet, Some(16 | 128)) => {
            }
            (ModelName::Maf, Some(h)) => bail!("--hidden {h}: this build trains maf with 16 or 64"),
            (ModelName::Scorenet, Some(h)) => {
                bail!("--hidden {h}: this build trains scorenet with 16 or 128")
            }
            (m, Some(_)) => bail!("--hidden applies to maf and scorenet only, not {m:?}"),
        }
        ensure!(req.steps >= 1, "--steps must be at least 1");
        ensure!(req.batch >= 1 && req.batch <= 1 << 20, "--batch must be 1..=1048576");
        ensure!(req.lr.is_finite() && req.lr > 0.0 && req.lr < 1.0, "--lr must lie in (0, 1)");
        ensure!(req.checkpoint_every >= 1, "--checkpoint-every must be at least 1");
        let (train, held) = if let Some(set) = ToySet::from_name(&req.data) {
            (set.sample(TOY_TRAIN, req.seed), set.sample(TOY_HELD_OUT, req.seed.wrapping_add(1)))
        } else {
            let path = Path::new(&req.data);
            let table = data::read_points(path, Some(2)).map_err(|e| {
                anyhow::anyhow!(
                    "{}: {e} (not a toy set: {}; this build trains D = 2 models)",
                    path.display(),
                    ToySet::ALL.map(|s| s.name()).join(", ")
                )
            })?;
            let s = data::split(&table, HELD_OUT_FRACTION, req.seed)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            ensure!(
                s.train.rows >= 2 && s.held_out.rows >= 1,
                "too few rows to train and hold out"
            );
            (to_rows(&s.train), to_rows(&s.held_out))
        };
        let mean = |k: usize| train.iter().map(|x| x[k]).sum::<f64>() / train.len() as f64;
        let m = [mean(0), mean(1)];
        let sd = |k: usize| {
            (train.iter().map(|x| (x[k] - m[k]).powi(2)).sum::<f64>() / train.len() as f64).sqrt()
        };
        let s = [sd(0), sd(1)];
        ensure!(
            s.iter().all(|v| v.is_finite() && *v > 0.0),
            "the data do not vary in every dimension"
        );
        let to_f32 = |rows: &[[f64; 2]]| -> Vec<[f32; 2]> {
            rows.iter()
                .map(|x| [((x[0] - m[0]) / s[0]) as f32, ((x[1] - m[1]) / s[1]) as f32])
                .collect()
        };
        let resume = match &req.resume {
            Some(p) => Some(Checkpoint::load(p).map_err(|e| anyhow::anyhow!("{e}"))?),
            None => None,
        };
        let mut inputs: Vec<&Path> = vec![Path::new(&req.data)];
        if let Some(p) = &req.resume {
            inputs.push(p);
        }
        let out = Staged::new(&req.out, &inputs)?;
        if let Some(c) = &req.checkpoint {
            ensure!(c != &req.out, "--checkpoint and --out must differ");
            crate::io::staged::Staged::new(c, &[Path::new(&req.data), &req.out])?;
        }
        Ok(Self {
            train: to_f32(&train),
            held_out: to_f32(&held),
            shift: [m[0] as f32, m[1] as f32],
            scale: [s[0] as f32, s[1] as f32],
            log_det: -(s[0].ln() + s[1].ln()),
            resume,
            out,
            req,
        })
    }

    /// Trains, writes the model file (and checkpoints), prints a summary.
    pub fn run(self, say: Say<'_>) -> anyhow::Result<()> {
        let seed = self.req.seed;
        match self.req.model {
            ModelName::Realnvp => {
                let m: RealNvp = core::array::from_fn(|k| {
                    let net = Mlp2::init(Activation::Tanh, seed.wrapping_add(100 + k as u64));
                    AffineCoupling::new(BinaryMask::alternating(k % 2).expect("2-D mask"), net)
                        .expect("the mask transforms one coordinate")
                });
                self.fit_flow("realnvp-8x(2x64x64x2)", m, say)
            }
            ModelName::Maf if self.req.hidden == Some(16) => {
                let m: MafSmall = core::array::from_fn(|k| {
                    let net = Mlp2::init(Activation::Tanh, seed.wrapping_add(200 + k as u64));
                    (Maf::new(net), Permutation::new([1, 0]).expect("a permutation"))
                });
                self.fit_flow("maf-4x(2x16x16x4)", m, say)
            }
            ModelName::Maf => {
                let m: MafStack = core::array::from_fn(|k| {
                    let net = Mlp2::init(Activation::Tanh, seed.wrapping_add(200 + k as u64));
                    (Maf::new(net), Permutation::new([1, 0]).expect("a permutation"))
                });
                self.fit_flow("maf-4x(2x64x64x4)", m, say)
            }
            ModelName::Spline => {
                let m: SplineStack = core::array::from_fn(|k| {
                    let net = Mlp2::init(Activation::Tanh, seed.wrapping_add(300 + k as u64));
                    SplineCoupling::new(
                        BinaryMask::alternating(k % 2).expect("2-D mask"),
                        SPLINE_BOUND,
                        net,
                    )
                    .expect("a valid spline coupling")
                });
                self.fit_flow("spline-4x(K8,2x64x64x23)", m, say)
            }
            ModelName::Scorenet => {
                let sde = self.req.sde.unwrap_or(AnySde::Vp(Vp::default()));
                match (sde, self.req.hidden == Some(16)) {
                    (AnySde::Ve(s), false) => self.fit_score::<Ve, 128>(s, "scorenet-ve", say),
                    (AnySde::Vp(s), false) => self.fit_score::<Vp, 128>(s, "scorenet-vp", say),
                    (AnySde::SubVp(s), false) => {
                        self.fit_score::<SubVp, 128>(s, "scorenet-subvp", say)
                    }
                    (AnySde::Ve(s), true) => self.fit_score::<Ve, 16>(s, "scorenet16-ve", say),
                    (AnySde::Vp(s), true) => self.fit_score::<Vp, 16>(s, "scorenet16-vp", say),
                    (AnySde::SubVp(s), true) => {
                        self.fit_score::<SubVp, 16>(s, "scorenet16-subvp", say)
                    }
                }
            }
        }
    }

    fn fit_score<S: Sde + Copy + std::fmt::Debug + Send + Sync + 'static, const H: usize>(
        self,
        sde: S,
        tag: &str,
        say: Say<'_>,
    ) -> anyhow::Result<()>
    where
        ScoreNet<SdeTime<S>, 2, 8, 18, H, 1>: ModelFormat,
    {
        let emb = TimeEmbedding::fourier(16.0, TimeFeature::Time { scale: 1.0 }, self.req.seed)?;
        let net = ScoreNet::<SdeTime<S>, 2, 8, 18, H, 1>::init(
            Activation::Silu,
            emb,
            SdeTime(sde),
            OutputScale::InverseSigma,
            self.req.seed,
        );
        self.fit(tag, net, Dsm::standard(sde), Some(0.999), say, |_m, _x| None)
    }

    fn fit_flow<B>(self, tag: &str, model: B, say: Say<'_>) -> anyhow::Result<()>
    where
        B: TrainableInverse<2> + ModelFormat + Sync,
    {
        let log_det = self.log_det;
        self.fit(tag, model, FlowNll, None, say, move |m: &B, xs: &[[f32; 2]]| {
            let flow = Flow::new(StandardNormal, *m);
            let mut total = 0.0f64;
            for x in xs {
                match flow.log_prob::<f64, 2>([x[0] as f64, x[1] as f64]) {
                    Ok(lp) => total -= lp + log_det,
                    Err(_) => return None,
                }
            }
            Some(total / xs.len() as f64)
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn fit<M, Lo>(
        self,
        tag: &str,
        model: M,
        loss: Lo,
        ema_rate: Option<f32>,
        say: Say<'_>,
        held_out_nll: impl Fn(&M, &[[f32; 2]]) -> Option<f64>,
    ) -> anyhow::Result<()>
    where
        M: Params + ModelFormat + Sync,
        Lo: Loss<2, M> + Sync,
    {
        let r = &self.req;
        let mut adam = AdamConfig::adam(r.lr);
        adam.grad_clip = Some(1.0);
        let config = TrainConfig { batch: r.batch, adam, ema_rate, seed: r.seed };
        let mut trainer = Trainer::new(model, loss, config)?;
        if let Some(ck) = &self.resume {
            trainer.resume(ck, tag).map_err(|e| anyhow::anyhow!("{e}"))?;
            ensure!(
                trainer.steps_done() <= r.steps,
                "the checkpoint is past --steps ({})",
                trainer.steps_done()
            );
        }
        let mut cpu = Cpu::new(r.threads).map_err(|e| anyhow::anyhow!(e))?;
        let src = Resample::new(&self.train, r.seed.wrapping_add(7)).context("no training data")?;
        let t0 = Instant::now();
        let start = trainer.steps_done();
        let mut last = f64::NAN;
        while trainer.steps_done() < r.steps {
            let s = trainer
                .step(&mut cpu, &src)
                .with_context(|| format!("step {}", trainer.steps_done() + 1))?;
            last = s.loss;
            if s.step % (r.steps / 10).max(1) == 0 || s.step == r.steps {
                say(&format!("step {}/{}: loss {:.4}", s.step, r.steps, s.loss))?;
            }
            if let Some(path) = &r.checkpoint
                && s.step % r.checkpoint_every == 0
            {
                trainer.checkpoint(tag).save(path).map_err(|e| anyhow::anyhow!("{e}"))?;
            }
        }
        let secs = t0.elapsed().as_secs_f64();
        let model = trainer.ema_model()?;
        let standardize = format::Standardize::new(self.shift, self.scale)?;
        let len = format::encoded_len(&model, &standardize)?;
        let mut bytes = vec![0u8; len];
        format::save(&model, &standardize, &mut bytes)?;
        let nll = held_out_nll(&model, &self.held_out);
        let mut line = format!(
            "{tag}: {} steps × {} in {secs:.1} s ({:.0} steps/s), final loss {last:.4}",
            r.steps - start,
            r.batch,
            (r.steps - start) as f64 / secs.max(1e-9)
        );
        if let Some(n) = nll {
            line.push_str(&format!(", held-out NLL {n:.4} nats"));
        }
        say(&line)?;
        let mut f = self.out.file()?;
        f.write_all(&bytes).context("cannot write the model file")?;
        drop(f);
        self.out.commit()
    }
}
