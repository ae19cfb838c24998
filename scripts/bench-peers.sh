#!/usr/bin/env bash
# Runs flowscore's training benchmarks and their PyTorch peers alternately in one run, so the
# ratios compare measurements taken under the same machine load. The Python peers are installed
# into a private virtual environment (benches/peers/.venv; PEERS_VENV overrides it).
#
#   bash scripts/bench-peers.sh            # two alternating rounds
#   ROUNDS=3 SECONDS_PER_JOB=5 bash scripts/bench-peers.sh
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${PEERS_VENV:-benches/peers/.venv}"
ROUNDS="${ROUNDS:-2}"
SECS="${SECONDS_PER_JOB:-5}"
THREADS="${PEER_THREADS:-2}"

if ! "$VENV/bin/python" -c "import torch" 2>/dev/null; then
    echo "== installing the peers (torch, numpy) into $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet torch numpy
fi

echo "== building the benchmarks"
cargo bench --bench learning --no-run

echo "== machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; $(date -u +%Y-%m-%d)"
for round in $(seq 1 "$ROUNDS"); do
    echo "== round $round: flowscore (criterion)"
    cargo bench --bench learning -- --warm-up-time 1 --measurement-time "$SECS" 2>/dev/null \
        | grep -E "^(dsm|nll)|thrpt:" || true
    echo "== round $round: PyTorch ($THREADS threads)"
    "$VENV/bin/python" benches/peers/dsm_scorenet.py --threads "$THREADS" --seconds "$SECS"
    "$VENV/bin/python" benches/peers/realnvp_nll.py --threads "$THREADS" --seconds "$SECS"
done
