//! The firmware example's computation on the host: same seeds, same core code, same hash as the
//! Cortex-M4F run in QEMU.
//!
//! The firmware asserts `flowscore_scenario::EXPECTED_HASH` on target and this test asserts it on
//! the host, so both runs produced the same bits. When `FIRMWARE_HASH` is set (scripts/firmware.sh
//! sets it to the hash the QEMU run printed) the host hash is also compared with it directly.

use core::convert::Infallible;

use embedded_hal::digital::{ErrorType, OutputPin};
use flowscore_scenario::sensor::{SIGNAL_PERIOD, SimulatedSensor};
use flowscore_scenario::{EXPECTED_HASH, Models, READINGS, Report, SENSOR_SEED, Summary};

/// A pin that records its level and how often it went high.
#[derive(Default)]
struct RecordingPin {
    high: bool,
    rising_edges: u32,
}

impl ErrorType for RecordingPin {
    type Error = Infallible;
}

impl OutputPin for RecordingPin {
    fn set_low(&mut self) -> Result<(), Infallible> {
        self.high = false;
        Ok(())
    }
    fn set_high(&mut self) -> Result<(), Infallible> {
        self.rising_edges += u32::from(!self.high);
        self.high = true;
        Ok(())
    }
}

/// Records the indices of the readings reported as anomalies.
#[derive(Default)]
struct Flagged(Vec<u32>);

impl Report for Flagged {
    fn anomaly(&mut self, index: u32, _reading: [f32; 2], _flow: f32, _mixture: f32) {
        self.0.push(index);
    }
}

fn run() -> (Summary, RecordingPin, Flagged) {
    let mut pin = RecordingPin::default();
    let mut flagged = Flagged::default();
    let models = Models::new().expect("the models are valid");
    let summary =
        flowscore_scenario::run(&models, SimulatedSensor::new(SENSOR_SEED), &mut pin, &mut flagged)
            .expect("the scenario runs");
    (summary, pin, flagged)
}

#[test]
fn host_hash_equals_the_firmware_hash() {
    let (summary, _, _) = run();
    assert_eq!(
        summary.hash, EXPECTED_HASH,
        "host hash {:#018x} differs from the hash the firmware asserts",
        summary.hash
    );
    if let Ok(printed) = std::env::var("FIRMWARE_HASH") {
        let printed = u64::from_str_radix(printed.trim().trim_start_matches("0x"), 16)
            .expect("FIRMWARE_HASH is a hexadecimal u64");
        assert_eq!(summary.hash, printed, "host and QEMU hashes differ");
    }
}

#[test]
fn the_run_is_reproducible() {
    assert_eq!(run().0, run().0);
}

#[test]
fn anomalies_flagged_are_the_injected_ones_and_drive_the_led() {
    let (summary, pin, flagged) = run();
    let injected: Vec<u32> = (0..READINGS).filter(|&i| SimulatedSensor::is_anomaly(i)).collect();
    assert_eq!(READINGS, SIGNAL_PERIOD);
    assert_eq!(flagged.0, injected, "flagged readings");
    assert_eq!(summary.flagged as usize, injected.len());
    assert_eq!(summary.true_positives, summary.injected);
    // Injected anomalies are never adjacent, so each lights the LED anew.
    assert_eq!(pin.rising_edges as usize, injected.len());
}
