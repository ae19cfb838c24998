#!/usr/bin/env bash
# On a machine with an NVIDIA GPU and its driver: the CUDA backend against the CPU backend and
# the benchmark against PyTorch.
#  1. the device's DSM gradients (ScoreNet 2 → 256 → 256 → 2, batch 65 536, VE / VP / sub-VP)
#     equal the CPU's within 1e-5 relative;
#  2. 100 training steps on the device end within 1e-4 relative of 100 on the CPU;
#  3. the timing of one DSM step on both, and PyTorch CUDA's (benches/peers/train_cuda.py) when
#     torch is installed.
# NVRTC: libnvrtc.so.12 from a CUDA toolkit on the loader's path, or the copy that
# scripts/fetch-nvrtc.sh put in target/nvrtc/lib (fetch it where the network is, then carry it).
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET="${CARGO_TARGET_DIR:-target}"

if [ -d "$TARGET/nvrtc/lib" ]; then
    export LD_LIBRARY_PATH="$(cd "$TARGET/nvrtc/lib" && pwd)${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
elif NVRTC_DIR="$(bash scripts/fetch-nvrtc.sh 2>/dev/null)"; then
    export LD_LIBRARY_PATH="$NVRTC_DIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi

echo "== device"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true

echo "== kernels compile (NVRTC) and the backend starts"
cargo test --release -p flowscore-std --test cuda -- --nocapture

echo "== GPU = CPU: gradients (1e-5 relative) and 100 training steps (1e-4 relative)"
cargo test --release -p flowscore-std --test cuda -- --ignored --nocapture device_matches_cpu

if [ -f benches/peers/train_cuda.py ] && python3 -c 'import torch; assert torch.cuda.is_available()' 2>/dev/null; then
    echo "== PyTorch CUDA peer"
    python3 benches/peers/train_cuda.py
else
    echo "== PyTorch CUDA peer: skipped (no benches/peers/train_cuda.py or no torch with CUDA)"
fi
echo "gpu-check done"
