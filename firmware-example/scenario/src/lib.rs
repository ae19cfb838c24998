//! The firmware example's computation, shared by the Cortex-M4F firmware and the host test.
//!
//! [`run`] samples from the example's models and scores a sensor stream for anomalies, feeding
//! every `f32` it produces into an FNV-1a hash ([`hash::Fnv1a`]). The firmware prints the hash
//! from QEMU and compares it with [`EXPECTED_HASH`]; the host test `tests/firmware_hash.rs`
//! runs this same function through the same core code and asserts the same hash, so the two
//! agree bit for bit (the core's math uses no fused multiply-add for this reason).
//!
//! No heap: all buffers are fixed-size arrays on the stack.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod flash_model;
pub mod hash;
pub mod learned;
pub mod models;
pub mod sensor;

use embedded_hal::digital::OutputPin;
use embedded_hal::i2c::I2c;
use flowscore::likelihood::{ExactDivergence, ExactPrior, PfConfig, pf_log_likelihood};
use flowscore::rng::Streams;
use flowscore::sample::{AnnealedLangevin, EulerMaruyama, LaneSampler};
use flowscore::score::MixtureScore;
use flowscore::sde::{SAMPLING_EPS_VP, Vp};

use hash::Fnv1a;
use learned::{LearnedDetector, SecondOpinion};
use models::PlanarFlow;
use sensor::{SENSOR_ADDRESS, Sensor, SensorError, SimulatedSensor};

/// The hash of everything [`run`] produces with the default seeds, on every target.
pub const EXPECTED_HASH: u64 = 0xb992_ef70_bcbc_83a7;

/// Seed of the sampling streams (sample i of each sampler uses `Streams::new(seed, i)`).
pub const SAMPLE_SEED: u64 = 0x5EED_F10E;
/// Seed of the simulated sensor's jitter.
pub const SENSOR_SEED: u32 = 0x2545_F491;
/// Samples drawn by each sampler.
pub const SAMPLES: usize = 16;
/// Reverse-SDE Euler–Maruyama steps (VP SDE, T = 1 down to ε = 1e-3).
pub const EM_STEPS: u32 = 200;
/// Sensor readings scored.
pub const READINGS: u32 = sensor::SIGNAL_PERIOD;
/// Readings scored by the learned detector after the first [`READINGS`] (16 periods of the
/// signal: 960 normal readings and 64 injected anomalies).
pub const LEARNED_READINGS: u32 = 16 * sensor::SIGNAL_PERIOD;
/// Readings the anomaly-detector firmware scores, from the first (64 periods of the signal:
/// 3 840 normal readings and 256 injected anomalies).
pub const DETECTOR_READINGS: u32 = 64 * sensor::SIGNAL_PERIOD;
/// The hash of [`detect`] over the [`DETECTOR_READINGS`] of the sensor stream
/// ([`SENSOR_SEED`]), on every target.
pub const DETECTOR_HASH: u64 = 0x8108_19e3_a632_d3c6;

/// A reading whose flow log-likelihood falls below this is an anomaly (nats). Normal readings
/// near the ring score −12 to −1 under the flow; the three outliers far from it below −35 (the
/// empty centre of the ring scores high under the flow: the mixture catches that one).
pub const FLOW_THRESHOLD: f32 = -20.0;
/// A reading whose mixture log-likelihood (probability-flow ODE) falls below this is an anomaly
/// (nats). Normal readings score above −3 (the jitter is within 1.2 σ of a mean); the ring's
/// centre scores −21.6 (the injected reading near it −18.1).
pub const MIXTURE_THRESHOLD: f32 = -9.0;

/// What the scenario reports as it goes (the firmware logs it; the host test records it).
pub trait Report {
    /// Reading `index` scored below a threshold under the flow or the mixture.
    fn anomaly(&mut self, index: u32, reading: [f32; 2], flow_log_prob: f32, mixture_log_prob: f32);
    /// The learned detector flagged reading `index`, which the device did not inject: a false
    /// alarm.
    fn false_alarm(&mut self, _index: u32, _reading: [f32; 2], _log_prob: f32) {}
    /// The learned detector flagged reading `index`, an injected anomaly.
    fn learned_anomaly(&mut self, _index: u32, _reading: [f32; 2], _log_prob: f32) {}
}

/// A report that ignores everything.
#[derive(Clone, Copy, Debug, Default)]
pub struct Silent;

impl Report for Silent {
    fn anomaly(&mut self, _: u32, _: [f32; 2], _: f32, _: f32) {}
}

