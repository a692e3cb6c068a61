#!/usr/bin/env bash
# Installs what moe needs on a Debian machine: OpenBLAS, zstd, zlib, libpng, libjpeg and Open MPI (with
# pkg-config, which SwiftPM uses to find them), the zstd tool, the real datasets
# (Fashion-MNIST from dataset-fashion-mnist, digits from python3-sklearn), and Pillow
# (python3-pil), which the image tests use to write fixtures and reference pixels.
# Safe to run again: it installs only what is missing.
set -euo pipefail

packages=(pkg-config libopenblas-dev libzstd-dev zlib1g-dev libpng-dev libjpeg62-turbo-dev zstd
    libopenmpi-dev openmpi-bin dataset-fashion-mnist python3-sklearn python3-pil python3-zstandard)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "setup: installing ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v swift >/dev/null 2>&1; then
    echo "setup: error: no Swift toolchain on PATH; moe needs Swift 6 (https://www.swift.org/install/linux/)" >&2
    exit 1
fi
echo "setup: ok ($(swift --version 2>/dev/null | head -n 1))"
