//! The MPS2 FPGA I/O block's user LEDs as `embedded_hal::digital::OutputPin`s.
//!
//! QEMU models the AN385/AN386 FPGA I/O block at 0x4002_8000 (hw/arm/mps2.c,
//! hw/misc/mps2-fpgaio.c); its register `LED0` (offset 0) holds one bit per user LED, two LEDs.

use core::convert::Infallible;

use embedded_hal::digital::{ErrorType, OutputPin, StatefulOutputPin};

/// Address of the FPGA I/O block's `LED0` register.
pub const FPGAIO_LED0: usize = 0x4002_8000;
/// Number of user LEDs behind `LED0`.
pub const LED_COUNT: u8 = 2;

/// One user LED of the FPGA I/O block.
#[derive(Debug)]
pub struct FpgaLed {
    bit: u8,
}

impl FpgaLed {
    /// LED `index` (0 or 1); `None` for another index.
    pub fn new(index: u8) -> Option<Self> {
        (index < LED_COUNT).then_some(Self { bit: index })
    }

    fn register() -> *mut u32 {
        FPGAIO_LED0 as *mut u32
    }

    /// The whole `LED0` register, as the hardware holds it.
    pub fn register_value() -> u32 {
        // SAFETY: LED0 is a device register of the mps2-an386 memory map, valid for volatile
        // 32-bit access; reading it has no side effect.
        unsafe { Self::register().read_volatile() }
    }

    fn modify(&mut self, on: bool) {
        let mask = 1u32 << self.bit;
        let value = Self::register_value();
        let value = if on { value | mask } else { value & !mask };
        // SAFETY: as in `register_value`; writing LED0 only changes the LEDs. The
        // read-modify-write is not shared with interrupt handlers (none touch the LEDs).
        unsafe { Self::register().write_volatile(value) }
    }
}

impl ErrorType for FpgaLed {
    type Error = Infallible;
}

impl OutputPin for FpgaLed {
    fn set_low(&mut self) -> Result<(), Infallible> {
        self.modify(false);
        Ok(())
    }
    fn set_high(&mut self) -> Result<(), Infallible> {
        self.modify(true);
        Ok(())
    }
}

impl StatefulOutputPin for FpgaLed {
    fn is_set_high(&mut self) -> Result<bool, Infallible> {
        Ok(Self::register_value() & (1 << self.bit) != 0)
    }
    fn is_set_low(&mut self) -> Result<bool, Infallible> {
        Ok(Self::register_value() & (1 << self.bit) == 0)
    }
}