/// The outcome of one [`run`].
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Summary {
    /// Mean of the reverse-SDE Euler–Maruyama samples of the mixture.
    pub em_mean: [f32; 2],
    /// Mean radius of the Euler–Maruyama samples (the ring's radius is 2).
    pub em_radius: f32,
    /// Mean radius of the annealed Langevin samples.
    pub langevin_radius: f32,
    /// Mean log-probability of the planar-flow samples.
    pub flow_mean_log_prob: f32,
    /// Sensor readings scored.
    pub readings: u32,
    /// Probability-flow field evaluations over all readings.
    pub nfe: u32,
    /// Readings flagged as anomalies.
    pub flagged: u32,
    /// Flagged readings that were injected anomalies.
    pub true_positives: u32,
    /// Injected anomalies in the stream.
    pub injected: u32,
    /// Readings scored by the learned detector.
    pub learned_readings: u32,
    /// Injected anomalies among them.
    pub learned_injected: u32,
    /// Injected anomalies the learned detector flagged.
    pub learned_found: u32,
    /// Normal readings the learned detector flagged.
    pub learned_false_alarms: u32,
    /// Mean learned log-likelihood of the normal readings (nats).
    pub learned_mean_normal_log_prob: f32,
    /// Readings the learned flow flagged that the score network looked at.
    pub second_looks: u32,
    /// Injected anomalies the score network confirmed.
    pub confirmed_anomalies: u32,
    /// False alarms of the flow the score network confirmed.
    pub confirmed_false_alarms: u32,
    /// Score-network evaluations of the second looks.
    pub second_nfe: u32,
    /// Second looks that failed (counted as confirming the alarm).
    pub second_failures: u32,
    /// Numbers fed to the hash.
    pub values: u32,
    /// FNV-1a 64 of every number produced.
    pub hash: u64,
}

/// Why a run stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScenarioError<E> {
    /// The sensor failed.
    Sensor(SensorError<E>),
    /// The LED could not be driven.
    Led,
    /// A model rejected its parameters or failed a solve.
    Model(flowscore::Error),
}

impl<E> From<flowscore::Error> for ScenarioError<E> {
    fn from(e: flowscore::Error) -> Self {
        ScenarioError::Model(e)
    }
}

/// The models and samplers of the scenario, built once.
#[derive(Clone, Debug)]
pub struct Models {
    /// The 8-component mixture under the VP SDE: exact score, divergence and density at every
    /// t (the mixture itself: [`MixtureScore::mixture`], one copy of it in RAM).
    pub score: MixtureScore<2, { models::COMPONENTS }, Vp>,
    /// Probability-flow likelihood settings (ε = 1e-5, Dormand–Prince rtol = atol = 1e-5).
    pub pf: PfConfig,
    /// The 10-layer planar flow.
    pub flow: PlanarFlow,
    /// Reverse-SDE Euler–Maruyama on the VP SDE.
    pub euler_maruyama: EulerMaruyama<Vp>,
    /// NCSN's annealed Langevin with its defaults.
    pub annealed: AnnealedLangevin,
}

impl Models {
    /// Builds (and validates) everything. The learned detector is loaded on its own
    /// ([`LearnedDetector::load`] or, in place, [`LearnedDetector::reload`]).
    ///
    /// Not inlined: the construction's temporaries (the mixture's factorisations, moved into
    /// its VP score) then live in this call's frame while it runs, not in the caller's for the
    /// rest of its life (on the Cortex-M4F they were 2 KB of `main`'s frame).
    #[inline(never)]
    pub fn new() -> Result<Self, flowscore::Error> {
        Ok(Self {
            score: models::mixture()?.under(Vp::default()),
            pf: PfConfig::default(),
            flow: models::planar_flow()?,
            euler_maruyama: EulerMaruyama::new(Vp::default(), EM_STEPS, SAMPLING_EPS_VP)?,
            annealed: AnnealedLangevin::default(),
        })
    }

    /// The mixture's log-likelihood of a reading by the probability-flow ODE (exact divergence
    /// by forward-mode duals, exact prior p_T), and the number of field evaluations it took.
    /// `index` names the point (it would fix Hutchinson probes; the exact divergence has none).
    pub fn mixture_log_prob(
        &self,
        x: [f32; 2],
        index: u64,
    ) -> Result<(f32, u32), flowscore::Error> {
        let sde = self.score.sde();
        let r = pf_log_likelihood(
            &self.score,
            sde,
            &ExactDivergence,
            &ExactPrior(&self.score),
            &x,
            index,
            &self.pf,
        )?;
        r.status.first_error()?;
        Ok((r.log_p, r.nfe as u32))
    }
}

fn mean_radius(xs: &[[f32; 2]]) -> f32 {
    let mut sum = 0.0f32;
    for x in xs {
        sum += flowscore::Real::sqrt(x[0] * x[0] + x[1] * x[1]);
    }
    sum / xs.len() as f32
}

