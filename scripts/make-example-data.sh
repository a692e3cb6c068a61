#!/usr/bin/env bash
# Example datasets for the own-data sources (README "Train on your own data"), from real images:
#   DIR/fmnist-png/{train,val}/<class>/*.png    Fashion-MNIST slice as a PNG ImageFolder
#   DIR/fmnist-jpeg/{train,val}/<class>/*.jpg   the same slice as JPEG (RGB, quality 90)
#   DIR/scenes-coco/{images,annotations}/...    generated scenes as COCO JSON + PNG
#   DIR/scenes-masks/{images,masks}/...         the same scenes as image/mask PNG folders
# Needs Debian's python3-pil (/usr/bin/python3) and dataset-fashion-mnist, and a built `moe`
# (MOE=path/to/moe, default .build/debug/moe). TRAIN / VAL set the slice sizes per split.
set -euo pipefail
DIR=${1:?usage: scripts/make-example-data.sh DIR}
MOE=${MOE:-.build/debug/moe}
TRAIN=${TRAIN:-2000}
VAL=${VAL:-500}
mkdir -p "$DIR"
/usr/bin/python3 - "$DIR" "$TRAIN" "$VAL" <<'PY'
import gzip, os, sys
import numpy as np
from PIL import Image
out, n_train, n_val = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
src = "/usr/share/datasets/fashion-mnist"
names = ["T-shirt", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
def idx(path, offset):
    with gzip.open(os.path.join(src, path)) as f:
        return np.frombuffer(f.read(), dtype=np.uint8, offset=offset)
for split, prefix, n in [("train", "train", n_train), ("val", "t10k", n_val)]:
    images = idx(f"{prefix}-images-idx3-ubyte.gz", 16).reshape(-1, 28, 28)[:n]
    labels = idx(f"{prefix}-labels-idx1-ubyte.gz", 8)[:n]
    for i, (image, label) in enumerate(zip(images, labels)):
        folder = f"{label}-{names[label]}"
        for kind, ext in [("png", "png"), ("jpeg", "jpg")]:
            d = os.path.join(out, f"fmnist-{kind}", split, folder)
            os.makedirs(d, exist_ok=True)
            if kind == "png":
                Image.fromarray(image, "L").save(os.path.join(d, f"{i:05d}.png"))
            else:
                Image.fromarray(image, "L").convert("RGB").save(os.path.join(d, f"{i:05d}.jpg"), quality=90)
print(f"wrote {n_train} train and {n_val} val Fashion-MNIST images to {out}/fmnist-png and {out}/fmnist-jpeg")
PY
"$MOE" export-scenes --recipe recipes/scenes-small-detect.yaml --out "$DIR/scenes-coco" --format coco \
    --train "$TRAIN" --test "$VAL"
"$MOE" export-scenes --recipe recipes/scenes-small-detect.yaml --out "$DIR/scenes-masks" --format masks \
    --train "$TRAIN" --test "$VAL"
