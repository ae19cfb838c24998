#!/usr/bin/env bash
# Runs every test of the workspace, setting up what it needs first.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== [$((SECONDS / 60)) min $((SECONDS % 60)) s] set-up: embedded Rust targets"
rustup target add thumbv7em-none-eabihf thumbv6m-none-eabi riscv32imac-unknown-none-elf

echo "== [$((SECONDS / 60)) min $((SECONDS % 60)) s] set-up: libnvrtc for the CUDA kernels' compile test"
# libnvrtc from PyPI's nvidia-cuda-nvrtc-cu12 wheel (no CUDA toolkit or GPU needed), on the
# loader's path for every test below. When it cannot be fetched the NVRTC test fails, unless
# FLOWSCORE_SKIP_NVRTC=1 is set.
if NVRTC_DIR="$(bash scripts/fetch-nvrtc.sh)"; then
    export LD_LIBRARY_PATH="$NVRTC_DIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
else
    echo "could not fetch libnvrtc (scripts/fetch-nvrtc.sh)"
fi

echo "== [$((SECONDS / 60)) min $((SECONDS % 60)) s] host tests (workspace; with the CUDA kernels compiled as host C++, whose gradients must equal the CPU's)"
# One build for all: `host-kernels` adds the C++-compiled kernels to the CUDA test.
cargo test --workspace --features flowscore-std/host-kernels

echo "== [$((SECONDS / 60)) min $((SECONDS % 60)) s] firmware in QEMU and the core's tests on target"
bash scripts/firmware.sh

# Each target runs for FUZZ_SECONDS (default 20) from its committed seed corpus, without a
# sanitizer: the fuzzed code has no `unsafe` (the core forbids it, flowscore-std denies it
# outside the CUDA backend and the AVX2 lanes, neither of which is built here), so panics,
# aborts, out-of-memory and slow inputs (over 10 s) are what can be found, and libFuzzer
# reports all of them.
# The mutations follow FUZZ_SEED (default 1), so that a run is repeatable: the same seed
# explores the same inputs in the same order, and a longer run covers a shorter one's.
# FUZZ_SEED=0 lets libFuzzer pick a fresh seed (exploratory runs).
FUZZ_SECONDS="${FUZZ_SECONDS:-20}"
FUZZ_SEED="${FUZZ_SEED:-1}"
echo "== [$((SECONDS / 60)) min $((SECONDS % 60)) s] fuzzing: the model loader, the spec, NPY/CSV and checkpoint parsers, the arguments (fuzz/, $FUZZ_SECONDS s per target)"
# Needs a nightly toolchain and cargo-fuzz; cargo-fuzz is installed when absent (about 2-3 min).
if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "skipped: no nightly toolchain (cargo +nightly)"
else
    if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
        cargo install cargo-fuzz --locked || true
    fi
    if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
        echo "skipped: cargo-fuzz is not installed and could not be installed"
    else
        # 16 codegen units: a build twice as fast on two cores, for slightly slower runs.
        fuzz_flags=(-s none --codegen-units 16)
        (cd fuzz && cargo +nightly fuzz build "${fuzz_flags[@]}")
        echo "[$((SECONDS / 60)) min $((SECONDS % 60)) s] fuzz targets built"
        for target in model_load spec_parse table_parse checkpoint_load cli_args; do
            work=$(mktemp -d)
            # New inputs go to a scratch directory; the committed seed corpus is only read.
            (cd fuzz && cargo +nightly fuzz run "${fuzz_flags[@]}" "$target" "$work" "corpus/$target" -- \
                -max_total_time="$FUZZ_SECONDS" -seed="$FUZZ_SEED" -timeout=10) >"$work.log" 2>&1 || {
                tail -n 60 "$work.log"
                echo "fuzz target $target failed (artifacts in fuzz/artifacts/$target)"
                exit 1
            }
            echo "[$((SECONDS / 60)) min $((SECONDS % 60)) s] $target: $(grep -E '^Done [0-9]+ runs' "$work.log" | tail -n 1)"
            rm -rf "$work" "$work.log"
        done
    fi
fi
