#!/usr/bin/env bash
# Coverage-guided fuzzing of what users feed moe: the checkpoint decoder (and the metadata a
# command reads from it), the recipe parser, the IDX, CSV and COCO readers, and the
# prepared-image cache files. Builds the
# libFuzzer driver with Swift's -sanitize=fuzzer,address, seeds each target from real files,
# runs each for SECONDS (default 30) and copies any crashing input into
# Fuzz/regressions/<target>/ (replayed by the test suite). Exit 1 if any target crashed.
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(checkpoint safetensors recipe idx csv coco cache)

MOE_FUZZ=1 swift build -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library \
    --product moe-fuzz --scratch-path .build-fuzz 2>&1 | tail -n 1
fuzzer=.build-fuzz/debug/moe-fuzz

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# A real checkpoint to seed the checkpoint target: a few steps of a tiny run on digits.
swift build --product moe 2>&1 | tail -n 1
cat > "$work/tiny.yaml" <<'YAML'
name: fuzz-seed
model: {channels: 1, imageSize: 8, patchSize: 4, width: 8, depth: 1, heads: 2, experts: 2, topK: 1}
datasets:
  digits: {source: digits, batchSize: 32}
training: {steps: 2, logEvery: 1}
YAML
.build/debug/moe pretrain --recipe "$work/tiny.yaml" --out "$work/run/seed.moe" > /dev/null 2>&1
/usr/bin/python3 scripts/fuzz-seeds.py "$work/seeds" --checkpoint "$work/run/seed.moe"
mkdir -p "$work/seeds/safetensors" "$work/seeds/cache"  # cache: from nothing (zstd magic is found)
zstd -q -d "$work/run/seed.moe" -o "$work/seeds/safetensors/seed.safetensors"

status=0
for target in "${targets[@]}"; do
    mkdir -p "$work/corpus/$target" "$work/crashes/$target" "Fuzz/regressions/$target"
    echo "fuzz: $target for ${seconds}s"
    if ! MOE_FUZZ_TARGET=$target "$fuzzer" "$work/corpus/$target" "$work/seeds/$target" \
        Fuzz/regressions/$target -max_total_time="$seconds" -timeout=20 -rss_limit_mb=4096 \
        -max_len=131072 -print_final_stats=1 -artifact_prefix="$work/crashes/$target/" \
        > "$work/$target.log" 2>&1; then
        status=1
        echo "fuzz: $target CRASHED; inputs kept in Fuzz/regressions/$target:"
        grep -E "ERROR|Fatal error|deadly signal|timeout" "$work/$target.log" | head -n 5
        for f in "$work/crashes/$target"/*; do
            [ -e "$f" ] || continue
            cp "$f" "Fuzz/regressions/$target/$(basename "$f")"
            echo "  Fuzz/regressions/$target/$(basename "$f")"
        done
    fi
    grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "$work/$target.log" | tr '\n' ' '
    echo
done
exit $status
