#!/usr/bin/python3
"""Structural mutation testing of the moe command line.

Makes real checkpoints and a recipe with `moe pretrain`, then writes COUNT mutants of them,
each changing structure rather than random bytes: the safetensors JSON header, the metadata
entries `model_config`, `recipe`, `training_state` and `optimizer`, optimiser-moment and
weight values, and recipe fields. Runs one `moe` command on each (eval, inspect, pretrain
--resume, adapt, prune, or pretrain --recipe) with a timeout, and counts how each exited:
0, an error exit (1-125), 130, a signal, or a hang. A signal or a hang is a bug; those
mutants are kept under WORKDIR/failures.

Usage: mutate.py MOE WORKDIR [--count 10000] [--seed 0] [--timeout 20] [--jobs 2]
Prints a JSON summary and exits 1 if any run ended by a signal or hung.
"""
import argparse
import concurrent.futures
import copy
import json
import os
import random
import shutil
import struct
import subprocess
import sys
import time

import zstandard

INTERESTING = [
    0, -1, 1, 2, 3, -3, 7, 255, 256, 1.5, -0.5, 1e30, -1e30, 1e300, 2**31, 2**31 - 1, 2**32, 2**53,
    2**62, 2**63 - 1, 2**63, 2**64, -(2**63), "abc", "", "../x", True, False, None, [], {}, [1, 2],
    [[1, 2]], {"a": 1}, "x" * 300,
]

TINY_RECIPE = """name: mutant
seed: 3
model: {channels: 1, imageSize: 8, patchSize: 4, width: 16, depth: 2, heads: 2, mlpRatio: 2, experts: 4, topK: 2}
datasets:
  digits: {source: digits, batchSize: 16}
  digits2: {source: digits, batchSize: 8, samplingWeight: 2}
optimizer: {kind: adamw, lr: 3.0e-3}
schedule: {kind: cosine, warmup: 2}
training: {steps: 4, logEvery: 1, evalBatchSize: 256, threads: 1}
"""

ADAPT_RECIPE = """name: adapt
datasets:
  digits3: {source: digits, batchSize: 16}
training: {steps: 2, logEvery: 1}
"""


def run(cmd, timeout):
    """(exit status or "hang", the end of stderr, wall seconds)."""
    start = time.monotonic()
    try:
        p = subprocess.run(cmd, capture_output=True, timeout=timeout, text=True, errors="replace")
        return p.returncode, p.stderr[-2000:], time.monotonic() - start
    except subprocess.TimeoutExpired:
        return "hang", "", time.monotonic() - start


# --- checkpoints: zstd frame around safetensors -------------------------------------------


def read_checkpoint(path):
    raw = zstandard.ZstdDecompressor().decompress(open(path, "rb").read())
    n = struct.unpack("<Q", raw[:8])[0]
    return json.loads(raw[8 : 8 + n]), bytearray(raw[8 + n :])


def write_checkpoint(path, header, data):
    text = json.dumps(header, separators=(",", ":")).encode()
    raw = struct.pack("<Q", len(text)) + text + bytes(data)
    frame = zstandard.ZstdCompressor(level=3, write_checksum=True, write_content_size=True).compress(raw)
    with open(path, "wb") as f:
        f.write(frame)


def json_paths(value, prefix=()):
    """Every path into a JSON value (dict keys and list indices), the root included."""
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from json_paths(v, prefix + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value[:6]):
            yield from json_paths(v, prefix + (i,))


def mutate_json(value, rng):
    """One structural change somewhere in a JSON value: replace, delete, or wrap a node."""
    value = copy.deepcopy(value)
    paths = [p for p in json_paths(value) if p]
    if not paths:
        return rng.choice(INTERESTING)
    path = rng.choice(paths)
    parent = value
    for key in path[:-1]:
        parent = parent[key]
    key = path[-1]
    action = rng.random()
    if action < 0.7:
        parent[key] = copy.deepcopy(rng.choice(INTERESTING))
    elif action < 0.85:
        del parent[key]
    elif isinstance(parent[key], list) and parent[key]:
        parent[key] = parent[key][: rng.randrange(len(parent[key]))]
    else:
        parent[key] = [parent[key]]
    return value


