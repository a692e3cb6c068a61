#!/usr/bin/env python3
"""Checks an ONNX file written by `moe export` against moe's own outputs.

Usage: check_onnx.py MODEL.onnx REFERENCE_DIR [--tolerance 1e-4] [--max-params N]
                     [--bench] [--threads T]

REFERENCE_DIR is what `moe export --reference DIR` wrote: images.npy (real test images,
normalised) and one <output>.npy per graph output, computed by moe's own forward. The
script runs onnx.checker (full check, with shape inference), runs ONNX Runtime (CPU) on
the whole batch and on the first image alone (the batch dimension is dynamic), prints the
max abs error of every output and fails when one exceeds the tolerance, or when the graph
has more parameters (initializer elements) than --max-params. --bench prints ONNX
Runtime's median latency at batch 1 and 64 with T intra-op threads."""
import argparse
import os
import sys
import time

import numpy as np
import onnx
import onnxruntime as ort


def parameter_count(model):
    return sum(int(np.prod(t.dims)) for t in model.graph.initializer)


def session(path, threads):
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def latency_ms(sess, images, batch):
    reps = int(np.ceil(batch / len(images)))
    x = np.ascontiguousarray(np.concatenate([images] * reps)[:batch])
    name = sess.get_inputs()[0].name
    for _ in range(2):
        sess.run(None, {name: x})
    times = []
    start = time.perf_counter()
    while len(times) < 5 or (time.perf_counter() - start < 1 and len(times) < 200):
        t0 = time.perf_counter()
        sess.run(None, {name: x})
        times.append((time.perf_counter() - t0) * 1000)
    return float(np.median(times))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("reference")
    parser.add_argument("--tolerance", type=float, default=1e-4)
    parser.add_argument("--max-params", type=int)
    parser.add_argument("--bench", action="store_true")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    onnx.checker.check_model(args.model, full_check=True)
    model = onnx.load(args.model)
    params = parameter_count(model)
    opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    print(f"{args.model}: onnx.checker ok, opset {opset}, {params} parameters")
    failed = False
    if args.max_params is not None:
        ok = params <= args.max_params
        failed |= not ok
        print(f"  parameters {params} <= {args.max_params}: {'ok' if ok else 'FAIL'}")

    images = np.load(os.path.join(args.reference, "images.npy"))
    sess = session(args.model, args.threads)
    input_name = sess.get_inputs()[0].name
    names = [o.name for o in sess.get_outputs()]
    full = sess.run(None, {input_name: images})
    single = sess.run(None, {input_name: images[:1]})
    for name, got, first in zip(names, full, single):
        expected = np.load(os.path.join(args.reference, name + ".npy"))
        if got.shape != expected.shape:
            print(f"  {name}: shape {got.shape} != moe's {expected.shape}: FAIL")
            failed = True
            continue
        error = float(np.max(np.abs(got.astype(np.float64) - expected)))
        error1 = float(np.max(np.abs(first.astype(np.float64) - expected[:1])))
        ok = np.all(np.isfinite(got)) and error <= args.tolerance and error1 <= args.tolerance
        failed |= not ok
        print(f"  {name} {list(expected.shape)}: max abs error {error:.3g} (batch {len(images)}), "
              f"{error1:.3g} (batch 1): {'ok' if ok else 'FAIL'}")
    if args.bench:
        for batch in (1, 64):
            print(f"  onnxruntime latency, batch {batch}: {latency_ms(sess, images, batch):.2f} ms (median, "
                  f"{args.threads} threads)")
    if failed:
        print("check_onnx: FAILED")
        sys.exit(1)


if __name__ == "__main__":
    main()
