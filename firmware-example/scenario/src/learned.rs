//! The learned anomaly detector: a masked autoregressive flow trained on the host by
//! `flowscore train` from the simulated sensor's normal readings (`firmware-example/train-model.sh`),
//! embedded in the image as the model file's bytes and loaded with the core's allocation-free
//! loader, which verifies the file's CRC-32, its shapes and every parameter before the flow is
//! used.
//!
//! A reading is scored by the flow's exact log-likelihood in sensor units,
//! log p(x) = log q(s(x)) + log |det ∂s/∂x|, with s the standardisation stored in the model file;
//! it is an anomaly when that falls below [`THRESHOLD`], the 0.1 % quantile of the
//! log-likelihoods of held-out normal readings computed on the host by the same `f32` code
//! (`examples/sensor_data.rs threshold`).
//!
//! A reading the flow flags gets a second opinion ([`SecondOpinion`]): the log-likelihood of a
//! small score network trained by denoising score matching on the same data (VP SDE), by the
//! probability-flow ODE with the exact divergence, against its own threshold chosen the same
//! way. Two models of another kind agreeing make a stronger alarm; one that disagrees is a
//! reading to look at.

use flowscore::Error;
use flowscore::dist::StandardNormal;
use flowscore::flow::maf::Maf;
use flowscore::flow::permute::Permutation;
use flowscore::flow::{Bijector, Flow};
use flowscore::format::{self, Standardize};
use flowscore::likelihood::prior::SdePrior;
use flowscore::likelihood::{ExactDivergence, PfConfig, pf_log_likelihood};
use flowscore::nn::{Activation, Mlp, Mlp2, TimeEmbedding};
use flowscore::ode::Dopri5Options;
use flowscore::score::{OutputScale, ScoreNet, SdeTime};
use flowscore::sde::Vp;

/// The layers of the learned flow: `flowscore train --model maf --hidden 16` (4 MAF layers,
/// MADE 2 → 16 → 16 → 4, tanh, the coordinates reversed between layers).
pub type SensorFlowLayers = [(Maf<2, 16, 4>, Permutation<2>); 4];
/// The learned flow over a standard normal base.
pub type SensorFlow = Flow<StandardNormal, SensorFlowLayers>;

/// The model file, as `train-model.sh` wrote it.
pub static MODEL: &[u8] = include_bytes!("../../models/sensor-flow.flws");

/// A reading whose learned log-likelihood (nats, sensor units) falls below this is an anomaly:
/// the 0.1 % quantile of held-out normal readings, written by `train-model.sh`.
pub const THRESHOLD: f32 = include!("../../models/sensor-flow-threshold.txt");

/// Held-out normal readings the threshold was chosen on (`train-model.sh`).
pub const THRESHOLD_READINGS: usize = 20_000;
/// The simulated sensor's jitter seed for those readings (`train-model.sh`; the training data
/// use 0x1111_1111, the device's stream [`crate::SENSOR_SEED`]).
pub const THRESHOLD_SEED: u32 = 0x2222_2223;
/// The quantile of their log-likelihoods taken as the threshold.
pub const THRESHOLD_QUANTILE: f64 = 0.001;

/// The learned flow with its standardisation, ready to score readings. `B` holds the layers:
/// by value ([`SensorFlowLayers`], loaded from the model file into RAM) or by reference (a
/// `&'static SensorFlowLayers` in flash, built at compile time: [`in_flash`](Self::in_flash)).
/// Both score a reading with the same arithmetic, so they give the same bits.
#[derive(Clone, Debug)]
pub struct LearnedDetector<B = SensorFlowLayers> {
    flow: Flow<StandardNormal, B>,
    standardize: Standardize<2>,
    log_det: f32,
}

impl LearnedDetector<&'static SensorFlowLayers> {
    /// A detector over layers that live in flash (a `static`), with their standardisation: no
    /// RAM for the parameters. The caller checks that they are the model file's
    /// (`flowscore::format::checksum_of` against the file's CRC-32) before trusting them.
    pub fn in_flash(layers: &'static SensorFlowLayers, standardize: Standardize<2>) -> Self {
        Self {
            flow: Flow::new(StandardNormal, layers),
            standardize,
            log_det: standardize.log_det_to_model() as f32,
        }
    }
}

impl LearnedDetector {
    /// A detector with all-zero layers: a placeholder that [`reload`](Self::reload) fills.
    pub fn zeroed() -> Self {
        let layer = (Maf::new(Mlp2::zeros(Activation::Tanh)), Permutation::reverse());
        Self {
            flow: Flow::new(StandardNormal, [layer; 4]),
            standardize: Standardize::identity(),
            log_det: 0.0,
        }
    }

    /// Loads a model file (checksum, shapes and parameters verified) written for
    /// [`SensorFlowLayers`].
    pub fn load(bytes: &[u8]) -> Result<Self, Error> {
        let mut d = Self::zeroed();
        d.reload(bytes)?;
        Ok(d)
    }

