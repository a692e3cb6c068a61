#!/usr/bin/env bash
# Own-data loading and training measurements (README "Train on your own data", design §8.1):
#  1. decode + resize throughput of `moe` (folder source, no cache, --threads T) against Pillow
#     (draft + convert + resize + centre crop, 1 process and T processes) on the same files:
#     sklearn's china.jpg/flower.jpg (427×640 JPEG photos) copied N times, at 224×224 RGB;
#     and 28×28 Fashion-MNIST PNGs at 28×28 gray;
#  2. second-run load time from the cache against the first run;
#  3. training images/s of a folder dataset against the built-in Fashion-MNIST source.
# Usage: scripts/measure-own-data.sh WORKDIR   (MOE=path to a release moe; THREADS=2; N=400)
set -euo pipefail
WORK=${1:?usage: scripts/measure-own-data.sh WORKDIR}
MOE=${MOE:-.build/release/moe}
THREADS=${THREADS:-2}
N=${N:-400}
PY=/usr/bin/python3
mkdir -p "$WORK"
if [ ! -d "$WORK/photos" ] || [ ! -d "$WORK/data/fmnist-png" ]; then  # a rerun reuses the data
$PY - "$WORK" "$N" <<'PY'
import os, shutil, sys
work, n = sys.argv[1], int(sys.argv[2])
src = "/usr/lib/python3/dist-packages/sklearn/datasets/images"
for split, count in [("train", n), ("val", max(n // 10, 2))]:
    for cls in ["china", "flower"]:
        d = os.path.join(work, "photos", split, cls)
        os.makedirs(d, exist_ok=True)
        for i in range(count // 2):
            shutil.copy(os.path.join(src, f"{cls}.jpg"), os.path.join(d, f"{i:05d}.jpg"))
PY
TRAIN=$((N * 10)) VAL=$N MOE="$MOE" scripts/make-example-data.sh "$WORK/data" > /dev/null
fi
pillow() {  # folder size mode processes
    $PY - "$@" <<'PY'
import os, sys, time
from multiprocessing import Pool
from PIL import Image
folder, size, mode, procs = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
files = sorted(os.path.join(r, f) for r, _, fs in os.walk(folder) for f in fs if not r.count(".moe-cache"))
def prep(path):
    im = Image.open(path)
    im.draft(mode, (size, size))
    im = im.convert(mode)
    w, h = im.size
    s = size / min(w, h)
    im = im.resize((max(round(w * s), size), max(round(h * s), size)), Image.BILINEAR)
    w, h = im.size
    l, t = (w - size) // 2, (h - size) // 2
    return im.crop((l, t, l + size, t + size)).tobytes()
start = time.time()
if procs == 1:
    for f in files: prep(f)
else:
    with Pool(procs) as p: p.map(prep, files, chunksize=16)
dt = time.time() - start
print(f"pillow {procs} proc: {len(files)} files in {dt:.2f} s = {len(files)/dt:.0f} files/s")
PY
}
recipe() {  # name source path size channels steps cache
    local patch=$(( $4 >= 224 ? 16 : 4 ))
    cat > "$WORK/$1.yaml" <<YAML
name: $1
seed: 0
model: {channels: $5, imageSize: $4, patchSize: $patch, width: 64, depth: 4, heads: 4, experts: 8, topK: 2}
datasets:
  d: {source: $2, path: "$3", size: $4, batchSize: 64, cache: $7}
training: {steps: $6, logEvery: 1000, threads: $THREADS}
YAML
}
echo "== decode + resize, photos (JPEG 427x640 -> 224x224 RGB)"
recipe photos folder "$WORK/photos" 224 3 1 none
"$MOE" pretrain --recipe "$WORK/photos.yaml" --out "$WORK/photos.moe" 2>&1 | grep -E 'files in' || true
pillow "$WORK/photos" 224 RGB 1
pillow "$WORK/photos" 224 RGB "$THREADS"
echo "== decode, Fashion-MNIST PNGs (28x28 gray)"
recipe pngs folder "$WORK/data/fmnist-png" 28 1 1 none
"$MOE" pretrain --recipe "$WORK/pngs.yaml" --out "$WORK/pngs.moe" 2>&1 | grep -E 'files in' || true
pillow "$WORK/data/fmnist-png" 28 L 1
pillow "$WORK/data/fmnist-png" 28 L "$THREADS"
echo "== cache: first run (decode + write) vs later runs (read); 'ready in' is the whole load"
for set in "photos $WORK/photos 224 3" "pngs $WORK/data/fmnist-png 28 1"; do
    read -r name path size channels <<< "$set"
    rm -rf "$path/.moe-cache" "$WORK/cache-$name"
    recipe "cached-$name" folder "$path" "$size" "$channels" 1 "$WORK/cache-$name"
    for run in first second third; do
        "$MOE" pretrain --recipe "$WORK/cached-$name.yaml" --out "$WORK/c-$name.moe" 2>&1 \
            | grep -E 'ready in' | sed "s/^/$name $run run: /"
    done
done
echo "== training throughput: folder vs fashion-mnist (same model, 200 steps)"
recipe tfolder folder "$WORK/data/fmnist-png" 28 1 200 "$WORK/cache"
recipe tidx fashion-mnist /usr/share/datasets/fashion-mnist 28 1 200 none
sed -i 's/, size: 28, batchSize: 64, cache: none}/, batchSize: 64}/' "$WORK/tidx.yaml"
"$MOE" pretrain --recipe "$WORK/tfolder.yaml" --out "$WORK/tf.moe" 2>&1 | grep -E '^finished' | sed 's/^/folder: /'
"$MOE" pretrain --recipe "$WORK/tidx.yaml" --out "$WORK/ti.moe" 2>&1 | grep -E '^finished' | sed 's/^/fashion-mnist: /'
