//! A deterministic instruction counter: SysTick on the processor clock under QEMU `-icount`.
//!
//! With `-icount shift=0` QEMU advances its virtual clock by 1 ns per executed instruction; the
//! SysTick of mps2-an386 runs from the 25 MHz system clock, so one tick is 40 instructions.
//! [`calibrate`] measures that ratio with a loop of known length rather than assuming it.
//! (QEMU 7.2 does not emulate the DWT cycle counter: CYCCNT reads 0 even once enabled.)

use core::sync::atomic::{AtomicU32, Ordering};

use cortex_m::peripheral::SYST;
use cortex_m::peripheral::syst::SystClkSource;

/// SysTick reload: the full 24-bit range.
const RELOAD: u32 = 0x00FF_FFFF;

/// SysTick wraps so far (counted in the SysTick exception).
static WRAPS: AtomicU32 = AtomicU32::new(0);

/// Starts SysTick free-running on the processor clock with its wrap interrupt.
pub fn start(mut syst: SYST) {
    syst.set_clock_source(SystClkSource::Core);
    syst.set_reload(RELOAD);
    syst.clear_current();
    syst.enable_interrupt();
    syst.enable_counter();
    // The current value reads 0 until the first tick loads the reload value; wait for it so
    // that `ticks` is monotonic from here on (one tick is a few dozen instructions).
    for _ in 0..START_SPIN_LIMIT {
        if SYST::get_current() != 0 {
            break;
        }
    }
}

/// Bound on the wait for SysTick's first reload (a tick is 40 instructions under QEMU).
const START_SPIN_LIMIT: u32 = 10_000;

/// Ticks since [`start`] (monotonic, 32 bits).
pub fn ticks() -> u32 {
    loop {
        let wraps = WRAPS.load(Ordering::Acquire);
        let current = SYST::get_current();
        if WRAPS.load(Ordering::Acquire) == wraps {
            return wraps.wrapping_mul(RELOAD + 1).wrapping_add(RELOAD - current);
        }
    }
}

#[cortex_m_rt::exception]
fn SysTick() {
    WRAPS.fetch_add(1, Ordering::AcqRel);
}

/// Iterations of the calibration loop.
const CALIBRATION_ITERATIONS: u32 = 100_000;

/// Instructions per SysTick tick, ×1000: runs a loop of exactly two instructions per iteration
/// (`subs`, `bne`) and divides by the ticks it took.
pub fn calibrate() -> u32 {
    let start = ticks();
    // SAFETY: a register-only countdown loop; it touches no memory.
    unsafe {
        core::arch::asm!(
            "2:",
            "subs {n}, {n}, #1",
            "bne 2b",
            n = inout(reg) CALIBRATION_ITERATIONS => _,
            options(nomem, nostack),
        );
    }
    let elapsed = ticks().wrapping_sub(start).max(1);
    ((2 * CALIBRATION_ITERATIONS as u64 * 1000) / elapsed as u64) as u32
}
