#!/usr/bin/env bash
# The measurements behind README "Adaptation and continual learning": downstream digits
# (Table-3 style rows), a downstream detection task, and a sequence of three expansions next
# to sequential full fine-tuning. Logs go to $out/*.log; run time ~1 h on 2 cores.
# PARTS picks what runs (default all): digits (Table-3 rows, ~20 min), seeds (full
# fine-tune and router + 2 experts for head seeds 1 and 2), expansion, topk, detect.
#
#   [PARTS="digits seeds"] bash scripts/adaptation-experiments.sh [pretrained.moe] [output-directory]
set -euo pipefail
cd "$(dirname "$0")/.."
src=${1:-checkpoints/default/default.moe}
out=${2:-checkpoints/adaptation}
moe=${MOE:-.build/release/moe}
parts=" ${PARTS:-digits seeds expansion topk detect} "
want() { [[ $parts == *" $1 "* ]]; }
mkdir -p "$out"
# Steps whose log already ends with a result are skipped, so the script can be resumed.
run() {
  local name=$1; shift
  if [ -f "$out/$name.log" ] && grep -q "^checkpoint:\|^dataset " "$out/$name.log"; then return; fi
  echo "== $name: moe $*" | tee "$out/$name.log"; "$moe" "$@" 2>/dev/null | tee -a "$out/$name.log"
}
d=recipes/digits.yaml

# Digits (Table 3 rows).
if want digits; then
run digits-full adapt --checkpoint "$src" --recipe $d --out "$out/digits-full.moe"
run digits-router adapt --router-only --checkpoint "$src" --recipe $d --out "$out/digits-router.moe"
run digits-router-2 adapt --router-only --experts 2 --expert-choice most-used --checkpoint "$src" --recipe $d --out "$out/digits-router-2.moe"
run digits-router-1 adapt --router-only --experts 1 --expert-choice most-used --checkpoint "$src" --recipe $d --out "$out/digits-router-1.moe"
run digits-prune-half prune --checkpoint "$out/digits-router.moe" --dataset digits --keep 6 --finetune-steps 100 --out "$out/digits-prune-half.moe"
run digits-prune-twothirds prune --checkpoint "$out/digits-router.moe" --dataset digits --keep 4 --finetune-steps 100 --out "$out/digits-prune-twothirds.moe"
for k in 3 2 1; do
  run digits-router-eval-topk$k eval --checkpoint "$out/digits-router.moe" --top-k $k
done
run digits-hybrid-prune prune --checkpoint "$out/digits-router.moe" --dataset digits --keep 4 --out "$out/digits-hybrid-pruned.moe"
run digits-hybrid adapt --router-only --top-k 3 --experts 2 --expert-choice most-used --checkpoint "$out/digits-hybrid-pruned.moe" --recipe $d --steps 200 --out "$out/digits-hybrid.moe"
fi

# The two rows of the 97 % target over more seeds of the new head (the split stays the
# source run's).
if want seeds; then
for s in 1 2; do
  run digits-full-seed$s adapt --checkpoint "$src" --recipe $d --seed $s --out "$out/digits-full-seed$s.moe"
  run digits-router-2-seed$s adapt --router-only --experts 2 --expert-choice most-used --checkpoint "$src" --recipe $d --seed $s --out "$out/digits-router-2-seed$s.moe"
done
fi

# Expansion sequence: digits → small-scene detection → small-scene segmentation, next to
# full fine-tuning of the whole model on the same sequence.
if want expansion; then
run base-eval eval --checkpoint "$src"
prev=$src; prevf=$out/digits-full.moe
for r in digits scenes-small-detect scenes-small-segment; do
  run expand-$r expand --experts 2 --checkpoint "$prev" --recipe recipes/$r.yaml --out "$out/expand-$r.moe"
  run expand-$r-eval eval --checkpoint "$out/expand-$r.moe"
  prev=$out/expand-$r.moe
  if [ $r != digits ]; then
    run finetune-$r adapt --checkpoint "$prevf" --recipe recipes/$r.yaml --out "$out/finetune-$r.moe"
    prevf=$out/finetune-$r.moe
  fi
  run finetune-$r-eval eval --checkpoint "$prevf"
done
fi

# Top-K reduction trained into a new router.
if want topk; then
for k in 2 1 3; do
  run digits-topk$k adapt --router-only --top-k $k --checkpoint "$src" --recipe $d --out "$out/digits-topk$k.moe"
done
fi

# A downstream dense task: detection on small scenes.
if want detect; then
run detect-full adapt --checkpoint "$src" --recipe recipes/scenes-small-detect.yaml --out "$out/detect-full.moe"
run detect-router adapt --router-only --checkpoint "$src" --recipe recipes/scenes-small-detect.yaml --out "$out/detect-router.moe"
run detect-router-2 adapt --router-only --experts 2 --expert-choice most-used --checkpoint "$src" --recipe recipes/scenes-small-detect.yaml --out "$out/detect-router-2.moe"
run detect-prune-half prune --checkpoint "$out/detect-router.moe" --dataset detect-small --keep 6 --finetune-steps 100 --out "$out/detect-prune-half.moe"
fi
