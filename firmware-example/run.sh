#!/usr/bin/env bash
# Cargo runner: boots the ELF in QEMU's mps2-an386 (Cortex-M4F), decodes its defmt stream with
# defmt-print, and exits with the firmware's semihosting exit status.
# `-icount shift=0` makes QEMU execute one instruction per virtual nanosecond, so the SysTick
# counts the firmware reads are deterministic instruction counts.
set -euo pipefail
elf="$1"
shift
qemu-system-arm \
    -machine mps2-an386 -cpu cortex-m4 -nographic -monitor none -serial none \
    -icount shift=0 \
    -semihosting-config enable=on,target=native \
    -kernel "$elf" "$@" \
    | defmt-print -e "$elf"
