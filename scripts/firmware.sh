#!/usr/bin/env bash
# Trains the firmware's anomaly detector again on the host and checks it is the committed model,
# runs the firmware example and the core's on-target tests on a Cortex-M4F in QEMU (mps2-an386),
# checks that the host computes the hash the firmware printed, runs the anomaly-detector image
# (its learned model in flash) and checks its budgets (flash, static RAM, stack), checks that
# neither image links a panic path, that the same scenario prints the
# same hash on a soft-float Cortex-M0 (microbit) and on RV32IMAC (virt), and that planted
# failures make the runs exit non-zero (1 for a failed check or a damaged model, 2 for a
# HardFault). Building these three images builds the core for each embedded target.
# Installs what is missing when it can: the Rust targets (rustup), qemu-system-arm and
# qemu-system-misc and llvm (apt-get, as root), defmt-print (cargo install); otherwise stops and names
# what to install.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== [$SECONDS s] firmware: tools"
rustup target add thumbv7em-none-eabihf thumbv6m-none-eabi riscv32imac-unknown-none-elf
missing=()
# Installs Debian packages as root. Where the plain suite's qemu cannot be installed (a newer
# qemu-utils from the backports suite already on the machine breaks qemu-system-common of the
# plain suite), installs the same packages from that backports suite, adding it to the sources.
apt_install() {
    apt-get update -qq
    if apt-get install -y -qq "$@"; then
        return 0
    fi
    local codename
    codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
    [ -n "$codename" ] || return 1
    echo "firmware: retrying $* from ${codename}-backports"
    echo "deb http://deb.debian.org/debian ${codename}-backports main" \
        > /etc/apt/sources.list.d/flowscore-backports.list
    apt-get update -qq && apt-get install -y -qq -t "${codename}-backports" "$@"
}
if ! command -v qemu-system-arm >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt_install qemu-system-arm
    else
        missing+=("qemu-system-arm (Debian/Ubuntu: sudo apt-get install qemu-system-arm)")
    fi
fi
if ! command -v qemu-system-riscv32 >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt_install qemu-system-misc
    else
        missing+=("qemu-system-riscv32 (Debian/Ubuntu: sudo apt-get install qemu-system-misc)")
    fi
fi
if ! command -v llvm-nm >/dev/null || ! command -v llvm-size >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt_install llvm
    else
        missing+=("llvm-nm and llvm-size (Debian/Ubuntu: sudo apt-get install llvm)")
    fi
fi
if ! command -v defmt-print >/dev/null; then
    cargo install --locked defmt-print || missing+=("defmt-print (cargo install --locked defmt-print)")
