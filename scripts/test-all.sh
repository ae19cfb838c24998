#!/usr/bin/env bash
# Runs every test of the workspace, setting up what it needs first.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== set-up: embedded Rust targets"
rustup target add thumbv7em-none-eabihf thumbv6m-none-eabi riscv32imac-unknown-none-elf

echo "== host tests (workspace)"
cargo test --workspace

echo "== CUDA kernels: NVRTC compile for sm_80/sm_90, host-compiled kernels = CPU gradients"
# libnvrtc from PyPI's nvidia-cuda-nvrtc-cu12 wheel (no CUDA toolkit or GPU needed). When it cannot
# be fetched the test fails, unless FLOWSCORE_SKIP_NVRTC=1 is set.
if NVRTC_DIR="$(bash scripts/fetch-nvrtc.sh)"; then
    export LD_LIBRARY_PATH="$NVRTC_DIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
else
    echo "could not fetch libnvrtc (scripts/fetch-nvrtc.sh)"
fi
cargo test -p flowscore-std --features host-kernels --test cuda

echo "== firmware in QEMU and the core's tests on target"
bash scripts/firmware.sh
