#!/usr/bin/env bash
# Puts NVRTC (the CUDA run-time compiler) under target/nvrtc/lib, from PyPI's
# nvidia-cuda-nvrtc-cu12 wheel, so that the kernel compile test runs on machines without a CUDA
# toolkit. Idempotent: does nothing when the library is already there.
# Prints the library folder on stdout (put it on LD_LIBRARY_PATH); exits 1 when it cannot fetch.
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION="${FLOWSCORE_NVRTC_VERSION:-12.8.93}"
DEST="${CARGO_TARGET_DIR:-target}/nvrtc"
LIB="$DEST/lib"

if [ -e "$LIB/libnvrtc.so.12" ] && [ -e "$LIB/.version" ] && [ "$(cat "$LIB/.version")" = "$VERSION" ]; then
    (cd "$LIB" && pwd)
    exit 0
fi

mkdir -p "$DEST"
TMP="$(mktemp -d "$DEST/fetch.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT

PIP=(python3 -m pip)
if ! "${PIP[@]}" --version >/dev/null 2>&1; then
    if command -v pip3 >/dev/null 2>&1; then PIP=(pip3); else
        echo "fetch-nvrtc: no pip to download nvidia-cuda-nvrtc-cu12 with" >&2
        exit 1
    fi
fi
if ! "${PIP[@]}" download --quiet --no-deps --only-binary=:all: --dest "$TMP" \
    "nvidia-cuda-nvrtc-cu12==$VERSION" >&2; then
    echo "fetch-nvrtc: cannot download nvidia-cuda-nvrtc-cu12==$VERSION" >&2
    exit 1
fi
WHEEL="$(ls "$TMP"/nvidia_cuda_nvrtc_cu12-*.whl | head -n 1)"
python3 - "$WHEEL" "$TMP/unpacked" <<'PY'
import sys, zipfile
zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])
PY
SRC="$TMP/unpacked/nvidia/cuda_nvrtc/lib"
if [ ! -e "$SRC/libnvrtc.so.12" ]; then
    echo "fetch-nvrtc: the wheel holds no nvidia/cuda_nvrtc/lib/libnvrtc.so.12" >&2
    exit 1
fi
rm -rf "$LIB"
mkdir -p "$LIB"
cp -a "$SRC"/. "$LIB"/
echo "$VERSION" > "$LIB/.version"
(cd "$LIB" && pwd)