fi
if [ ${#missing[@]} -gt 0 ]; then
    printf 'firmware: missing tools, please install:\n' >&2
    printf '  - %s\n' "${missing[@]}" >&2
    exit 1
fi
if ! qemu-system-arm -machine help | grep -q '^mps2-an386'; then
    echo "firmware: this qemu-system-arm has no mps2-an386 machine (QEMU >= 6.0 needed)" >&2
    exit 1
fi
if ! qemu-system-arm -machine help | grep -q '^microbit'; then
    echo "firmware: this qemu-system-arm has no microbit machine (QEMU >= 4.2 needed)" >&2
    exit 1
fi
# RISC-V semihosting (the RV32 run's output and exit status) came with QEMU 7.0.
rv_major=$(qemu-system-riscv32 --version | sed -n 's/^QEMU emulator version \([0-9]*\)\..*/\1/p')
if [ -z "$rv_major" ] || [ "$rv_major" -lt 7 ]; then
    echo "firmware: qemu-system-riscv32 is older than 7.0 (no RISC-V semihosting)" >&2
    exit 1
fi
# A run that hangs (a fault loop the handlers miss) fails instead of stalling the test command.
QEMU_TIMEOUT=600

# Runs `cargo run --release "$@"` in firmware-example and prints its output; returns its status.
run_firmware() {
    (cd firmware-example && timeout "$QEMU_TIMEOUT" cargo run --release --quiet "$@")
}

# Runs a planted failure and checks it exits with the expected non-zero status.
expect_status() {
    local want=$1
    shift
    local got=0
    (cd firmware-example && timeout "$QEMU_TIMEOUT" cargo run --profile fast-build --quiet "$@") \
        >/tmp/flowscore-planted.$$ 2>&1 || got=$?
    if [ "$got" != "$want" ]; then
        cat /tmp/flowscore-planted.$$ >&2
        rm -f /tmp/flowscore-planted.$$
        echo "firmware: '$*' exited with $got, expected $want" >&2
        exit 1
    fi
    rm -f /tmp/flowscore-planted.$$
    echo "   '$*' exits with $got, as it must"
}

echo "== [$SECONDS s] firmware: unit tests of the example's scenario (hash, simulated sensor) on the host"
host=$(rustc -vV | sed -n 's/^host: //p')
(cd firmware-example && cargo test -p flowscore-scenario --target "$host")

echo "== [$SECONDS s] firmware: the learned model, trained again on the host (train-model.sh), is the committed one"
# The binary the workspace tests built: the test command's own build command, so nothing is
# rebuilt after it (a plain `cargo build` resolves features without the dev-dependencies and
# builds the command line again).
cargo test --quiet --workspace --features flowscore-std/host-kernels --no-run
retrained=$(mktemp -d)
trap 'rm -rf "$retrained"' EXIT
target_dir="${CARGO_TARGET_DIR:-target}"
case "$target_dir" in /*) ;; *) target_dir="$PWD/$target_dir" ;; esac
FLOWSCORE="$target_dir/debug/flowscore" bash firmware-example/train-model.sh "$retrained"
for f in sensor-flow.flws sensor-flow-threshold.txt sensor-score.flws sensor-score-threshold.txt; do
    if ! cmp "$retrained/$f" "firmware-example/models/$f"; then
        echo "firmware: training gave another $f than the committed one" >&2
        exit 1
    fi
done
rm -rf "$retrained"
echo "   the same bytes: training on the host is reproducible"

# No panic path: an image links none of core's panic entry points (every one of them formats a
# message and ends in the panic handler), so no input can reach a panic.
no_panic_path() {
    local panics
    panics=$(llvm-nm -C "$1" | grep -E 'core::panicking|unwrap_failed|expect_failed|slice_(start|end)_index|slice_index_order_fail|len_mismatch_fail|panic_bounds_check' || true)
    if [ -n "$panics" ]; then
        echo "$panics" >&2
        echo "firmware: $2 links a panic path" >&2
        exit 1
    fi
    echo "   $2: no panic entry point linked (llvm-nm), no reachable panic"
}

echo "== [$SECONDS s] firmware: the example in QEMU"
log=$(run_firmware 2>&1) || { echo "$log"; echo "firmware: the example failed" >&2; exit 1; }
echo "$log"
no_panic_path firmware-example/target/thumbv7em-none-eabihf/release/flowscore-firmware-example "the example"
hash=$(echo "$log" | sed -n 's/.*INFO  hash: \(0x[0-9a-f]*\).*/\1/p' | head -n 1)
if [ -z "$hash" ]; then
    echo "firmware: no hash in the firmware's output" >&2
    exit 1
fi

echo "== [$SECONDS s] firmware: the host computes the same hash ($hash)"
# With the test command's own features (as above), so that nothing is rebuilt.
FIRMWARE_HASH="$hash" cargo test --workspace --features flowscore-std/host-kernels --test firmware_hash

echo "== [$SECONDS s] firmware: the anomaly-detector image (flash <= 32 KiB, static RAM <= 4 KiB, stack <= 4 KiB, no panic path)"
log=$(run_firmware --bin anomaly-detector 2>&1) || {
    echo "$log"
    echo "firmware: the anomaly detector failed" >&2
    exit 1
}
echo "$log"
image=firmware-example/target/thumbv7em-none-eabihf/release/anomaly-detector
sections=$(llvm-size -A "$image")
section() { echo "$sections" | awk -v s="$1" '$1 == s { print $2 }'; }
flash=$(( $(section .vector_table) + $(section .text) + $(section .rodata) + $(section .data) ))
ram=$(( $(section .data) + $(section .bss) + $(section .uninit) ))
stack=$(echo "$log" | sed -n 's/.*stack: peak \([0-9]*\) bytes.*/\1/p' | head -n 1)
echo "   flash $flash B (.vector_table + .text + .rodata + .data), static RAM $ram B (.data + .bss + .uninit), peak stack ${stack:-?} B"
if [ "$flash" -gt 32768 ] || [ "$ram" -gt 4096 ] || [ -z "$stack" ] || [ "$stack" -gt 4096 ]; then
    echo "firmware: the anomaly detector is over its budget (flash 32 KiB, static RAM 4 KiB, stack 4 KiB)" >&2
    exit 1
fi
no_panic_path "$image" "the anomaly detector"

echo "== [$SECONDS s] firmware: the scenario and the core's tests on a soft-float Cortex-M0 (QEMU microbit) and on RV32IMAC (QEMU virt)"
for target in thumbv6m-none-eabi riscv32imac-unknown-none-elf; do
    log=$( (cd firmware-example && timeout "$QEMU_TIMEOUT" cargo run --profile fast-build --quiet -p flowscore-portable --target "$target") 2>&1) || {
        echo "$log"
        echo "firmware: the scenario failed on $target" >&2
        exit 1
    }
    echo "$log"
    printed=$(echo "$log" | sed -n 's/^hash: \(0x[0-9a-f]*\)$/\1/p' | head -n 1)
    if [ "$printed" != "$hash" ]; then
        echo "firmware: $target printed the hash '$printed', the Cortex-M4F and the host $hash" >&2
        exit 1
    fi
    echo "   $target: the host's hash, the core's tests passed"
done

echo "== [$SECONDS s] firmware: the core's tests on target"
run_firmware --bin tests

echo "== [$SECONDS s] firmware: planted failures must fail"
expect_status 1 --features planted-failure
expect_status 1 --features planted-failure --bin tests
expect_status 2 --features planted-fault
expect_status 1 --features planted-corruption
expect_status 1 --features planted-corruption --bin anomaly-detector
expect_status 1 -p flowscore-portable --target riscv32imac-unknown-none-elf --features planted-failure

echo "firmware: all passed"
