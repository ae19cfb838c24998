#!/usr/bin/env bash
# Train on the host, run on the device: draws the simulated sensor's normal operating data,
# trains the anomaly detector's flow and its second opinion's score network with
# `flowscore train`, chooses their thresholds on held-out normal readings, and writes what the
# firmware embeds:
#   DIR/sensor-flow.flws             the flow's model file (the core's format, CRC-32 checked)
#   DIR/sensor-flow-threshold.txt    the 0.1 % quantile of held-out normal log-likelihoods
#   DIR/sensor-score.flws            the score network's model file
#   DIR/sensor-score-threshold.txt   the same quantile of its probability-flow log-likelihoods
# DIR defaults to firmware-example/models (the committed files). Training is deterministic
# (the same bits for any thread count), so a run reproduces the committed files byte for byte;
# scripts/firmware.sh checks that.
# FLOWSCORE names the flowscore binary to use; by default it is built (release).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here/models}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
flowscore="${FLOWSCORE:-}"
if [ -z "$flowscore" ]; then
    (cd "$here/.." && cargo build --release --quiet -p flowscore-std --bin flowscore)
    target_dir="${CARGO_TARGET_DIR:-target}"
    case "$target_dir" in /*) ;; *) target_dir="$here/../$target_dir" ;; esac
    flowscore="$target_dir/release/flowscore"
fi
host=$(rustc -vV | sed -n 's/^host: //p')
sensor_data() {
    (cd "$here" && cargo run --quiet -p flowscore-scenario --example sensor_data --target "$host" -- "$@")
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# 50 000 normal readings (jitter seed 0x11111111; the device's stream uses another seed).
sensor_data normal "$tmp/normal.csv" 50000 286331153
# 4 MAF layers, MADE 2-16-16-4: 1 552 parameters (6.2 KB).
"$flowscore" train --model maf --hidden 16 --data "$tmp/normal.csv" --steps 10000 --lr 3e-3 \
    --seed 1 --out "$tmp/sensor-flow.flws"
# The threshold: the 0.1 % quantile over 20 000 held-out normal readings (seed 0x22222223),
# scored by the same f32 code the device runs.
sensor_data threshold "$tmp/sensor-flow.flws" 20000 572662307 0.001 >"$tmp/sensor-flow-threshold.txt"
echo "threshold (nats): $(cat "$tmp/sensor-flow-threshold.txt")"
# The second opinion: a score network 2 + 16 -> 16 -> 16 -> 2 (610 parameters, 2.5 KB) trained by
# denoising score matching (VP SDE) on the same data, its threshold the same quantile of the
# same held-out readings, by the probability-flow ODE the device solves.
"$flowscore" train --model scorenet --hidden 16 --data "$tmp/normal.csv" --steps 10000 --lr 3e-3 \
    --seed 1 --out "$tmp/sensor-score.flws"
sensor_data score-threshold "$tmp/sensor-score.flws" 20000 572662307 0.001 \
    >"$tmp/sensor-score-threshold.txt"
echo "second-opinion threshold (nats): $(cat "$tmp/sensor-score-threshold.txt")"
mv "$tmp"/sensor-flow.flws "$tmp"/sensor-flow-threshold.txt "$tmp"/sensor-score.flws \
    "$tmp"/sensor-score-threshold.txt "$out/"
echo "wrote the model files and thresholds to $out"
