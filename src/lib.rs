//! Host of the workspace's cross-crate tests (`tests/`) and criterion benchmarks (`benches/`).
//! It has no API of its own; the library is the `flowscore` crate in `core/`.
#![no_std]
