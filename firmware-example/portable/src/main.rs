//! The firmware example's scenario on two more instruction sets, both without a hardware
//! floating-point unit: a Cortex-M0 (`thumbv6m-none-eabi`, QEMU `microbit`) and an RV32IMAC
//! hart (`riscv32imac-unknown-none-elf`, QEMU `virt`). It builds the same models, runs the
//! same learned model file (its layers a `static` in flash, checked against the file's CRC-32;
//! the score network loaded into RAM), scores the same simulated sensor stream, prints the hash of every
//! number produced over semihosting and exits 0 only if it equals the host's
//! ([`EXPECTED_HASH`], asserted on the host by `tests/firmware_hash.rs` and on the Cortex-M4F
//! by the firmware example): the same bits on three instruction sets and the host. Then it runs
//! the core's checks on target (`checks/core_checks.rs`, shared with the Cortex-M4F's test
//! runner) and exits 0 only if the hash is the host's and every check passes.
//!
//! Why these machines: QEMU 7.2 has no Cortex-M0+ board, and `microbit` is its Cortex-M0
//! (ARMv6-M, soft-float, 16 KiB of RAM: a small part's budget); `virt` is QEMU's generic RISC-V
//! board, and riscv32imac has no F extension, so every float operation is software.
#![no_std]
#![no_main]

use core::convert::Infallible;

use embedded_hal::digital::{ErrorType, OutputPin};
use flowscore_scenario::flash_model;
use flowscore_scenario::learned::{self, SecondOpinion};
use flowscore_scenario::sensor::SimulatedSensor;
use flowscore_scenario::{EXPECTED_HASH, Models, SENSOR_SEED, Silent};
use semihosting::println;

macro_rules! log_info {
    ($($arg:tt)+) => { semihosting::println!($($arg)+) };
}
macro_rules! log_error {
    ($($arg:tt)+) => { semihosting::println!("error: {}", format_args!($($arg)+)) };
}

#[path = "../../checks/core_checks.rs"]
mod core_checks;
#[path = "../../src/stack.rs"]
mod stack;

/// No LED on these boards: the pin does nothing.
struct NoLed;

impl ErrorType for NoLed {
    type Error = Infallible;
}

impl OutputPin for NoLed {
    fn set_low(&mut self) -> Result<(), Infallible> {
        Ok(())
    }
    fn set_high(&mut self) -> Result<(), Infallible> {
        Ok(())
    }
}

/// Runs the scenario and the core's checks and returns the exit status: 0 when the hash is the
/// host's and every check passes.
fn check() -> i32 {
    let models = match Models::new() {
        Ok(m) => m,
        Err(e) => {
            println!("error: the models are invalid: {e}");
            return 1;
        }
    };
    // The learned flow in flash (the board's 16 KiB of RAM do not hold a copy of it next to
    // the rest), checked against the model file's CRC-32 as the anomaly detector checks it.
    let detector = match flash_model::verified() {
        Ok(d) => d,
        Err(crc) => {
            println!("error: learned model refused: the flash-resident model's CRC-32 {crc:#010x}");
            return 1;
        }
    };
    let mut second = SecondOpinion::zeroed();
    if let Err(e) = second.reload(learned::SCORE_MODEL) {
        println!("error: the second opinion's model refused: {e}");
        return 1;
    }
    let summary = match flowscore_scenario::run(
        &models,
        &detector,
        &second,
        SimulatedSensor::new(SENSOR_SEED),
        &mut NoLed,
        &mut Silent,
    ) {
        Ok(s) => s,
        Err(e) => {
            println!("error: the scenario failed: {e:?}");
            return 1;
        }
    };
    println!(
        "sensor: {} readings, {} of {} injected anomalies found",
        summary.readings, summary.true_positives, summary.injected
    );
    println!(
        "learned detector: {} readings, {} of {} injected anomalies found, {} false alarms on {} normal readings",
        summary.learned_readings,
        summary.learned_found,
        summary.learned_injected,
        summary.learned_false_alarms,
        summary.learned_readings - summary.learned_injected
    );
    println!(
        "second opinion: {} of {} flagged readings confirmed ({} of them injected anomalies)",
        summary.confirmed_anomalies + summary.confirmed_false_alarms,
        summary.second_looks,
        summary.confirmed_anomalies
    );
    println!("hash: {:#018x}", summary.hash);
    if summary.hash != EXPECTED_HASH {
        println!("error: expected hash {EXPECTED_HASH:#018x}");
        return 1;
    }
    println!("hash matches the host's: ok");
    if core_checks::run_all(&models) != 0 {
        return 1;
    }
    println!("stack: peak {} bytes (the scenario and the core's checks)", stack::high_water_mark());
    0
}

/// Exit status after a panic (as the Cortex-M4F firmware's).
const EXIT_PANIC: i32 = 1;
/// Exit status after a fault (a HardFault on the M0, a trap on RV32), as the M4F firmware's.
const EXIT_FAULT: i32 = 2;

#[cfg(target_arch = "arm")]
#[cortex_m_rt::entry]
fn main() -> ! {
    stack::paint();
    semihosting::process::exit(check())
}

/// A HardFault (on this core every fault escalates to it) ends the run with [`EXIT_FAULT`]
/// instead of the runtime's endless loop.
#[cfg(target_arch = "arm")]
#[cortex_m_rt::exception]
unsafe fn HardFault(frame: &cortex_m_rt::ExceptionFrame) -> ! {
    println!("HardFault at pc = {:#010x}", frame.pc());
    semihosting::process::exit(EXIT_FAULT)
}

#[cfg(target_arch = "riscv32")]
#[riscv_rt::entry]
fn main() -> ! {
    stack::paint();
    semihosting::process::exit(check())
}

/// Any trap other than the semihosting calls ends the run with [`EXIT_FAULT`] instead of the
/// runtime's endless loop.
#[cfg(target_arch = "riscv32")]
#[unsafe(export_name = "ExceptionHandler")]
fn exception_handler(frame: &riscv_rt::TrapFrame) -> ! {
    println!("trap: ra = {:#010x}", frame.ra);
    semihosting::process::exit(EXIT_FAULT)
}

/// A panic is reported with its message and ends the run with [`EXIT_PANIC`].
#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    println!("panic: {info}");
    semihosting::process::exit(EXIT_PANIC)
}