/// Runs the scenario with `models` (from [`Models::new`]), the learned `detector` (loaded
/// from [`learned::MODEL`] into RAM, or in flash: [`flash_model`]) and its `second` opinion
/// (from [`learned::SCORE_MODEL`]) on the simulated sensor behind any I²C bus implementation,
/// driving `led` for anomalous readings.
pub fn run<B: flowscore::flow::Bijector<2>, I: I2c, P: OutputPin, Rp: Report>(
    models: &Models,
    detector: &LearnedDetector<B>,
    second: &SecondOpinion,
    bus: I,
    led: &mut P,
    report: &mut Rp,
) -> Result<Summary, ScenarioError<I::Error>> {
    let mut hash = Fnv1a::new();
    let mut summary = Summary::default();

    // Reverse-SDE Euler–Maruyama samples of the mixture (exact perturbed score under VP).
    let score = &models.score;
    let mut xs = [[0.0f32; 2]; SAMPLES];
    for (i, x) in xs.iter_mut().enumerate() {
        let mut rng = Streams::<f32>::new(SAMPLE_SEED, i as u64);
        models.euler_maruyama.run(score, x, &mut rng);
        hash.push_all(x);
    }
    let mut mean = [0.0f32; 2];
    for x in &xs {
        mean[0] += x[0] / SAMPLES as f32;
        mean[1] += x[1] / SAMPLES as f32;
    }
    summary.em_mean = mean;
    summary.em_radius = mean_radius(&xs);
    hash.push_all(&summary.em_mean);
    hash.push_f32(summary.em_radius);

    // Annealed Langevin samples of the same mixture (NCSN noise levels), from the origin.
    let noisy = models.score.mixture().noisy();
    for (i, x) in xs.iter_mut().enumerate() {
        *x = [0.0; 2];
        let mut rng = Streams::<f32>::new(SAMPLE_SEED ^ 1, i as u64);
        models.annealed.run(&noisy, x, &mut rng);
        hash.push_all(x);
    }
    summary.langevin_radius = mean_radius(&xs);
    hash.push_f32(summary.langevin_radius);

    // Planar-flow samples with their log-probabilities, in one pass.
    let mut lp_sum = 0.0f32;
    for i in 0..SAMPLES {
        let mut rng = Streams::<f32>::new(SAMPLE_SEED ^ 2, i as u64);
        let (x, lp) = models.flow.sample_and_log_prob::<f32, _, 2>(&mut rng);
        hash.push_all(&x);
        hash.push_f32(lp);
        lp_sum += lp;
    }
    summary.flow_mean_log_prob = lp_sum / SAMPLES as f32;
    hash.push_f32(summary.flow_mean_log_prob);

    // Anomaly scoring of the sensor stream: the flow's exact log-likelihood (inverse pass) and
    // the mixture's.
    let mut sensor = Sensor::new(bus, SENSOR_ADDRESS).map_err(ScenarioError::Sensor)?;
    for index in 0..READINGS {
        let reading = sensor.read().map_err(ScenarioError::Sensor)?;
        let flow_lp = models.flow.log_prob(reading)?;
        let (mixture_lp, nfe) = models.mixture_log_prob(reading, u64::from(index))?;
        summary.nfe += nfe;
        hash.push_all(&reading);
        hash.push_f32(flow_lp);
        hash.push_f32(mixture_lp);
        hash.push_u32(nfe);
        // A NaN log-likelihood counts as an anomaly: only finite scores at or above both
        // thresholds are normal.
        let normal = flow_lp >= FLOW_THRESHOLD && mixture_lp >= MIXTURE_THRESHOLD;
        if normal {
            led.set_low().map_err(|_| ScenarioError::Led)?;
        } else {
            summary.flagged += 1;
            if SimulatedSensor::is_anomaly(index) {
                summary.true_positives += 1;
            }
            report.anomaly(index, reading, flow_lp, mixture_lp);
            led.set_high().map_err(|_| ScenarioError::Led)?;
        }
        if SimulatedSensor::is_anomaly(index) {
            summary.injected += 1;
        }
    }
    summary.readings = READINGS;

    // The learned detector on the readings that follow: the flow trained on the host from the
    // sensor's normal data, its threshold chosen on held-out normal readings.
    let d =
        detect(detector, second, &mut sensor, READINGS, LEARNED_READINGS, led, report, &mut hash)?;
    summary.learned_readings = d.readings;
    summary.learned_injected = d.injected;
    summary.learned_found = d.found;
    summary.learned_false_alarms = d.false_alarms;
    summary.learned_mean_normal_log_prob = d.mean_normal_log_prob;
    summary.second_looks = d.second_looks;
    summary.confirmed_anomalies = d.confirmed_anomalies;
    summary.confirmed_false_alarms = d.confirmed_false_alarms;
    summary.second_nfe = d.second_nfe;
    summary.second_failures = d.second_failures;
    summary.values = hash.count();
    summary.hash = hash.value();
    Ok(summary)
}

