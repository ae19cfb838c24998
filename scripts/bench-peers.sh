#!/usr/bin/env bash
# Runs flowscore's training benchmarks and their PyTorch peers alternately in one run, so the
# ratios compare measurements taken under the same machine load. The Python peers are installed
# into a private virtual environment (benches/peers/.venv; PEERS_VENV overrides it).
#
#   bash scripts/bench-peers.sh            # two alternating rounds of every job
#   ROUNDS=3 SECONDS_PER_JOB=5 bash scripts/bench-peers.sh
#   JOBS=sampler bash scripts/bench-peers.sh   # only the `flowscore sample` job
#
# Jobs (each flowscore figure is the path a user runs: the command, or the std crate's
# parallel API; the default build, with its run-time dispatch, and again with
# FLOWSCORE_SIMD=baseline for the baseline lanes where a job is dispatched (planar, sampler;
# both must write the same bytes):
#   planar    2-D planar flow, K = 10, 10^6 samples + log-densities: the std crate's
#             par::flow_sample_and_log_prob (std-ext/examples/planar_job.rs) against
#             benches/peers/planar_flow.py
#   sampler   `flowscore sample`, reverse VP-SDE Euler-Maruyama, 1 000 steps, 10^5 samples of
#             benches/data/ring8.json, against benches/peers/em_mixture.py
#   loglik    `flowscore loglik --method ode` (rtol = atol = 1e-5, f64) on 10^4 points of the
#             same mixture, against torchdiffeq's dopri5 (benches/peers/pf_loglik.py); both
#             errors against the closed form
#   learning  benches/learning.rs against benches/peers/{dsm_scorenet,realnvp_nll}.py
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${PEERS_VENV:-benches/peers/.venv}"
ROUNDS="${ROUNDS:-2}"
SECS="${SECONDS_PER_JOB:-5}"
THREADS="${PEER_THREADS:-2}"
JOBS="${JOBS:-planar sampler loglik learning}"
has() { [[ " $JOBS " == *" $1 "* ]]; }

if ! "$VENV/bin/python" -c "import torch, torchdiffeq" 2>/dev/null; then
    echo "== installing the peers (torch, torchdiffeq, numpy) into $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet torch torchdiffeq numpy
fi

echo "== building the benchmarks and the command"
has learning && cargo bench --bench learning --no-run
if has sampler || has loglik; then cargo build --release -p flowscore-std --bin flowscore; fi
has planar && cargo build --release -p flowscore-std --example planar_job
fs=target/release/flowscore
ring8=benches/data/ring8.json
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if has loglik; then
    "$fs" sample --target "$ring8" --sampler euler-maruyama --steps 200 -n 10000 --seed 2 \
        --out "$work/pts.csv" >/dev/null
    "$fs" loglik --target "$ring8" --data "$work/pts.csv" --method exact --out "$work/exact.csv" \
        >/dev/null
fi

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
    if has planar; then
        echo "== round $round: planar: flowscore (std parallel API; dispatched, then baseline lanes)"
        target/release/examples/planar_job
        FLOWSCORE_SIMD=baseline target/release/examples/planar_job
        echo "== round $round: planar: PyTorch ($THREADS threads)"
        "$VENV/bin/python" benches/peers/planar_flow.py --threads "$THREADS"
    fi
    if has sampler; then
        em=$(seconds "$fs" sample --target "$ring8" --sampler euler-maruyama --steps 1000 \
            -n 100000 --seed 1 --out "$work/em.npy")
        em_base=$(FLOWSCORE_SIMD=baseline seconds "$fs" sample --target "$ring8" \
            --sampler euler-maruyama --steps 1000 -n 100000 --seed 1 --out "$work/em-base.npy")
        cmp "$work/em.npy" "$work/em-base.npy"
        pt=$(seconds "$VENV/bin/python" benches/peers/em_mixture.py "$ring8" \
            -n 100000 --steps 1000 --threads "$THREADS")
        python3 -c "print(f'== round $round: sample euler-maruyama, 10^5 x 1000: flowscore {$em} s' \
            f' ({1e8 / $em / 1e6:.1f} M sample-steps/s), PyTorch {$pt} s' \
            f' ({1e8 / $pt / 1e6:.1f} M), ratio {$pt / $em:.2f}x;' \
            f' baseline lanes {$em_base} s (ratio {$pt / $em_base:.2f}x), the same bytes')"
    fi
    if has loglik; then
        ll=$(seconds "$fs" loglik --target "$ring8" --data "$work/pts.csv" --method ode \
            --out "$work/ode.csv")
        python3 - "$work/ode.csv" "$work/exact.csv" "$ll" "$round" <<'PY'
import sys
ode = [float(v) for v in open(sys.argv[1]).read().split()[1:]]
exact = [float(v) for v in open(sys.argv[2]).read().split()[1:]]
err = [abs(a - b) for a, b in zip(ode, exact)]
t = float(sys.argv[3])
print(f"== round {sys.argv[4]}: loglik ode, {len(ode)} points: flowscore {t:.2f} s = "
      f"{len(ode) / t / 1e3:.1f} k points/s (command, start and files included), "
      f"|error| max {max(err):.2e} mean {sum(err) / len(err):.2e}")
PY
        "$VENV/bin/python" benches/peers/pf_loglik.py "$ring8" "$work/pts.csv" --threads "$THREADS"
    fi
done
