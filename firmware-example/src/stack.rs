//! Peak stack use: paint the free stack with a pattern at boot, find the lowest overwritten
//! word at the end.

/// The paint pattern.
const PAINT: u32 = 0xDEAD_C0DE;
/// Bytes left unpainted below the stack pointer read in [`paint`]: the compiler may save
/// registers below that reading (shrink-wrapping), so the painter keeps clear of its own frame.
/// The high-water mark over-states the true peak by at most this much.
const PAINT_MARGIN: usize = 256;

unsafe extern "C" {
    /// Lowest address the stack may use (end of .bss/.uninit; cortex-m-rt's `link.x`).
    static mut _stack_end: u32;
    /// Initial stack pointer (top of RAM).
    static mut _stack_start: u32;
}

fn bounds() -> (*mut u32, *mut u32) {
    (&raw mut _stack_end, &raw mut _stack_start)
}

/// Paints every word between the stack limit and [`PAINT_MARGIN`] below the stack pointer.
#[inline(never)]
pub fn paint() {
    let (low, _) = bounds();
    let sp = (cortex_m::register::msp::read() as usize).saturating_sub(PAINT_MARGIN) as *mut u32;
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
pub fn size() -> u32 {
    let (low, high) = bounds();
    (high as u32).wrapping_sub(low as u32)
}
