#!/usr/bin/env bash
# Two moe builds side by side with PyTorch eager: ../shared/bench/compare.sh with a second moe.
# Each round runs PyTorch, build A and build B on the same 2 cores (bench-tiny and
# bench-tiny-dense, training b64 and inference b256); prints the medians, both builds' ratios
# to PyTorch, B/A, and B's per-round ratios (this VM swings ±10-15 % between rounds, so quote
# medians of five or more). Usage, from the project root after ../shared/bench/setup.sh:
#   scripts/compare-builds.sh OLD_MOE_BINARY NEW_MOE_BINARY [ROUNDS=5]
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BENCH="${MOE_BENCH_DIR:-$ROOT/../shared/bench}"
VENV="${MOE_BENCH_VENV:-$HOME/.venv-moe-bench}"
A=$1 B=$2 ROUNDS=${3:-5}
TC=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4
out=$(mktemp)
for _ in $(seq "$ROUNDS"); do
  taskset -c 0,1 env LD_PRELOAD="$TC" "$VENV/bin/python" "$BENCH/torch_bench.py" \
    --models bench-tiny,bench-tiny-dense --dispatch auto --attn manual --modes eager \
    --warmup 3 --steps 10 --threads 2 2>/dev/null | sed 's/^{/{"src":"torch",/' >>"$out"
  taskset -c 0,1 "$A" bench --json 2>/dev/null | sed 's/^{/{"src":"A",/' >>"$out"
  taskset -c 0,1 "$B" bench --json 2>/dev/null | sed 's/^{/{"src":"B",/' >>"$out"
done
"$VENV/bin/python" - "$out" <<'PY'
import json, statistics, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if line.startswith("{")]
def values(src, model, kind):
    return [r["images_per_s"] for r in rows
            if r.get("src") == src and r.get("model") == model and r.get("kind") == kind and r.get("images_per_s")]
def median(*key):
    v = values(*key)
    return statistics.median(v) if v else float("nan")
print(f"{'model':18} {'kind':6} {'PyTorch':>8} {'A':>8} {'B':>8} {'A/PT':>6} {'B/PT':>6} {'B/A':>6}   B/PT per round")
for model in ("bench-tiny", "bench-tiny-dense"):
    for kind in ("train", "infer"):
        t, a, b = (median(src, model, kind) for src in ("torch", "A", "B"))
        rounds = " ".join(f"{y / x:.2f}" for x, y in zip(values("torch", model, kind), values("B", model, kind)))
        print(f"{model:18} {kind:6} {t:8.1f} {a:8.1f} {b:8.1f} {a / t:6.2f} {b / t:6.2f} {b / a:6.2f}   {rounds}")
for src in ("A", "B"):
    sgemm = [r["gflops_per_s"] for r in rows if r.get("src") == src and r.get("kind") == "sgemm"]
    rss = [r["peak_rss_mib"] for r in rows if r.get("src") == src and r.get("peak_rss_mib")]
    if sgemm:
        print(f"{src}: SGEMM 1024^3 median {statistics.median(sgemm):.1f} GFLOP/s, peak RSS up to {max(rss):.1f} MiB")
PY
rm -f "$out"
