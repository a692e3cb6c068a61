#!/usr/bin/env python3
"""Collects the numbers printed by scripts/adaptation-experiments.sh into Markdown tables.

    python3 scripts/adaptation_table.py checkpoints/adaptation
"""
import pathlib
import re
import sys

out = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "checkpoints/adaptation")


def record(name):
    """trainable, model parameters, FLOPs ratio and metric from a command's log."""
    path = out / f"{name}.log"
    if not path.exists():
        return None
    text = path.read_text()
    r = {}
    if m := re.search(r"trainable parameters: (\d+)", text):
        r["trainable"] = int(m.group(1))
    if m := re.search(r"model parameters: +(\d+)", text):
        r["model"] = int(m.group(1))
    if m := re.search(r"FLOPs ratio: +([\d.]+)", text):
        r["flops"] = float(m.group(1))
    if m := re.search(r"^\S+ (?:top1|mAP50|mIoU): ([\d.]+)%", text, re.M):
        r["metric"] = float(m.group(1))
    return r


def evaluation(name):
    """dataset -> primary metric (percent) from an eval log."""
    path = out / f"{name}.log"
    if not path.exists():
        return {}
    result = {}
    for line in path.read_text().splitlines():
        if m := re.match(r"(\S+)\s+(classification|detection|segmentation)\s+\d+\s+(top-1|mAP@0\.5|mIoU) ([\d.]+)%", line):
            result[m.group(1)] = float(m.group(4))
        if m := re.search(r"(\S+): top-\d+ → top-\d+, FLOPs ratio ([\d.]+)", line):
            result[m.group(1) + ":flops"] = float(m.group(2))
    return result


def row(label, r, base):
    if not r or "metric" not in r:
        return f"| {label} | not run | | | | |"
    pct = 100 * r["trainable"] / r["model"]
    rel = 100 * r["metric"] / base if base else float("nan")
    return (f"| {label} | {r['trainable']:,} ({pct:.2f} %) | {r['model']:,} | {r['flops']:.3f} | "
            f"{r['metric']:.2f} % | {rel:.1f} % |")


def table(prefix, label, metric, dataset):
    full = record(f"{prefix}-full")
    base = full["metric"] if full else None
    print(f"| {label} | trainable params | model params | FLOPs ratio | {metric} | vs full fine-tune |")
    print("|---|---|---|---|---|---|")
    rows = [
        ("full fine-tune", "full"), ("router only", "router"), ("router + 1 expert", "router-1"),
        ("router + 2 experts", "router-2"), ("prune ½ (keep 6) + 100 steps", "prune-half"),
        ("prune ⅔ (keep 4) + 100 steps", "prune-twothirds"), ("Top-K 3 (router only)", "topk3"),
        ("Top-K 2 (router only)", "topk2"), ("Top-K 1 (router only)", "topk1"),
        ("hybrid: router → prune ⅔ → router at K=3 + 2 experts", "hybrid"),
    ]
    for name, key in rows:
        r = record(f"{prefix}-{key}")
        if r is None:
            continue
        print(row(name, r, base))
    for k in (3, 2, 1):
        e = evaluation(f"{prefix}-router-eval-topk{k}")
        ds = dataset
        if ds in e and ds + ":flops" in e:
            rel = 100 * e[ds] / base if base else float("nan")
            print(f"| router only, evaluated at K={k} (`eval --top-k {k}`) | 0 | – | {e[ds + ':flops']:.3f} | {e[ds]:.2f} % | {rel:.1f} % |")
    print()


def seeds_summary():
    """Full fine-tuning and router + 2 experts over head seeds 0, 1, 2 (PARTS=seeds)."""
    runs = {kind: [record(f"digits-{kind}{suffix}") for suffix in ("", "-seed1", "-seed2")]
            for kind in ("full", "router-2")}
    if not all(r and "metric" in r for rs in runs.values() for r in rs):
        return
    means = {kind: sum(r["metric"] for r in rs) / len(rs) for kind, rs in runs.items()}
    for kind, label in (("full", "full fine-tune"), ("router-2", "router + 2 experts")):
        values = " / ".join(f"{r['metric']:.2f}" for r in runs[kind])
        print(f"{label}, head seeds 0 / 1 / 2: {values} % (mean {means[kind]:.2f} %)")
    ratios = " / ".join(f"{100 * a['metric'] / b['metric']:.1f}" for a, b in zip(runs["router-2"], runs["full"]))
    print(f"router + 2 experts vs full fine-tune: {ratios} % per seed, "
          f"{100 * means['router-2'] / means['full']:.1f} % of the means")
    print()


table("digits", "digits (top-1)", "top-1", "digits")
seeds_summary()
table("detect", "small-scene detection", "mAP@0.5", "detect-small")

print("| checkpoint | " + " | ".join(["fmnist", "detect", "segment", "digits", "detect-small", "segment-small"]) + " |")
print("|---|---|---|---|---|---|---|")
names = ["fmnist", "detect", "segment", "digits", "detect-small", "segment-small"]
def line(label, e):
    print(f"| {label} | " + " | ".join(f"{e[n]:.2f} %" if n in e else "–" for n in names) + " |")
line("pretrained", evaluation("base-eval"))
for r in ["digits", "scenes-small-detect", "scenes-small-segment"]:
    line(f"expand +2 experts → {r}", evaluation(f"expand-{r}-eval"))
for r in ["digits", "scenes-small-detect", "scenes-small-segment"]:
    line(f"full fine-tune → {r}", evaluation(f"finetune-{r}-eval"))
