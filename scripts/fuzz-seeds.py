#!/usr/bin/python3
"""Writes the fuzzers' seed corpus from real files into DIR/<target>/:

- checkpoint: the .moe files given with --checkpoint (written by `moe pretrain`);
- recipe: the shipped recipes/*.yaml;
- idx: Fashion-MNIST's test labels (gzip and plain) and its first 8 test images as a valid
  IDX file (header rewritten to 8 images);
- csv: the first 40 rows of scikit-learn's digits CSV;
- coco: COCO JSON built from scikit-learn's digits: each image's nonzero pixels give a box.

Usage: fuzz-seeds.py DIR [--checkpoint FILE ...]
"""
import argparse
import glob
import gzip
import json
import os
import shutil
import struct

FASHION = "/usr/share/datasets/fashion-mnist"


def digits_csv():
    import sklearn.datasets

    path = os.path.join(os.path.dirname(sklearn.datasets.__file__), "data", "digits.csv.gz")
    with gzip.open(path, "rb") as f:
        return f.read()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("dir")
    parser.add_argument("--checkpoint", action="append", default=[])
    args = parser.parse_args()
    out = {t: os.path.join(args.dir, t) for t in ["checkpoint", "recipe", "idx", "csv", "coco"]}
    for d in out.values():
        os.makedirs(d, exist_ok=True)

    for i, path in enumerate(args.checkpoint):
        shutil.copy(path, os.path.join(out["checkpoint"], f"seed-{i}.moe"))
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "recipes")
    for path in sorted(glob.glob(os.path.join(root, "*.yaml"))):
        shutil.copy(path, out["recipe"])

    labels_gz = os.path.join(FASHION, "t10k-labels-idx1-ubyte.gz")
    shutil.copy(labels_gz, os.path.join(out["idx"], "labels.gz"))
    with gzip.open(labels_gz, "rb") as f:
        labels = f.read()
    with open(os.path.join(out["idx"], "labels-100"), "wb") as f:
        f.write(labels[:4] + struct.pack(">I", 100) + labels[8 : 8 + 100])
    with gzip.open(os.path.join(FASHION, "t10k-images-idx3-ubyte.gz"), "rb") as f:
        images = f.read(16 + 8 * 28 * 28)
    with open(os.path.join(out["idx"], "images-8"), "wb") as f:
        f.write(images[:4] + struct.pack(">I", 8) + images[8:])

    rows = digits_csv().splitlines(keepends=True)
    with open(os.path.join(out["csv"], "digits-40.csv"), "wb") as f:
        f.write(b"".join(rows[:40]))

    coco = {"images": [], "annotations": [], "categories": [{"id": c + 1, "name": str(c)} for c in range(10)]}
    for i, row in enumerate(rows[:12]):
        values = [int(v) for v in row.decode().strip().split(",")]
        pixels, label = values[:64], values[64]
        on = [(k % 8, k // 8) for k, v in enumerate(pixels) if v > 4]
        xs, ys = [p[0] for p in on], [p[1] for p in on]
        coco["images"].append({"id": i + 1, "file_name": f"digit-{i}.png", "width": 8, "height": 8})
        coco["annotations"].append({
            "id": i + 1, "image_id": i + 1, "category_id": label + 1, "iscrowd": 0,
            "bbox": [min(xs), min(ys), max(xs) - min(xs) + 1, max(ys) - min(ys) + 1],
        })
    with open(os.path.join(out["coco"], "digits.json"), "w") as f:
        json.dump(coco, f)


if __name__ == "__main__":
    main()
