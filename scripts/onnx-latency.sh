#!/usr/bin/env bash
# CPU latency of an exported dataset path: moe's own forward (`moe export --bench`) against
# ONNX Runtime (`scripts/check_onnx.py --bench`) on the same model, batch 1 and 64, with the
# same thread count; prints one markdown table row (docs/results.md "ONNX export"). The export
# is checked against moe's outputs first.
# Usage: onnx-latency.sh LABEL CHECKPOINT DATASET THREADS [moe export options...]
set -euo pipefail
label=$1 checkpoint=$2 dataset=$3 threads=$4
shift 4
here="$(cd "$(dirname "$0")" && pwd)"
moe="${MOE:-$here/../.build/release/moe}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$moe" export --checkpoint "$checkpoint" --dataset "$dataset" --onnx "$work/model.onnx" --reference "$work/ref" \
    --bench --threads "$threads" "$@" > "$work/moe.txt"
python3 "$here/check_onnx.py" "$work/model.onnx" "$work/ref" --bench --threads "$threads" > "$work/ort.txt"
cat "$work/moe.txt" "$work/ort.txt" >&2
ms() { sed -n "s/.*$1 latency, batch $2: \([0-9.]*\) ms.*/\1/p" "$3"; }
params=$(sed -n 's/.*graph parameters: \([0-9]*\).*/\1/p' "$work/moe.txt")
error=$(sed -n 's/.*max abs error \([^ ]*\) (batch.*/\1/p' "$work/ort.txt" | sort -g | tail -n 1)
echo "| $label | $dataset | $params | $error | $(ms moe 1 "$work/moe.txt") | $(ms onnxruntime 1 "$work/ort.txt") |" \
    "$(ms moe 64 "$work/moe.txt") | $(ms onnxruntime 64 "$work/ort.txt") |"
