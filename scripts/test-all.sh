#!/usr/bin/env bash
# Runs every test of the workspace, setting up what it needs first.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== set-up: embedded Rust targets"
rustup target add thumbv7em-none-eabihf thumbv6m-none-eabi riscv32imac-unknown-none-elf

echo "== host tests (workspace)"
cargo test --workspace

echo "== firmware in QEMU and the core's tests on target"
bash scripts/firmware.sh
