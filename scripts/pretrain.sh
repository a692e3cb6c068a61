#!/usr/bin/env bash
# Sets up a fresh Debian machine, builds moe in release mode and runs `moe pretrain` on the
# default recipe with real data. Extra arguments go to `moe pretrain`
# (e.g. scripts/pretrain.sh --recipe recipes/fmnist-cosine.yaml --steps 200).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
swift build -c release
exec .build/release/moe pretrain "$@"
