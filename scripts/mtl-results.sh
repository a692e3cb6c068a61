#!/usr/bin/env bash
# Comparison of the balancing methods, each run through `moe pretrain` and evaluated (test
# metrics as JSON; scripts/mtl-table.py computes Δm against the baselines' metrics, the same
# formula as `moe eval --baselines`, without re-evaluating the baselines for every run).
# Usage: bash scripts/mtl-results.sh STEPS OUTDIR BASELINES [methods...]
# Environment: RECIPE (default recipes/mtl-short.yaml); SETS, extra `--set` overrides for every
# run; MOE, the moe binary or a wrapper; RELATIONS, GradSplit's mask (default: classification's
# gradient kept out of the dense tasks' groups, see README). Finished methods are skipped and an
# interrupted method resumes from its last checkpoint, so a comparison continues where it stopped.
# Full budget on the default recipe (README "Multi-task optimisation"):
#   RECIPE=recipes/default.yaml SETS="--set optimizer=adamw --set training.stepMode=roundRobin
#   --set training.diagnosticsEvery=100" RELATIONS="[[1,1,0],[0,1,1],[0,1,1]]" \
#   bash scripts/mtl-results.sh 1367 OUT BASELINES     (the mask `moe relations` measured)
set -euo pipefail
steps=$1; out=$2; baselines=$3; shift 3
methods=${*:-equal static uncertainty uncertainty-analytic gradnorm tbgc pcgrad gradsplit}
moe=${MOE:-.build/release/moe}
recipe=${RECIPE:-recipes/mtl-short.yaml}
relations=${RELATIONS:-[[1,1,1],[0,1,1],[0,1,1]]}
read -r -a extra <<< "${SETS:-}"
# A resumed run keeps its checkpoint's recipe: pass on only the options that are not `--set`.
runtime=()
for ((i = 0; i < ${#extra[@]}; i++)); do
    if [ "${extra[i]}" = --set ]; then i=$((i + 1)); else runtime+=("${extra[i]}"); fi
done
mkdir -p "$out"
if [ ! -f "$out/baselines.json" ]; then
    for b in ${baselines//,/ }; do "$moe" eval --checkpoint "$b" --json; done > "$out/baselines.json"
fi
for m in $methods; do
    if [ -s "$out/$m.eval.json" ]; then echo "$m: done"; continue; fi
    sets=(--set "balancing=$m")
    if [ "$m" = gradsplit ]; then
        sets=(--set balancing.method=gradsplit --set "balancing.relations=$relations")
    fi
    if [ -f "$out/$m/$m.moe" ]; then
        "$moe" pretrain --resume "$out/$m/$m.moe" --steps "$steps" "${runtime[@]}" >> "$out/$m.log" 2>&1
    else
        "$moe" pretrain --recipe "$recipe" --steps "$steps" --out "$out/$m/$m.moe" "${extra[@]}" "${sets[@]}" \
            > "$out/$m.log" 2>&1
    fi
    "$moe" eval --checkpoint "$out/$m/$m.moe" --json > "$out/$m.eval.json.tmp" 2>&1
    mv "$out/$m.eval.json.tmp" "$out/$m.eval.json"
done
