#!/usr/bin/env bash
# Runs flowscore's training benchmarks and their PyTorch peers alternately in one run, so the
# ratios compare measurements taken under the same machine load. The Python peers are installed
# into a private virtual environment (benches/peers/.venv; PEERS_VENV overrides it).
#
#   bash scripts/bench-peers.sh            # two alternating rounds of every job
#   ROUNDS=3 SECONDS_PER_JOB=5 bash scripts/bench-peers.sh
#   JOBS=sampler bash scripts/bench-peers.sh   # only the `flowscore sample` job
#
# Jobs: `learning` (benches/learning.rs against benches/peers/{dsm_scorenet,realnvp_nll}.py)
# and `sampler` (the `flowscore sample` command, reverse VP-SDE Euler-Maruyama, 1 000 steps,
# 10^5 samples of benches/data/ring8.json, against benches/peers/em_mixture.py).
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${PEERS_VENV:-benches/peers/.venv}"
ROUNDS="${ROUNDS:-2}"
SECS="${SECONDS_PER_JOB:-5}"
THREADS="${PEER_THREADS:-2}"
JOBS="${JOBS:-learning sampler}"
has() { [[ " $JOBS " == *" $1 "* ]]; }

if ! "$VENV/bin/python" -c "import torch" 2>/dev/null; then
    echo "== installing the peers (torch, numpy) into $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet torch numpy
fi

echo "== building the benchmarks and the command"
has learning && cargo bench --bench learning --no-run
has sampler && cargo build --release -p flowscore-std --bin flowscore

# Wall seconds of a command (its output discarded).
seconds() {
    local t0 t1
    t0=$(date +%s.%N)
    "$@" >/dev/null
    t1=$(date +%s.%N)
    python3 -c "print(f'{$t1 - $t0:.2f}')"
}

echo "== machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; $(date -u +%Y-%m-%d)"
for round in $(seq 1 "$ROUNDS"); do
    if has learning; then
        echo "== round $round: flowscore (criterion)"
        cargo bench --bench learning -- --warm-up-time 1 --measurement-time "$SECS" 2>/dev/null \
            | grep -E "^(dsm|nll)|thrpt:" || true
        echo "== round $round: PyTorch ($THREADS threads)"
        "$VENV/bin/python" benches/peers/dsm_scorenet.py --threads "$THREADS" --seconds "$SECS"
        "$VENV/bin/python" benches/peers/realnvp_nll.py --threads "$THREADS" --seconds "$SECS"
    fi
    if has sampler; then
        out=$(mktemp -d)
        fs=$(seconds target/release/flowscore sample --target benches/data/ring8.json \
            --sampler euler-maruyama --steps 1000 -n 100000 --seed 1 --out "$out/em.npy")
        pt=$(seconds "$VENV/bin/python" benches/peers/em_mixture.py benches/data/ring8.json \
            -n 100000 --steps 1000 --threads "$THREADS")
        rm -rf "$out"
        python3 -c "print(f'== round $round: sample euler-maruyama, 10^5 x 1000: flowscore {$fs} s' \
            f' ({1e8 / $fs / 1e6:.1f} M sample-steps/s), PyTorch {$pt} s' \
            f' ({1e8 / $pt / 1e6:.1f} M), ratio {$pt / $fs:.2f}x')"
    fi
done
