#!/usr/bin/env python3
"""Reads a run's TensorBoard event file with TensorBoard's own EventAccumulator and checks
that every number of metrics.jsonl that has a step came back as a scalar (same tag scheme as
moe's TensorBoardLog, float32 precision), and that expert-usage histograms are there for
MoE runs. Usage: check_tensorboard.py RUN_DIR"""
import json
import math
import os
import sys

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator


def scalars(record):
    prefix = record.get("event", "metrics")
    if isinstance(record.get("dataset"), str):
        prefix += "/" + record["dataset"]
    out = {}

    def walk(value, tag):
        if isinstance(value, bool) or isinstance(value, str) or value is None:
            return
        if isinstance(value, (int, float)):
            if math.isfinite(value):
                out[tag] = float(value)
        elif isinstance(value, dict):
            for k in sorted(value):
                walk(value[k], tag + "/" + k)
        elif isinstance(value, list):
            for i, v in enumerate(value):
                walk(v, f"{tag}/{i}")

    for key in sorted(record):
        if key not in ("event", "dataset", "step", "split", "task"):
            walk(record[key], prefix + "/" + key)
    return out


def main():
    run = sys.argv[1]
    events = [f for f in os.listdir(run) if f.startswith("events.out.tfevents.")]
    assert events, f"no event file in {run}"
    acc = EventAccumulator(run, size_guidance={"scalars": 0, "histograms": 0})
    acc.Reload()
    tags = acc.Tags()
    read = {(tag, e.step): e.value for tag in tags["scalars"] for e in acc.Scalars(tag)}
    expected = 0
    with open(os.path.join(run, "metrics.jsonl")) as f:
        for line in f:
            record = json.loads(line)
            if "step" not in record:
                continue
            for tag, value in scalars(record).items():
                expected += 1
                got = read.get((tag, record["step"]))
                assert got is not None, f"missing scalar {tag} at step {record['step']}"
                assert abs(got - value) <= 1e-6 * max(1.0, abs(value)), f"{tag}: {got} != {value}"
    histograms = [t for t in tags["histograms"] if t.startswith("experts/")]
    print(f"tensorboard: {expected} scalars of metrics.jsonl read back from {events[0]}; "
          f"{len(tags['scalars'])} tags, {len(histograms)} expert-usage histograms")
    assert histograms, "no expert-usage histograms"


if __name__ == "__main__":
    main()
