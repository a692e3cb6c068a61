#!/usr/bin/env bash
# Time per roundRobin step of every balancing method against `equal`, and peak RSS, on the
# default heterogeneous recipe (recipes/mtl-short.yaml = default.yaml in roundRobin mode).
# Usage: bash scripts/mtl-timing.sh [steps] [outdir]   (release build: .build/release/moe)
set -euo pipefail
steps=${1:-20}
out=${2:-/tmp/mtl-timing}
moe=${MOE:-.build/release/moe}
mkdir -p "$out"
run() {  # name, extra --set arguments...
    local name=$1; shift
    local sets=()
    for s in "$@"; do sets+=(--set "$s"); done
    /usr/bin/time -f "%M" -o "$out/$name.rss" "$moe" pretrain --recipe recipes/mtl-short.yaml \
        --steps "$steps" --out "$out/$name/$name.moe" --set training.logEvery=5 \
        --set training.diagnosticsEvery=0 --set datasets.detect.testSize=64 \
        --set datasets.segment.testSize=64 "${sets[@]}" > "$out/$name.log" 2>&1
    python3 - "$out/$name/metrics.jsonl" "$out/$name.rss" "$name" <<'PY'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if '"train"' in l]
first, last = recs[0], recs[-1]   # skip the first 5 steps (allocation, warm-up)
per = (last["seconds"] - first["seconds"]) / (last["step"] - first["step"])
rss = int(open(sys.argv[2]).read().split()[-1]) / 1024
print(f"{sys.argv[3]:28s} {per*1000:8.0f} ms/step  peak RSS {rss:6.0f} MiB")
PY
}
# static, uncertainty-analytic and tbgc-no-rescale cost what equal, uncertainty and tbgc
# cost (same code path); measure the rest, with equal first and last to see the drift.
methods=${METHODS:-uncertainty gradnorm tbgc pcgrad gradsplit}
run equal balancing=equal
for m in $methods; do
    run "$m" "balancing=$m"
done
run adam-per-task balancing=equal optimizer.kind=adam-per-task
run equal-diagnostics-every-step balancing=equal training.diagnosticsEvery=1
run equal-again balancing=equal