/// A second look at a reading the learned flow flagged: `None` when there is none (the
/// anomaly-detector image, which holds the flow alone), or another model's log-likelihood and
/// whether it confirms the alarm, with the model evaluations it took.
pub trait SecondLook {
    /// Looks at a flagged reading.
    fn look(&self, reading: [f32; 2]) -> Result<Option<(f32, bool, u32)>, flowscore::Error>;
}

/// No second look.
impl SecondLook for () {
    #[inline(always)]
    fn look(&self, _: [f32; 2]) -> Result<Option<(f32, bool, u32)>, flowscore::Error> {
        Ok(None)
    }
}

/// The score network's probability-flow log-likelihood.
impl SecondLook for SecondOpinion {
    fn look(&self, reading: [f32; 2]) -> Result<Option<(f32, bool, u32)>, flowscore::Error> {
        let (lp, nfe) = self.log_prob(reading)?;
        Ok(Some((lp, self.confirms(lp), nfe)))
    }
}

/// What [`detect`] found.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Detection {
    /// Readings scored.
    pub readings: u32,
    /// Injected anomalies among them.
    pub injected: u32,
    /// Injected anomalies flagged.
    pub found: u32,
    /// Normal readings flagged.
    pub false_alarms: u32,
    /// Mean learned log-likelihood of the normal readings (nats).
    pub mean_normal_log_prob: f32,
    /// Flagged readings given a second look.
    pub second_looks: u32,
    /// Injected anomalies the second look confirmed.
    pub confirmed_anomalies: u32,
    /// False alarms the second look confirmed.
    pub confirmed_false_alarms: u32,
    /// Model evaluations of the second looks.
    pub second_nfe: u32,
    /// Second looks that failed (counted as confirming the alarm).
    pub second_failures: u32,
}

/// The learned detector on readings `first .. first + count` of `sensor` (the indices name
/// the device's readings, so the injected ones are known): each reading and its
/// log-likelihood go into `hash`, then the mean normal log-likelihood; the LED is on for a
/// flagged reading; flagged readings are reported as anomalies or false alarms, and given
/// `second`'s look (its log-likelihood into the hash after the flow's). The anomaly detector
/// firmware runs this alone, with its layers in flash and no second look; the full example
/// after its closed-form models, with its layers loaded into RAM and the score network's second
/// opinion.
#[allow(clippy::too_many_arguments)]
pub fn detect<B: flowscore::flow::Bijector<2>, S: SecondLook, I: I2c, P: OutputPin, Rp: Report>(
    detector: &LearnedDetector<B>,
    second: &S,
    sensor: &mut Sensor<I>,
    first: u32,
    count: u32,
    led: &mut P,
    report: &mut Rp,
    hash: &mut Fnv1a,
) -> Result<Detection, ScenarioError<I::Error>> {
    let end = first.saturating_add(count);
    let mut d = Detection { readings: end - first, ..Detection::default() };
    let mut normal_lp_sum = 0.0f32;
    for index in first..end {
        let reading = sensor.read().map_err(ScenarioError::Sensor)?;
        let lp = detector.log_prob(reading)?;
        hash.push_all(&reading);
        hash.push_f32(lp);
        let injected = SimulatedSensor::is_anomaly(index);
        d.injected += u32::from(injected);
        if !injected {
            normal_lp_sum += lp;
        }
        if detector.is_normal(lp) {
            led.set_low().map_err(|_| ScenarioError::Led)?;
        } else {
            led.set_high().map_err(|_| ScenarioError::Led)?;
            let confirmed = match second.look(reading) {
                Ok(Some((lp2, confirmed, nfe))) => {
                    hash.push_f32(lp2);
                    hash.push_u32(nfe);
                    d.second_looks += 1;
                    d.second_nfe = d.second_nfe.saturating_add(nfe);
                    confirmed
                }
                Ok(None) => false,
                // A second look that fails (its ODE solve gave up) does not stop the detector:
                // the flow's alarm stands, counted as confirmed, and the failure is counted.
                Err(_) => {
                    hash.push_u32(u32::MAX);
                    d.second_looks += 1;
                    d.second_failures += 1;
                    true
                }
            };
            d.confirmed_anomalies += u32::from(confirmed && injected);
            d.confirmed_false_alarms += u32::from(confirmed && !injected);
            if injected {
                d.found += 1;
                report.learned_anomaly(index, reading, lp);
            } else {
                d.false_alarms += 1;
                report.false_alarm(index, reading, lp);
            }
        }
    }
    d.mean_normal_log_prob = normal_lp_sum / d.readings.saturating_sub(d.injected).max(1) as f32;
    hash.push_f32(d.mean_normal_log_prob);
    Ok(d)
}
