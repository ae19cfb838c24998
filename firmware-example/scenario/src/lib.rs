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

pub mod hash;
pub mod sensor;

use embedded_hal::digital::OutputPin;
use embedded_hal::i2c::I2c;
use flowscore::Real;
use flowscore::rng::{LaneSource, Streams};
use flowscore::sde::{Sde, Vp};

use hash::Fnv1a;
use sensor::{SENSOR_ADDRESS, Sensor, SensorError, SimulatedSensor};

/// The hash of everything [`run`] produces with the default seeds, on every target.
pub const EXPECTED_HASH: u64 = 0x2493_e5b4_ad51_ce7d;

/// Seed of the sampling streams (sample i uses `Streams::new(SAMPLE_SEED, i)`).
pub const SAMPLE_SEED: u64 = 0x5EED_F10E;
/// Seed of the simulated sensor's jitter.
pub const SENSOR_SEED: u32 = 0x2545_F491;
/// Samples drawn by each sampler.
pub const SAMPLES: usize = 16;
/// Sensor readings scored.
pub const READINGS: u32 = sensor::SIGNAL_PERIOD;
/// A reading whose log-likelihood falls below this is an anomaly (nats).
pub const LOG_LIKELIHOOD_THRESHOLD: f32 = -9.0;

/// What the scenario reports as it goes (the firmware logs it; the host test records it).
pub trait Report {
    /// Reading `index` scored below the threshold.
    fn anomaly(&mut self, index: u32, reading: [f32; 2], log_likelihood: f32);
}

/// A report that ignores everything.
#[derive(Clone, Copy, Debug, Default)]
pub struct Silent;

impl Report for Silent {
    fn anomaly(&mut self, _: u32, _: [f32; 2], _: f32) {}
}

/// The outcome of one [`run`].
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Summary {
    /// Mean of the prior samples.
    pub sample_mean: [f32; 2],
    /// Sensor readings scored.
    pub readings: u32,
    /// Readings flagged as anomalies.
    pub flagged: u32,
    /// Flagged readings that were injected anomalies.
    pub true_positives: u32,
    /// Injected anomalies in the stream.
    pub injected: u32,
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

/// Runs the scenario on the simulated sensor behind any I²C bus implementation, driving `led`
/// for anomalous readings.
pub fn run<I: I2c, P: OutputPin, Rp: Report>(
    bus: I,
    led: &mut P,
    report: &mut Rp,
) -> Result<Summary, ScenarioError<I::Error>> {
    let mut hash = Fnv1a::new();
    let mut summary = Summary::default();
    let sde = Vp::default();

    // Sampling: prior draws (per-sample streams).
    let mut mean = [0.0f32; 2];
    for i in 0..SAMPLES {
        let mut rng = Streams::<f32>::new(SAMPLE_SEED, i as u64);
        let x: [f32; 2] = rng.normal_array();
        let lp: f32 = sde.prior_log_prob(&x);
        hash.push_all(&x);
        hash.push_f32(lp);
        mean[0] += x[0];
        mean[1] += x[1];
    }
    summary.sample_mean = [mean[0] / SAMPLES as f32, mean[1] / SAMPLES as f32];
    hash.push_all(&summary.sample_mean);

    // Anomaly scoring of the sensor stream.
    let mut sensor = Sensor::new(bus, SENSOR_ADDRESS).map_err(ScenarioError::Sensor)?;
    for index in 0..READINGS {
        let reading = sensor.read().map_err(ScenarioError::Sensor)?;
        let ll: f32 = log_likelihood(&reading);
        hash.push_all(&reading);
        hash.push_f32(ll);
        // A NaN log-likelihood counts as an anomaly: only a finite score at or above the
        // threshold is normal.
        let normal = ll >= LOG_LIKELIHOOD_THRESHOLD;
        if normal {
            led.set_low().map_err(|_| ScenarioError::Led)?;
        } else {
            summary.flagged += 1;
            if SimulatedSensor::is_anomaly(index) {
                summary.true_positives += 1;
            }
            report.anomaly(index, reading, ll);
            led.set_high().map_err(|_| ScenarioError::Led)?;
        }
        if SimulatedSensor::is_anomaly(index) {
            summary.injected += 1;
        }
    }
    summary.readings = READINGS;
    summary.values = hash.count();
    summary.hash = hash.value();
    Ok(summary)
}

/// Stand-in score of a reading: a Gaussian profile across the radius-2 ring, σ = 0.25 (nats, up
/// to a constant).
fn log_likelihood<R: Real>(x: &[R; 2]) -> R {
    let r = (x[0] * x[0] + x[1] * x[1]).sqrt();
    let z = (r - R::from_f64(2.0)) / R::from_f64(0.25);
    -R::from_f64(0.5) * z * z
}
