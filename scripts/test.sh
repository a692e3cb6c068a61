#!/usr/bin/env bash
# Sets up a fresh Debian machine and runs the whole test suite, then an end-to-end smoke run
# of the command line whose checkpoint must open in Python's `safetensors`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

# Formatting: the code must be as `swift format` (configured by .swift-format) leaves it.
swift format lint --strict --recursive --parallel Sources Tests Examples Fuzz Package.swift

swift build --build-tests
swift test
# The kernel tests again on OpenBLAS, which machines without AVX-512F run for every product.
MOE_GEMM=openblas swift test --skip-build --filter MoETensorTests

# End to end: a few steps on the real scikit-learn digits, evaluation, and the checkpoint
# read back by Python's safetensors (DESIGN §7).
smoke=$(mktemp -d)
trap 'rm -rf "$smoke"' EXIT
cat > "$smoke/tiny.yaml" <<'YAML'
name: smoke
model: {channels: 1, imageSize: 8, patchSize: 4, width: 16, depth: 2, heads: 2, experts: 4, topK: 2}
datasets:
  digits: {source: digits, batchSize: 32}
training: {steps: 5, logEvery: 1}
YAML
.build/debug/moe pretrain --recipe "$smoke/tiny.yaml" --out "$smoke/run/smoke.moe"
.build/debug/moe eval --checkpoint "$smoke/run/smoke.moe" --json
# Adaptation end to end: router-only on a second digits head, prune, expand, Top-K eval.
cat > "$smoke/adapt.yaml" <<'YAML'
name: smoke-adapt
datasets:
  digits2: {source: digits, batchSize: 32}
training: {steps: 3, logEvery: 1}
YAML
sed 's/digits2/digits3/' "$smoke/adapt.yaml" > "$smoke/expand.yaml"
.build/debug/moe adapt --router-only --experts 1 --checkpoint "$smoke/run/smoke.moe" --recipe "$smoke/adapt.yaml" --out "$smoke/adapt/adapted.moe"
.build/debug/moe prune --checkpoint "$smoke/adapt/adapted.moe" --dataset digits2 --keep 3 --finetune-steps 2 --out "$smoke/adapt/pruned.moe"
.build/debug/moe expand --checkpoint "$smoke/adapt/adapted.moe" --recipe "$smoke/expand.yaml" --experts 2 --out "$smoke/adapt/expanded.moe"
.build/debug/moe eval --checkpoint "$smoke/adapt/expanded.moe" --top-k 1
python3 -m pip install --quiet --disable-pip-version-check safetensors numpy tensorboard onnx onnxruntime 2>&1 | tail -n 2 || true
python3 scripts/check_safetensors.py "$smoke/run/smoke.moe"
# The pretrain run alone is in run/ (adaptation wrote to adapt/), so its event file holds
# exactly the numbers of its metrics.jsonl.
python3 scripts/check_tensorboard.py "$smoke/run"
echo "smoke: ok"

# ONNX export (DESIGN §2.7): tiny classification, detection, segmentation, pruned, Top-K-reduced
# and all-ties exports; ONNX Runtime's outputs on real test images must equal moe's to 1e-4.
bash scripts/check-export.sh .build/debug/moe "$smoke/export" | grep -E '^==|error|parameters <=|FAIL|ok$'

# Bad input, briefly: structural mutants of checkpoints and recipes through the CLI (no exit by
# a signal, no hang), then each libFuzzer target for 15 s (a crash fails the run and keeps
# the input in Fuzz/regressions/).
/usr/bin/python3 scripts/mutate.py .build/debug/moe "$smoke/mutants" --count 300 --timeout 20 | tail -n 12
bash scripts/fuzz.sh 15
