#!/usr/bin/env python3
"""Check that a moe checkpoint (.moe) opens with Python's `safetensors`.

A .moe file is one zstd frame whose content is a safetensors file. This script decompresses
it (with the `zstandard` module if installed, else the `zstd` command-line tool), loads the
tensors with `safetensors.numpy`, checks the moe format metadata, and prints the tensor names,
dtypes and shapes and the metadata keys. It exits non-zero on any failure.

usage: scripts/check_safetensors.py CHECKPOINT.moe [--show-metadata]
requires: pip install safetensors numpy   (optionally: zstandard)
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
FORMAT_NAME = "moe-checkpoint"
FORMAT_VERSION = "1"


def fail(message):
    print(f"check_safetensors: error: {message}", file=sys.stderr)
    sys.exit(1)


def decompress(path):
    """Returns the decompressed bytes of the single zstd frame in `path` (checksum verified)."""
    with open(path, "rb") as f:
        compressed = f.read()
    if not compressed.startswith(ZSTD_MAGIC):
        fail(f"{path} does not start with the zstd magic bytes 28 B5 2F FD")
    try:
        import zstandard
    except ImportError:
        zstandard = None
    if zstandard is not None:
        try:
            params = zstandard.get_frame_parameters(compressed)
            if not params.has_checksum:
                fail(f"{path}: the zstd frame has no content checksum")
            return zstandard.ZstdDecompressor().decompress(compressed), "zstandard"
        except zstandard.ZstdError as e:
            fail(f"{path}: zstd decompression failed: {e}")
    zstd = shutil.which("zstd")
    if zstd is None:
        fail("neither the Python module `zstandard` nor the `zstd` command is available "
             "(pip install zstandard, or install the zstd package)")
    result = subprocess.run([zstd, "-d", "-c", "-q", "--", path], capture_output=True)
    if result.returncode != 0:
        fail(f"{path}: `zstd -d` failed: {result.stderr.decode(errors='replace').strip()}")
    return result.stdout, "zstd CLI"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", help="path to a .moe checkpoint")
    parser.add_argument("--show-metadata", action="store_true",
                        help="print metadata values too (truncated to 200 characters)")
    args = parser.parse_args()

    try:
        import numpy as np
        from safetensors import safe_open
        from safetensors.numpy import load_file
    except ImportError as e:
        fail(f"{e}; install with: pip install safetensors numpy")

    if not os.path.isfile(args.checkpoint):
        fail(f"{args.checkpoint} does not exist or is not a file")
    data, decoder = decompress(args.checkpoint)

    with tempfile.TemporaryDirectory() as tmp:
        raw_path = os.path.join(tmp, "checkpoint.safetensors")
        with open(raw_path, "wb") as f:
            f.write(data)
        try:
            tensors = load_file(raw_path)
            with safe_open(raw_path, framework="np") as f:
                metadata = f.metadata() or {}
        except Exception as e:  # safetensors raises SafetensorError / various
            fail(f"{args.checkpoint}: safetensors could not load the decompressed data: {e}")
        # List tensors in file order (the order moe wrote them), from the JSON header.
        try:
            header_len = int.from_bytes(data[:8], "little")
            header = json.loads(data[8:8 + header_len].decode("utf-8"))
            names = sorted((k for k in header if k != "__metadata__"),
                           key=lambda k: tuple(header[k]["data_offsets"]))
        except (ValueError, KeyError, TypeError) as e:
            fail(f"{args.checkpoint}: could not read the safetensors JSON header: {e}")

    if metadata.get("format") != FORMAT_NAME:
        fail(f"{args.checkpoint}: metadata 'format' is {metadata.get('format')!r}, "
             f"expected {FORMAT_NAME!r}")
    if metadata.get("format_version") != FORMAT_VERSION:
        fail(f"{args.checkpoint}: metadata 'format_version' is {metadata.get('format_version')!r}, "
             f"this script checks version {FORMAT_VERSION!r}")
    for name, array in tensors.items():
        if array.dtype != np.float32:
            fail(f"{args.checkpoint}: tensor {name!r} has dtype {array.dtype}, expected float32")

    print(f"{args.checkpoint}: OK ({len(data)} bytes decompressed with {decoder}, "
          f"{len(tensors)} tensors, {sum(a.size for a in tensors.values())} values)")
    print("tensors:")
    for name in names:
        a = tensors[name]
        print(f"  {json.dumps(name, ensure_ascii=False)}  {a.dtype}  {list(a.shape)}")
    print("metadata keys:")
    for key in sorted(metadata):
        shown_key = json.dumps(key, ensure_ascii=False)
        if args.show_metadata:
            value = metadata[key]
            value = value if len(value) <= 200 else value[:200] + "…"
            print(f"  {shown_key} = {json.dumps(value, ensure_ascii=False)}")
        else:
            print(f"  {shown_key}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
