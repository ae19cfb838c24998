//! Peak stack use: paint the free stack with a pattern at boot, find the lowest overwritten
//! word at the end. Shared (by `#[path]`) with the portable runner, so the Cortex-M4F, the
//! Cortex-M0 and RV32 measure their stacks the same way: the stack region is the linker
//! script's (cortex-m-rt: `_stack_end` up to `_stack_start`; riscv-rt: `__estack` up to
//! `_stack_start`), and the current stack pointer is read as the address of a local.

/// The paint pattern.
const PAINT: u32 = 0xDEAD_C0DE;
/// Bytes left unpainted below the stack pointer read in [`paint`]: the compiler may save
/// registers below that reading (shrink-wrapping), so the painter keeps clear of its own frame.
/// The high-water mark over-states the true peak by at most this much.
const PAINT_MARGIN: usize = 256;

unsafe extern "C" {
    /// Lowest address the stack may use (end of .bss/.uninit; cortex-m-rt's `link.x`).
    #[cfg(target_arch = "arm")]
    #[link_name = "_stack_end"]
    static mut STACK_LOW: u32;
    /// Lowest address the stack may use (the start of the `.stack` region; riscv-rt's
    /// `link.x`).
    #[cfg(target_arch = "riscv32")]
    #[link_name = "__estack"]
    static mut STACK_LOW: u32;
    /// Initial stack pointer (top of the stack region).
    #[link_name = "_stack_start"]
    static mut STACK_HIGH: u32;
}

fn bounds() -> (*mut u32, *mut u32) {
    (&raw mut STACK_LOW, &raw mut STACK_HIGH)
}

/// The stack pointer, near enough: the address of a local of this (never inlined) function.
#[inline(never)]
fn stack_pointer() -> usize {
    let marker = 0u32;
    core::hint::black_box(&marker) as *const u32 as usize
}

/// Paints every word between the stack limit and [`PAINT_MARGIN`] below the stack pointer.
#[inline(never)]
pub fn paint() {
    let (low, _) = bounds();
    let sp = stack_pointer().saturating_sub(PAINT_MARGIN) as *mut u32;
    let mut p = low;
    while p < sp {
        // SAFETY: [low, sp) is RAM reserved for the stack and below the live stack pointer, so
        // nothing uses it yet (no interrupt is enabled at this point).
        unsafe {
            p.write_volatile(PAINT);
            p = p.add(1);
        }
    }
}

/// Bytes of stack used since [`paint`]: from the top of RAM down to the lowest overwritten word.
pub fn high_water_mark() -> u32 {
    let (low, high) = bounds();
    let mut p = low;
    // SAFETY: reads within the stack region, all initialised by `paint` or by use.
    while p < high && unsafe { p.read_volatile() } == PAINT {
        p = unsafe { p.add(1) };
    }
    (high as u32).wrapping_sub(p as u32)
}

/// Bytes reserved for the stack (top of RAM down to the end of the static data).
#[allow(dead_code)] // the portable runner does not report it
pub fn size() -> u32 {
    let (low, high) = bounds();
    (high as u32).wrapping_sub(low as u32)
}
