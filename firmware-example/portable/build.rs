//! Puts the target's memory map on the linker search path as `memory.x`: QEMU's `microbit`
//! (nRF51822, Cortex-M0: 256 KiB flash at 0, 16 KiB RAM at 0x2000_0000) for Arm, QEMU's
//! RISC-V `virt` (RAM at 0x8000_0000, where `-bios none` starts the hart) for RV32.
use std::{env, fs, path::PathBuf};

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR is set by cargo"));
    let arch = env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let memory = match arch.as_str() {
        "arm" => "memory-microbit.x",
        "riscv32" => "memory-virt.x",
        _ => return,
    };
    fs::copy(memory, out.join("memory.x")).expect("the memory map is readable");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed={memory}");
    println!("cargo:rerun-if-changed=build.rs");
}
