//! On-target tests of the core on the Cortex-M4F.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use flowscore_firmware_example::{EXIT_OK, exit};

#[entry]
fn main() -> ! {
    exit(EXIT_OK)
}
