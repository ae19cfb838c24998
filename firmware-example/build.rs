//! Puts the mps2-an386 memory map on the linker search path as `memory.x` (cortex-m-rt's `link.x`
//! includes it). It is not named `memory.x` in the source tree: the linker looks in the
//! workspace directory first, and the other boards of this workspace have their own maps.
use std::{env, fs, path::PathBuf};

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR is set by cargo"));
    fs::copy("memory-an386.x", out.join("memory.x")).expect("memory-an386.x is readable");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=memory-an386.x");
    println!("cargo:rerun-if-changed=build.rs");
}
