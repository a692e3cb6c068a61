#!/usr/bin/env bash
# Short-budget comparison of the balancing methods on recipes/mtl-short.yaml, each evaluated
# (test metrics as JSON; scripts/mtl-table.py computes Δm against the baselines' metrics, the
# same formula as `moe eval --baselines`, without re-evaluating the baselines for every run).
# Usage: bash scripts/mtl-results.sh STEPS OUTDIR BASELINES [methods...]
set -euo pipefail
steps=$1; out=$2; baselines=$3; shift 3
methods=${*:-equal static uncertainty uncertainty-analytic gradnorm tbgc pcgrad gradsplit}
moe=${MOE:-.build/release/moe}
mkdir -p "$out"
if [ ! -f "$out/baselines.json" ]; then
    for b in ${baselines//,/ }; do "$moe" eval --checkpoint "$b" --json; done > "$out/baselines.json"
fi
for m in $methods; do
    sets=(--set "balancing=$m")
    if [ "$m" = gradsplit ]; then
        # Groups of detection and segmentation do not take classification's gradient (the
        # joint default run lowered both; see README), every group takes its own task's.
        sets=(--set balancing.method=gradsplit --set "balancing.relations=[[1,1,1],[0,1,1],[0,1,1]]")
    fi
    "$moe" pretrain --recipe recipes/mtl-short.yaml --steps "$steps" --out "$out/$m/$m.moe" "${sets[@]}" \
        > "$out/$m.log" 2>&1
    "$moe" eval --checkpoint "$out/$m/$m.moe" --json > "$out/$m.eval.json" 2>&1
done
