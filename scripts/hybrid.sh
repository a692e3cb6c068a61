#!/usr/bin/env bash
# Hybrid adaptation pipeline (DESIGN §6, MTHL 3.3): a new router for digits on a pretrained
# backbone, prune 2/3 of the experts by digits' usage, then train the router again at K=3
# with two experts per layer unfrozen. Every step is one `moe` command; each prints
# trainable parameters, model parameters, FLOPs ratio and the metric, and appends a record
# to the checkpoint's history.
#
#   bash scripts/hybrid.sh [pretrained.moe] [output-directory]
set -euo pipefail
cd "$(dirname "$0")/.."
source_checkpoint=${1:-checkpoints/default/default.moe}
out=${2:-checkpoints/hybrid}
moe=${MOE:-.build/release/moe}
mkdir -p "$out"

"$moe" adapt --router-only --checkpoint "$source_checkpoint" --recipe recipes/digits.yaml \
    --steps 300 --out "$out/1-router.moe"
"$moe" prune --checkpoint "$out/1-router.moe" --dataset digits --keep 4 --finetune-steps 0 \
    --out "$out/2-pruned.moe"
"$moe" adapt --router-only --checkpoint "$out/2-pruned.moe" --recipe recipes/digits.yaml \
    --top-k 3 --experts 2 --expert-choice most-used --steps 200 --out "$out/3-hybrid.moe"
"$moe" eval --checkpoint "$out/3-hybrid.moe"
