//! The core's checks on the Cortex-M4F, under QEMU: each test is a self-contained invariant or a
//! reference value computed on the target itself (`libm`'s `f64` functions, closed forms), so a
//! wrong result on this target fails here even if the host passes.
//!
//! - math: `f32` sweeps of every kernel against `libm`'s `f64` functions with the core's ULP
//!   budgets (`core/src/math/mod.rs`), on a subset of the host's points;
//! - flows: inverse ∘ forward = id and log-det against a central-difference Jacobian, for the
//!   example's 10-layer planar flow;
//! - sampling: reverse-SDE Euler–Maruyama draws of the 8-component mixture match its exact mean
//!   and second moment;
//! - likelihood: the probability-flow ODE log-likelihood matches the closed-form density.
//!
//! Every failed check is logged; the run exits 0 only if all pass, 1 otherwise (or after a
//! panic), 2 after a HardFault. With the feature `planted-failure` one deliberately false check
//! is added, to show that a failure makes the run exit non-zero.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use flowscore_firmware_example::{EXIT_OK, EXIT_PANIC, check, exit, some};
use flowscore_scenario::Models;

macro_rules! log_info {
    ($($arg:tt)+) => { defmt::info!($($arg)+) };
}
macro_rules! log_error {
    ($($arg:tt)+) => { defmt::error!($($arg)+) };
}

#[path = "../../checks/core_checks.rs"]
mod core_checks;

#[entry]
fn main() -> ! {
    let peripherals = some(cortex_m::Peripherals::take(), "peripherals are taken once");
    flowscore_firmware_example::counter::start(peripherals.SYST);
    let models = check(Models::new(), "the example's models are valid");
    let failed = core_checks::run_all(&models);
    exit(if failed == 0 { EXIT_OK } else { EXIT_PANIC })
}
