//! The firmware example: runs the shared scenario on the simulated I²C sensor, lights the LED
//! for anomalous readings, prints a summary and the hash of every number produced, checks the
//! hash against the one the host computes, reports its footprint, and exits 0.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use flowscore_firmware_example::board::FpgaLed;
use flowscore_firmware_example::{EXIT_OK, counter, exit, stack};
use flowscore_scenario::sensor::SimulatedSensor;
use flowscore_scenario::{EXPECTED_HASH, Report, SENSOR_SEED};

/// Logs each anomaly as the scenario finds it.
struct DefmtReport;

impl Report for DefmtReport {
    fn anomaly(&mut self, index: u32, reading: [f32; 2], log_likelihood: f32) {
        defmt::warn!(
            "anomaly: reading {=u32} at ({=f32}, {=f32}), log-likelihood {=f32}",
            index,
            reading[0],
            reading[1],
            log_likelihood
        );
    }
}

#[entry]
fn main() -> ! {
    stack::paint();
    let peripherals = cortex_m::Peripherals::take().expect("peripherals are taken once");
    counter::start(peripherals.SYST);
    let milli_instructions_per_tick = counter::calibrate();

    let mut led = FpgaLed::new(0).expect("LED 0 exists");
    let started = counter::ticks();
    let summary =
        flowscore_scenario::run(SimulatedSensor::new(SENSOR_SEED), &mut led, &mut DefmtReport)
            .expect("the scenario's models and sensor work");
    let ticks = counter::ticks().wrapping_sub(started);

    defmt::info!(
        "sensor: {=u32} readings, {=u32} flagged, {=u32} of {=u32} injected anomalies found",
        summary.readings,
        summary.flagged,
        summary.true_positives,
        summary.injected
    );
    defmt::info!("samples: mean ({=f32}, {=f32})", summary.sample_mean[0], summary.sample_mean[1]);
    defmt::info!(
        "scenario: {=u32} numbers, about {=u64} instructions",
        summary.values,
        ticks as u64 * milli_instructions_per_tick as u64 / 1000
    );
    defmt::info!("hash: {=u64:#018x}", summary.hash);
    defmt::info!(
        "footprint: peak stack {=u32} bytes of {=u32}; {=u32} instructions per SysTick tick (x1000)",
        stack::high_water_mark(),
        stack::size(),
        milli_instructions_per_tick
    );
    assert_eq!(summary.hash, EXPECTED_HASH, "the hash differs from the host's");
    defmt::info!("hash matches the host's: ok");
    exit(EXIT_OK)
}
