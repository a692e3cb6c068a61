#!/usr/bin/env python3
"""Markdown table of scripts/mtl-results.sh runs: each dataset's primary metric, Δm against
the single-task baselines (DESIGN §5: mean relative change in percent, positive = better).
Wall time is each run's own (training only); `moe bench --balancing` measures the time per step
of every method side by side, which is the fair overhead comparison. Usage: mtl-table.py OUTDIR [methods...]"""
import json, os, sys

out = sys.argv[1]
methods = sys.argv[2:] or ["equal", "static", "uncertainty", "uncertainty-analytic", "gradnorm", "tbgc", "pcgrad", "gradsplit"]
primary = {"classification": "top1", "detection": "mAP50", "segmentation": "mIoU"}
base = {}
for line in open(os.path.join(out, "baselines.json")):
    if line.startswith("{"):
        base.update(json.loads(line))
names = ["fmnist", "detect", "segment"]
print("| method | Fashion-MNIST top-1 | detection mAP@0.5 | segmentation mIoU | Δm | wall time | loss weights at the last step (fmnist, detect, segment) | last diagnostics: backbone cos fmnist/detect, fmnist/segment, detect/segment |")
print("|---|---|---|---|---|---|---|---|")
row = ["single-task baselines"] + [f"{100*base[n][primary[base[n]['task']]]:.2f} %" for n in names] + ["0", "", "", ""]
print("| " + " | ".join(row) + " |")
for m in methods:
    path = os.path.join(out, f"{m}.eval.json")
    if not os.path.exists(path):
        continue
    lines = [l for l in open(path) if l.startswith("{")]
    if not lines:
        continue
    res = json.loads(lines[0])
    changes, cells = [], []
    for n in names:
        key = primary[res[n]["task"]]
        v, b = res[n][key], base[n][key]
        changes.append((v - b) / b * 100)
        cells.append(f"{100*v:.2f} %")
    log_lines = open(os.path.join(out, m, "metrics.jsonl")).readlines()
    grads = [json.loads(l) for l in log_lines if '"grad"' in l]
    cos = ""
    if grads:
        c = grads[-1]["layers"]["backbone"]["cosine"]
        cos = f"{c['fmnist/detect']:+.2f}, {c['fmnist/segment']:+.2f}, {c['detect/segment']:+.2f} (step {grads[-1]['step']})"
    train = [json.loads(l) for l in log_lines if '"train"' in l]
    w = train[-1].get("task_weights", {})
    weights = ", ".join(f"{w[n]:.3g}" for n in names) if w else ""
    # Training seconds are cumulative in the log, across resumes too.
    wall = f"{train[-1]['seconds']:,.0f} s" if "seconds" in train[-1] else ""
    print(f"| {m} | " + " | ".join(cells) + f" | {sum(changes)/len(changes):+.2f} % | {wall} | {weights} | {cos} |")
