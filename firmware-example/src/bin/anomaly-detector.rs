//! The anomaly detector as a product would ship it: the learned flow (trained on the host by
//! `train-model.sh`) scores each reading of the I²C sensor by its exact log-likelihood and
//! lights the LED for a reading below the threshold. Its parameters are a `static` in flash
//! ([`flowscore_scenario::flash_model`]), checked at boot against the model file's CRC-32;
//! flagged readings go to a bounded log (`heapless`). It prints the detection figures, its
//! footprint and the hash of every reading and score, which must equal the host's.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use flowscore_firmware_example::board::FpgaLed;
use flowscore_firmware_example::{
    EXIT_OK, check, counter, exit, fail, some, stack, verified_detector,
};
use flowscore_scenario::hash::Fnv1a;
use flowscore_scenario::sensor::{SENSOR_ADDRESS, Sensor, SimulatedSensor};
use flowscore_scenario::{DETECTOR_HASH, DETECTOR_READINGS, Report, SENSOR_SEED, detect};
use heapless::Deque;

/// The hash the run must reproduce: the host's (a wrong one with `planted-failure`).
#[cfg(not(feature = "planted-failure"))]
const EXPECTED: u64 = DETECTOR_HASH;
#[cfg(feature = "planted-failure")]
const EXPECTED: u64 = DETECTOR_HASH ^ 1;

/// Flagged readings the log keeps (the most recent ones).
const LOG_CAPACITY: usize = 16;

/// A flagged reading.
#[derive(Clone, Copy)]
struct Event {
    index: u32,
    reading: [f32; 2],
    log_prob: f32,
    injected: bool,
}

/// The anomaly log: the last [`LOG_CAPACITY`] flagged readings, and how many were flagged.
struct AnomalyLog {
    events: Deque<Event, LOG_CAPACITY>,
    flagged: u32,
}

impl AnomalyLog {
    fn record(&mut self, event: Event) {
        if self.events.is_full() {
            self.events.pop_front();
        }
        // Cannot fail: a slot was freed above when the log was full.
        let _ = self.events.push_back(event);
        self.flagged += 1;
    }
}

impl Report for AnomalyLog {
    fn anomaly(&mut self, _: u32, _: [f32; 2], _: f32, _: f32) {}
    fn learned_anomaly(&mut self, index: u32, reading: [f32; 2], log_prob: f32) {
        self.record(Event { index, reading, log_prob, injected: true });
    }
    fn false_alarm(&mut self, index: u32, reading: [f32; 2], log_prob: f32) {
        defmt::warn!(
            "false alarm: normal reading {=u32} at ({=f32}, {=f32}), log-likelihood {=f32}",
            index,
            reading[0],
            reading[1],
            log_prob
        );
        self.record(Event { index, reading, log_prob, injected: false });
    }
}

#[entry]
fn main() -> ! {
    stack::paint();
    let peripherals = some(cortex_m::Peripherals::take(), "peripherals are taken once");
    counter::start(peripherals.SYST);
    let milli_per_tick = counter::calibrate();

    let detector = verified_detector();
    let mut sensor = check(
        Sensor::new(SimulatedSensor::new(SENSOR_SEED), SENSOR_ADDRESS),
        "the sensor answers with its identity",
    );
    let mut led = some(FpgaLed::new(0), "LED 0 exists");
    let mut log = AnomalyLog { events: Deque::new(), flagged: 0 };
    let mut hash = Fnv1a::new();
    let started = counter::ticks();
    let d = check(
        detect(&detector, &(), &mut sensor, 0, DETECTOR_READINGS, &mut led, &mut log, &mut hash),
        "the sensor and the model work",
    );
    let ticks = counter::ticks().wrapping_sub(started);

    for e in &log.events {
        defmt::info!(
            "log: reading {=u32} at ({=f32}, {=f32}), log-likelihood {=f32}, {=str}",
            e.index,
            e.reading[0],
            e.reading[1],
            e.log_prob,
            if e.injected { "injected anomaly" } else { "false alarm" }
        );
    }
    defmt::info!(
        "anomaly detector: {=u32} readings, {=u32} of {=u32} injected anomalies found, {=u32} false alarms on {=u32} normal readings ({=u32} flagged, the last {=usize} logged); mean normal log-likelihood {=f32} nats",
        d.readings,
        d.found,
        d.injected,
        d.false_alarms,
        d.readings - d.injected,
        log.flagged,
        log.events.len(),
        d.mean_normal_log_prob
    );
    let per_reading = ticks as u64 * milli_per_tick as u64 / 1000 / u64::from(d.readings.max(1));
    defmt::info!(
        "instructions: {=u64} per reading (sensor read, log-likelihood, LED), stack: peak {=u32} bytes",
        per_reading,
        stack::high_water_mark()
    );
    defmt::info!("hash: {=u64:#018x}", hash.value());
    if d.found != d.injected {
        fail("an injected anomaly was missed");
    }
    if hash.value() != EXPECTED {
        defmt::error!("expected hash {=u64:#018x}", EXPECTED);
        fail("the hash differs from the host's");
    }
    defmt::info!("hash matches the host's: ok");
    exit(EXIT_OK)
}