def mutate_checkpoint(source, target, rng):
    header, data = read_checkpoint(source)
    meta = header.get("__metadata__", {})
    kind = rng.choice(["model_config", "recipe", "training_state", "optimizer", "header", "moments", "metadata-key"])
    if kind in ("model_config", "recipe", "training_state", "optimizer") and kind in meta:
        meta[kind] = json.dumps(mutate_json(json.loads(meta[kind]), rng), separators=(",", ":"))
    elif kind == "header":
        name = rng.choice([k for k in header if k != "__metadata__"])
        header[name] = mutate_json(header[name], rng)
    elif kind == "moments":
        names = [k for k in header if k != "__metadata__"]
        name = rng.choice([k for k in names if k.startswith("optim.")] or names)
        begin, end = header[name]["data_offsets"]
        if end > begin:
            i = begin + 4 * rng.randrange((end - begin) // 4)
            data[i : i + 4] = struct.pack("<f", rng.choice([float("nan"), float("inf"), -1.0, -1e38, 1e38]))
    else:
        if meta:
            del meta[rng.choice(list(meta))]
    header["__metadata__"] = meta
    write_checkpoint(target, header, data)
    return "checkpoint:" + kind


def checkpoint_command(moe, path, out_dir, rng, adapt_recipe):
    choice = rng.choice(["eval", "inspect", "resume", "adapt", "prune"])
    out = os.path.join(out_dir, "out.moe")
    if choice == "eval":
        return choice, [moe, "eval", "--checkpoint", path, "--json"]
    if choice == "inspect":
        return choice, [moe, "inspect", "--checkpoint", path, "--images", "32", "--svg", os.path.join(out_dir, "u.svg")]
    if choice == "resume":
        return choice, [moe, "pretrain", "--resume", path, "--steps", "6", "--threads", "1"]
    if choice == "adapt":
        return choice, [moe, "adapt", "--router-only", "--checkpoint", path, "--recipe", adapt_recipe, "--out", out]
    return choice, [moe, "prune", "--checkpoint", path, "--dataset", "digits", "--keep", "3", "--out", out]


# --- recipes ------------------------------------------------------------------------------

RECIPE_KEYS = {
    "model": ["channels", "imageSize", "patchSize", "width", "depth", "heads", "mlpRatio", "experts", "topK",
              "expertHidden", "moeEvery", "renormalize", "layerNormEpsilon"],
    "datasets.digits": ["source", "task", "batchSize", "samplingWeight", "lossWeight", "testFraction", "resize",
                        "path", "trainSize", "testSize"],
    "optimizer": ["kind", "lr", "weightDecay", "beta1", "beta2", "eps", "momentum", "nesterov", "clip"],
    "schedule": ["kind", "warmup", "minFactor", "pctStart", "divFactor", "finalDivFactor"],
    "training": ["steps", "epochs", "logEvery", "evalEvery", "checkpointEvery", "evalBatchSize", "threads",
                 "miWeight", "stepMode", "diagnosticsEvery"],
    "balancing": ["method", "alpha", "lr", "norm", "initialLogVariance", "relations"],
    "": ["name", "seed", "output", "datasets", "model", "augmentation"],
}


def yaml_value(v):
    return json.dumps(v)  # JSON is YAML


def mutate_recipe(target, rng):
    section = rng.choice(list(RECIPE_KEYS))
    key = rng.choice(RECIPE_KEYS[section] + ["unknownKey"])
    path = f"{section}.{key}" if section else key
    value = rng.choice(INTERESTING + ["sgd", "lamb", "roundRobin", "gradnorm", "tbgc", "detection", "scenes"])
    text = TINY_RECIPE
    return path, value, text


def recipe_command(moe, recipe_path, out_dir, rng):
    path, value, text = mutate_recipe(recipe_path, rng)
    with open(recipe_path, "w") as f:
        f.write(text)
    cmd = [moe, "pretrain", "--recipe", recipe_path, "--out", os.path.join(out_dir, "r.moe"),
           "--set", f"{path}={yaml_value(value)}", "--set", "training.steps=2", "--threads", "1"]
    if rng.random() < 0.3:  # a second change at once
        path2, value2, _ = mutate_recipe(recipe_path, rng)
        cmd += ["--set", f"{path2}={yaml_value(value2)}"]
    return "recipe:" + path.split(".")[0], cmd


# --- driver -------------------------------------------------------------------------------


def one(i, args, sources):
    rng = random.Random(args.seed * 1_000_003 + i)
    d = os.path.join(args.workdir, "mutants", str(i % 64))
    os.makedirs(d, exist_ok=True)
    if rng.random() < 0.7:
        mutant = os.path.join(d, f"m{i}.moe")
        kind = mutate_checkpoint(rng.choice(sources), mutant, rng)
        command, cmd = checkpoint_command(args.moe, mutant, d, rng, os.path.join(args.workdir, "adapt.yaml"))
    else:
        mutant = os.path.join(d, f"m{i}.yaml")
        kind, cmd = recipe_command(args.moe, mutant, d, rng)
        command = "pretrain"
    status, err, seconds = run(cmd, args.timeout)
    if status == "hang":
        outcome = "hang"
    elif status < 0:
        outcome = f"signal {-status}"
    elif status == 0:
        outcome = "ok"
    elif status == 130:
        outcome = "130"
    else:
        outcome = "error"
    if outcome in ("hang",) or outcome.startswith("signal") or "Fatal error" in err:
        keep = os.path.join(args.workdir, "failures")
        os.makedirs(keep, exist_ok=True)
        shutil.copy(mutant, keep)
        with open(os.path.join(keep, os.path.basename(mutant) + ".txt"), "w") as f:
            f.write(" ".join(cmd) + "\n" + err)
        if outcome == "error":
            outcome = "error with trap text"
    elif os.path.exists(mutant):
        os.remove(mutant)
    return kind, command, outcome, seconds


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("moe")
    parser.add_argument("workdir")
    parser.add_argument("--count", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=20)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    args.moe = os.path.abspath(args.moe)
    os.makedirs(args.workdir, exist_ok=True)
    base = os.path.join(args.workdir, "base")
    os.makedirs(base, exist_ok=True)
    with open(os.path.join(base, "tiny.yaml"), "w") as f:
        f.write(TINY_RECIPE)
    with open(os.path.join(args.workdir, "adapt.yaml"), "w") as f:
        f.write(ADAPT_RECIPE)
    sources = []
    for name, extra in [("sampled", []), ("roundrobin", ["--set", "balancing=gradnorm", "--set", "optimizer=adam-per-task"])]:
        out = os.path.join(base, name, "run.moe")
        subprocess.run([args.moe, "pretrain", "--recipe", os.path.join(base, "tiny.yaml"), "--out", out, *extra],
                       check=True, capture_output=True)
        sources.append(out)

    counts = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        for kind, command, outcome, seconds in pool.map(lambda i: one(i, args, sources), range(args.count)):
            if seconds > counts.get("slowest_seconds", 0):  # how close any run came to the timeout
                counts["slowest_seconds"], counts["slowest"] = round(seconds, 2), f"{command} {kind}"
            counts.setdefault(outcome, 0)
            counts[outcome] += 1
            by_kind = counts.setdefault("by_kind", {}).setdefault(kind, {})
            by_kind[outcome] = by_kind.get(outcome, 0) + 1
            by_command = counts.setdefault("by_command", {}).setdefault(command, {})
            by_command[outcome] = by_command.get(outcome, 0) + 1
            done = counts["done"] = counts.get("done", 0) + 1
            if done % 250 == 0:  # a running summary, in case the campaign is stopped early
                with open(os.path.join(args.workdir, "summary.json"), "w") as f:
                    json.dump(counts, f, sort_keys=True)
    counts["mutants"] = args.count
    print(json.dumps(counts, indent=1, sort_keys=True))
    bad = sum(v for k, v in counts.items() if k == "hang" or k.startswith("signal") or k == "error with trap text")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
