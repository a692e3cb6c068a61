#!/usr/bin/env bash
# ONNX export end to end (DESIGN §2.7): trains a tiny three-task model on a Fashion-MNIST subset
# (its first 1024 training and 64 test images, so the debug build's evaluations stay quick),
# prunes it, adds a dataset whose router is still zero (every routing decision a tie), and
# exports a classification, a detection, a segmentation, a pruned, a Top-K-reduced and the
# all-ties path. ONNX Runtime runs each on real test images and scripts/check_onnx.py compares
# with moe's own outputs (max abs error ≤ 1e-4) after onnx.checker.
# Usage: check-export.sh MOE_BINARY WORK_DIR
set -euo pipefail
moe=$1
work=$2
here="$(cd "$(dirname "$0")" && pwd)"
mkdir -p "$work/fmnist"
python3 - "$work/fmnist" <<'PY'
import gzip, struct, sys
source, out = "/usr/share/datasets/fashion-mnist", sys.argv[1]
for split, n in (("train", 1024), ("t10k", 64)):
    with gzip.open(f"{source}/{split}-images-idx3-ubyte.gz") as f:
        _, count, rows, cols = struct.unpack(">IIII", f.read(16))
        pixels = f.read(n * rows * cols)
    with gzip.open(f"{out}/{split}-images-idx3-ubyte.gz", "wb") as f:
        f.write(struct.pack(">IIII", 0x803, n, rows, cols) + pixels)
    with gzip.open(f"{source}/{split}-labels-idx1-ubyte.gz") as f:
        f.read(8)
        labels = f.read(n)
    with gzip.open(f"{out}/{split}-labels-idx1-ubyte.gz", "wb") as f:
        f.write(struct.pack(">II", 0x801, n) + labels)
PY
cat > "$work/tiny.yaml" <<YAML
name: onnx-tiny
model: {channels: 1, imageSize: 28, patchSize: 4, width: 32, depth: 2, heads: 2, experts: 6, topK: 2}
datasets:
  fmnist: {source: fashion-mnist, path: $work/fmnist, batchSize: 16}
  detect:
    source: scenes
    task: detection
    path: $work/fmnist
    scene: {canvas: 32, minItems: 1, maxItems: 2, minScale: 10, maxScale: 20}
    trainSize: 128
    testSize: 16
    batchSize: 16
  segment:
    source: scenes
    task: segmentation
    path: $work/fmnist
    scene: {canvas: 24, minItems: 1, maxItems: 2, minScale: 8, maxScale: 16}
    trainSize: 128
    testSize: 16
    batchSize: 16
training: {steps: 12, logEvery: 6, threads: 1}
YAML
sed -e 's/^name: onnx-tiny/name: ties/' -e '/^model:/d' -e '/^  fmnist:/d' -e '/^  detect:/,/^  segment:/{/^  segment:/!d}' \
    -e 's/^  segment:/  ties:/' -e 's/steps: 12/steps: 1/' "$work/tiny.yaml" > "$work/ties.yaml"
"$moe" pretrain --recipe "$work/tiny.yaml" --out "$work/tiny.moe" --threads 1 > /dev/null
"$moe" prune --checkpoint "$work/tiny.moe" --dataset fmnist --keep 3 --usage-images 64 --out "$work/pruned.moe" \
    --threads 1 > "$work/prune.txt"
pruned_params=$(sed -n 's/^model parameters: *\([0-9]*\).*/\1/p' "$work/prune.txt")
"$moe" adapt --router-only --steps 0 --checkpoint "$work/tiny.moe" --recipe "$work/ties.yaml" --out "$work/ties.moe" \
    --threads 1 > /dev/null

check() {  # NAME CHECKPOINT DATASET [export options...] -- [check_onnx options...]
    local name=$1 checkpoint=$2 dataset=$3
    shift 3
    local export_options=() check_options=()
    while [ $# -gt 0 ] && [ "$1" != "--" ]; do export_options+=("$1"); shift; done
    [ $# -gt 0 ] && shift
    check_options=("$@")
    echo "== $name"
    "$moe" export --checkpoint "$checkpoint" --dataset "$dataset" --onnx "$work/$name.onnx" \
        --reference "$work/ref-$name" --threads 1 ${export_options[@]+"${export_options[@]}"}
    python3 "$here/check_onnx.py" "$work/$name.onnx" "$work/ref-$name" ${check_options[@]+"${check_options[@]}"}
}
check classification "$work/tiny.moe" fmnist
check detection "$work/tiny.moe" detect
check segmentation "$work/tiny.moe" segment --opset 20
check pruned "$work/pruned.moe" fmnist -- --max-params "$pruned_params"
check top-k "$work/tiny.moe" detect --top-k 1 --opset 21
check ties "$work/ties.moe" ties
echo "export: ok"