    /// Loads a model file into this detector in place (no second copy of the 6.2 KB of
    /// parameters on the stack). On an error the detector must not be used until a reload
    /// succeeds.
    pub fn reload(&mut self, bytes: &[u8]) -> Result<(), Error> {
        self.standardize =
            format::load_into::<SensorFlowLayers, 2>(bytes, &mut self.flow.bijector)?;
        self.log_det = self.standardize.log_det_to_model() as f32;
        Ok(())
    }
}

impl<B: Bijector<2>> LearnedDetector<B> {
    /// The log-likelihood of a reading in sensor units (nats).
    #[inline(never)]
    pub fn log_prob(&self, reading: [f32; 2]) -> Result<f32, Error> {
        let y = self.standardize.to_model(&reading);
        Ok(self.flow.log_prob::<f32, 2>(y)? + self.log_det)
    }

    /// Whether a reading is normal: a finite log-likelihood at or above [`THRESHOLD`].
    pub fn is_normal(&self, log_prob: f32) -> bool {
        log_prob >= THRESHOLD
    }
}

/// The second opinion's score network: `flowscore train --model scorenet --hidden 16` (VP SDE,
/// s(x, t) = MLP([x, emb(t)])/σ_t, 2 + 16 → 16 → 16 → 2, SiLU, 8 Fourier features of t).
pub type SensorScoreNet = ScoreNet<SdeTime<Vp>, 2, 8, 18, 16, 1>;

/// The score network's model file, as `train-model.sh` wrote it.
pub static SCORE_MODEL: &[u8] = include_bytes!("../../models/sensor-score.flws");

/// A flagged reading whose score-network log-likelihood (nats, sensor units) also falls below
/// this is confirmed: the same quantile of the same held-out readings as [`THRESHOLD`].
pub const SCORE_THRESHOLD: f32 = include!("../../models/sensor-score-threshold.txt");

/// The second opinion's ODE tolerance, rtol = atol: looser than `loglik`'s 1e-5, which costs
/// 4× the evaluations, and ample for a threshold (it moves a log-likelihood by well under
/// 0.1 nats at the threshold).
pub const SCORE_TOL: f64 = 1e-3;
/// The time ε at which the score network's log-density is evaluated.
pub const SCORE_EPS: f64 = 1e-5;

/// The second opinion: the score network, its standardisation and the ODE settings.
#[derive(Clone, Debug)]
pub struct SecondOpinion {
    net: SensorScoreNet,
    standardize: Standardize<2>,
    log_det: f32,
    pf: PfConfig,
}

impl SecondOpinion {
    /// A second opinion with an all-zero network: a placeholder that
    /// [`reload`](Self::reload) fills.
    pub fn zeroed() -> Self {
        let net = ScoreNet::new(
            Mlp::zeros(Activation::Silu),
            TimeEmbedding::sinusoidal(),
            SdeTime(Vp::default()),
            OutputScale::InverseSigma,
        );
        Self {
            net,
            standardize: Standardize::identity(),
            log_det: 0.0,
            pf: PfConfig { eps: SCORE_EPS, opts: Dopri5Options::with_tol(SCORE_TOL, SCORE_TOL) },
        }
    }

    /// Loads the score network's model file (checksum, shapes and parameters verified).
    pub fn load(bytes: &[u8]) -> Result<Self, Error> {
        let mut s = Self::zeroed();
        s.reload(bytes)?;
        Ok(s)
    }

    /// Loads a model file into this second opinion in place (no second copy of the network on
    /// the stack). On an error it must not be used until a reload succeeds.
    pub fn reload(&mut self, bytes: &[u8]) -> Result<(), Error> {
        self.standardize = format::load_into::<SensorScoreNet, 2>(bytes, &mut self.net)?;
        self.log_det = self.standardize.log_det_to_model() as f32;
        Ok(())
    }

    /// The score network's log-likelihood of a reading in sensor units (nats), by the
    /// probability-flow ODE from ε to 1 with the exact divergence and the VP prior, and the
    /// number of network evaluations it took.
    #[inline(never)]
    pub fn log_prob(&self, reading: [f32; 2]) -> Result<(f32, u32), Error> {
        let y = self.standardize.to_model(&reading);
        let sde = &self.net.conditioning.0;
        let r =
            pf_log_likelihood(&self.net, sde, &ExactDivergence, &SdePrior(sde), &y, 0, &self.pf)?;
        r.status.first_error()?;
        Ok((r.log_p + self.log_det, r.nfe as u32))
    }

    /// Whether the score network confirms an alarm: its log-likelihood is below
    /// [`SCORE_THRESHOLD`] (or NaN).
    pub fn confirms(&self, log_prob: f32) -> bool {
        log_prob.is_nan() || log_prob < SCORE_THRESHOLD
    }
}
