//! Board support for the firmware example on QEMU's `mps2-an386` (Cortex-M4F): exit through
//! semihosting, the panic and HardFault handlers, the FPGA I/O LEDs as `embedded-hal` pins,
//! the stack high-water mark, an instruction counter, and the boot check of the learned flow
//! that both images run from flash.
#![no_std]

pub mod board;
pub mod counter;
mod logger;
pub mod stack;

use flowscore_scenario::flash_model;
use flowscore_scenario::learned::{LearnedDetector, SensorFlowLayers, THRESHOLD};

/// Exit status of a run whose checks passed.
pub const EXIT_OK: i32 = 0;
/// Exit status after a panic (a failed check, a wrong hash).
pub const EXIT_PANIC: i32 = 1;
/// Exit status after a HardFault.
pub const EXIT_HARD_FAULT: i32 = 2;

/// Ends the QEMU run with `code` as its exit status (semihosting `SYS_EXIT_EXTENDED`).
pub fn exit(code: i32) -> ! {
    semihosting::process::exit(code)
}

/// Logs `what` and ends the run with [`EXIT_PANIC`].
pub fn fail(what: &'static str) -> ! {
    defmt::error!("failed: {=str}", what);
    exit(EXIT_PANIC)
}

/// The value of `r`, or [`fail`] with `what` (without formatting the error: keeping
/// `core::fmt` out of the image saves several KiB of flash).
pub fn check<T, E>(r: Result<T, E>, what: &'static str) -> T {
    match r {
        Ok(v) => v,
        Err(_) => fail(what),
    }
}

/// The value of `o`, or [`fail`] with `what`.
pub fn some<T>(o: Option<T>, what: &'static str) -> T {
    match o {
        Some(v) => v,
        None => fail(what),
    }
}

/// The learned flow in flash ([`flash_model`]), once the CRC-32 of its layers and
/// standardisation equals the model file's; otherwise the two checksums are logged and the run
/// ends with [`EXIT_PANIC`].
#[inline(never)]
pub fn verified_detector() -> LearnedDetector<&'static SensorFlowLayers> {
    match flash_model::verified() {
        Ok(detector) => {
            defmt::info!(
                "learned model: the {=usize}-byte model file's CRC-32 {=u32:#010x} verified over the flash-resident model; threshold {=f32} nats",
                flash_model::MODEL_LEN,
                flash_model::MODEL_CRC,
                THRESHOLD
            );
            detector
        }
        Err(crc) => {
            defmt::error!(
                "learned model refused: the flash-resident model's CRC-32 {=u32:#010x} differs from the model file's {=u32:#010x}",
                crc,
                flash_model::MODEL_CRC
            );
            fail("the flash-resident model is damaged")
        }
    }
}

/// Logs the panic's location (and its message when it is a plain string: formatting arbitrary
/// messages would pull `core::fmt` into the image) and exits with [`EXIT_PANIC`].
#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    if let Some(message) = info.message().as_str() {
        defmt::error!("panic: {=str}", message);
    }
    if let Some(location) = info.location() {
        defmt::error!("panic at {=str}:{=u32}", location.file(), location.line());
    }
    exit(EXIT_PANIC)
}

#[cortex_m_rt::exception]
unsafe fn HardFault(frame: &cortex_m_rt::ExceptionFrame) -> ! {
    defmt::error!("HardFault at pc = {=u32:#010x}, lr = {=u32:#010x}", frame.pc(), frame.lr());
    exit(EXIT_HARD_FAULT)
}

defmt::timestamp!("{=u32}", counter::ticks());
