#!/usr/bin/env python3
"""Writes the MoEImage test fixtures and Pillow's decoded pixels for each of them.

    python3 scripts/make-test-images.py OUT_DIR

Content comes from real data: scikit-learn's 8×8 digits (upscaled with Pillow) and crops
of its sample photo `china.jpg`. Pillow writes most files; a small PNG encoder below writes
what Pillow cannot (16-bit colour, 16-bit gray+alpha, Adam7-interlaced), and Pillow decodes
those too. OUT_DIR/manifest.json lists, base64-encoded:

  images   per decodable file: Pillow's open mode, `.convert('L')` and `.convert('RGB')`
           bytes, and for 8-bit 'P'/'L' PNGs the raw samples (palette indices) as `raw`;
  drafts   `Image.draft('RGB', request)` decodes: the size Pillow chose and its pixels;
  resizes  `Image.resize(size, BILINEAR or NEAREST)` of a decoded fixture;
  errors   broken files and the ImageError case the Swift decoder must throw, with Pillow's
           own error for reference.
"""
import base64
import io
import json
import pathlib
import struct
import sys
import warnings
import zlib

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits, load_sample_image

# Pillow warns that palette transparency "expressed in bytes" is dropped by convert('RGB'):
# that is the behaviour being recorded.
warnings.filterwarnings("ignore", message="Palette images with Transparency")
out = pathlib.Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
manifest = {"pillow": Image.__version__, "images": [], "drafts": [], "resizes": [], "errors": []}


def b64(data):
    return base64.b64encode(bytes(data)).decode("ascii")


# ---------------------------------------------------------------- real content

DIGITS = load_digits().images  # (1797, 8, 8), values 0…16
CHINA = load_sample_image("china.jpg")  # (427, 640, 3) uint8


def digits_tile(first, cols, rows, size):
    """cols×rows digits (values ×15) tiled and upscaled with Pillow's bilinear filter."""
    tile = np.zeros((rows * 8, cols * 8), np.uint8)
    for k in range(cols * rows):
        r, c = divmod(k, cols)
        tile[r * 8:(r + 1) * 8, c * 8:(c + 1) * 8] = (DIGITS[first + k] * 15).astype(np.uint8)
    return np.asarray(Image.fromarray(tile, "L").resize(size, Image.BILINEAR))


def china_crop(x, y, w, h):
    return np.ascontiguousarray(CHINA[y:y + h, x:x + w])


GRAY = digits_tile(0, 6, 5, (61, 47))
GRAY2 = digits_tile(40, 6, 5, (61, 47))
RGB = china_crop(200, 100, 97, 73)
RGB2 = china_crop(320, 250, 97, 73)
ALPHA_RGB = digits_tile(80, 6, 5, (97, 73))


# ---------------------------------------------------------------- a minimal PNG encoder

ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else (b if pb <= pc else c)


def filter_row(kind, row, prev, bpp):
    """PNG filter `kind` (0 None … 4 Paeth) applied to one scanline."""
    outrow = bytearray(len(row))
    for i, x in enumerate(row):
        a = row[i - bpp] if i >= bpp else 0
        b = prev[i]
        c = prev[i - bpp] if i >= bpp else 0
        pred = [0, a, b, (a + b) // 2, paeth(a, b, c)][kind]
        outrow[i] = (x - pred) & 255
    return bytes([kind]) + bytes(outrow)


def scanlines(samples, bit_depth):
    """(h, w, c) samples → big-endian scanline bytes per row."""
    dtype = ">u2" if bit_depth == 16 else np.uint8
    return [samples[y].astype(dtype).tobytes() for y in range(samples.shape[0])]


def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def encode_png(samples, color_type, bit_depth, interlace):
    """A PNG of `samples` (h, w, c); filters cycle through all five kinds row by row."""
    h, w, ch = samples.shape
    bpp = max(1, ch * bit_depth // 8)
    passes = ADAM7 if interlace else [(0, 0, 1, 1)]
    raw = bytearray()
    for x0, y0, dx, dy in passes:
        sub = samples[y0::dy, x0::dx]
        if sub.shape[0] == 0 or sub.shape[1] == 0:
            continue
        prev = bytes(sub.shape[1] * bpp)
        for y, row in enumerate(scanlines(sub, bit_depth)):
            raw += filter_row(y % 5, row, prev, bpp)
            prev = row
    ihdr = struct.pack(">IIBBBBB", w, h, bit_depth, color_type, 0, 0, 1 if interlace else 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(bytes(raw), 9)) + chunk(
        b"IEND", b"")


# ---------------------------------------------------------------- fixtures


def record(name, kind, data):
    """Writes `data` as OUT/name and records how Pillow decodes it."""
    (out / name).write_bytes(data)
    im = Image.open(io.BytesIO(data))
    im.load()
    entry = {
        "file": name,
        "kind": kind,
        "format": im.format.lower(),
        "mode": im.mode,
        "width": im.width,
        "height": im.height,
        "L": b64(im.convert("L").tobytes()),
        "RGB": b64(im.convert("RGB").tobytes()),
    }
    if im.format == "PNG" and im.mode in ("P", "L"):  # 8-bit gray or any palette: raw samples
        entry["raw"] = b64(im.tobytes())
    manifest["images"].append(entry)
    return im


def pillow_png(image, **options):
    buf = io.BytesIO()
    image.save(buf, "PNG", **options)
    return buf.getvalue()


def pillow_jpeg(image, **options):
    buf = io.BytesIO()
    image.save(buf, "JPEG", **options)
    return buf.getvalue()


def png_fixtures():
    gray = Image.fromarray(GRAY, "L")
    rgb = Image.fromarray(RGB, "RGB")
    record("png_gray.png", "gray", pillow_png(gray))
    record("png_gray_alpha.png", "gray+alpha", pillow_png(Image.merge("LA", [gray, Image.fromarray(GRAY2)])))
    record("png_gray_trns.png", "gray+tRNS", pillow_png(gray, transparency=int(GRAY[5, 5])))
    record("png_gray1.png", "1-bit gray", pillow_png(gray.point(lambda v: 255 if v >= 96 else 0).convert("1")))
    record("png_rgb.png", "RGB", pillow_png(rgb))
    record("png_rgb_trns.png", "RGB+tRNS", pillow_png(rgb, transparency=tuple(int(v) for v in RGB[3, 3])))
    record("png_rgba.png", "RGBA", pillow_png(Image.merge("RGBA", [*rgb.split(), Image.fromarray(ALPHA_RGB)])))
    palette = rgb.quantize(colors=64)
    record("png_palette.png", "palette", pillow_png(palette))
    alphas = bytes((37 * i) % 256 for i in range(64))
    record("png_palette_trns.png", "palette+tRNS", pillow_png(palette, transparency=alphas))
    record("png_palette4.png", "4-bit palette", pillow_png(rgb.quantize(colors=16), bits=4))
    # 16-bit gray from digits ×3 (0…720): Pillow opens it as mode 'I' and clips to 0…255.
    gray16 = digits_tile(120, 6, 5, (61, 47)).astype(np.int32) * 3
    record("png_gray16.png", "16-bit gray", pillow_png(Image.fromarray(gray16, "I")))
    # 16-bit colour: high byte from one crop, low byte from another, so rounding ≠ truncation.
    rgb16 = (RGB.astype(np.uint16) << 8) | RGB2
    record("png_rgb16.png", "16-bit RGB", encode_png(rgb16, 2, 16, False))
    la16 = np.stack([(GRAY.astype(np.uint16) << 8) | GRAY2, (GRAY2.astype(np.uint16) << 8) | GRAY], -1)
    record("png_gray_alpha16.png", "16-bit gray+alpha", encode_png(la16, 4, 16, False))
    rgba16 = np.concatenate([rgb16, (ALPHA_RGB.astype(np.uint16) * 257)[..., None]], -1)
    record("png_rgba16.png", "16-bit RGBA", encode_png(rgba16, 6, 16, False))
    crop = china_crop(40, 20, 37, 29)
    record("png_rgb_interlaced.png", "interlaced RGB", encode_png(crop, 2, 8, True))
    record("png_gray_interlaced.png", "interlaced gray", encode_png(GRAY[..., None], 0, 8, True))
    record("png_gray16_interlaced.png", "interlaced 16-bit gray", encode_png(gray16[:13, :11, None], 0, 16, True))
    record("png_rgba_tiny_interlaced.png", "interlaced RGBA 3×2", encode_png(
        np.concatenate([RGB[:2, :3], ALPHA_RGB[:2, :3, None]], -1), 6, 8, True))


def jpeg_fixtures():
    gray = Image.fromarray(GRAY, "L")
    rgb = Image.fromarray(RGB, "RGB")
    large = Image.fromarray(CHINA, "RGB")
    record("jpeg_gray.jpg", "baseline gray", pillow_jpeg(gray, quality=90))
    record("jpeg_rgb.jpg", "baseline YCbCr 4:2:0", pillow_jpeg(rgb, quality=90))
    record("jpeg_rgb444.jpg", "baseline YCbCr 4:4:4", pillow_jpeg(rgb, quality=90, subsampling=0))
    record("jpeg_progressive.jpg", "progressive YCbCr", pillow_jpeg(rgb, quality=85, progressive=True))
    record("jpeg_gray_progressive.jpg", "progressive gray", pillow_jpeg(gray, quality=85, progressive=True))
    record("jpeg_named.png", "JPEG bytes named .png", pillow_jpeg(rgb, quality=75))
    record("jpeg_large.jpg", "baseline 640×427", pillow_jpeg(large, quality=85))
    record("jpeg_large_progressive.jpg", "progressive 640×427", pillow_jpeg(large, quality=85, progressive=True))
    record("jpeg_large_gray.jpg", "gray 640×427", pillow_jpeg(large.convert("L"), quality=85))
    requests = {
        "jpeg_large.jpg": [(320, 200), (150, 100), (60, 50), (400, 300), (300, 100), (1, 1)],
        "jpeg_large_progressive.jpg": [(150, 100), (70, 40)],
        "jpeg_large_gray.jpg": [(100, 100)],
    }
    for name, sizes in requests.items():
        for size in sizes:
            im = Image.open(out / name)
            im.draft("RGB", size)
            scale = (640 + im.width - 1) // im.width
            im = im.convert("RGB")
            manifest["drafts"].append({
                "file": name, "request": list(size), "width": im.width, "height": im.height,
                "scale": scale, "RGB": b64(im.tobytes()),
            })


def resize_fixtures():
    def add(name, mode, size, resample):
        im = Image.open(out / name)
        im = im if mode == "raw" else im.convert(mode)
        resized = im.resize(size, resample)
        manifest["resizes"].append({
            "file": name, "mode": mode, "width": size[0], "height": size[1],
            "filter": "nearest" if resample == Image.NEAREST else "bilinear",
            "pixels": b64(resized.tobytes()),
        })

    for size in [(40, 30), (150, 113), (50, 100), (97, 36), (7, 5), (200, 20), (97, 73)]:
        add("png_rgb.png", "RGB", size, Image.BILINEAR)
    for size in [(30, 23), (128, 99), (61, 10)]:
        add("png_gray.png", "L", size, Image.BILINEAR)
    # shorter side → 50 with torchvision's rule: long = int(50 · long / short)
    add("png_rgb.png", "RGB", (int(50 * 97 / 73), 50), Image.BILINEAR)
    for size in [(40, 30), (150, 113), (33, 91), (97, 73)]:
        add("png_palette.png", "raw", size, Image.NEAREST)


def patch_png_size(data, width, height):
    """`data` with IHDR width/height replaced (CRC recomputed)."""
    ihdr = bytearray(data[12:29])
    ihdr[4:12] = struct.pack(">II", width, height)
    return data[:12] + bytes(ihdr) + struct.pack(">I", zlib.crc32(bytes(ihdr))) + data[33:]


def patch_jpeg_size(data, width, height):
    """`data` with the SOF0 frame's height/width replaced."""
    at = data.index(b"\xff\xc0")
    return data[:at + 5] + struct.pack(">HH", height, width) + data[at + 9:]


def flip(data, at):
    """`data` with the byte at `at` inverted in four bits."""
    return data[:at] + bytes([data[at] ^ 0x55]) + data[at + 1:]


def error_fixtures():
    rgb_png = (out / "png_rgb.png").read_bytes()
    rgb_jpg = (out / "jpeg_rgb.jpg").read_bytes()
    idat = rgb_png.index(b"IDAT")
    idat_crc = idat + 4 + struct.unpack(">I", rgb_png[idat - 4:idat])[0]  # the IDAT chunk's CRC
    broken = {
        "truncated.png": (rgb_png[:len(rgb_png) * 6 // 10], "corrupt"),
        "truncated.jpg": (rgb_jpg[:len(rgb_jpg) // 2], "corrupt"),
        "truncated_header.jpg": (rgb_jpg[:300], "corrupt"),
        # Pillow does not check IDAT CRCs and decodes this one; libpng (and so MoEImage) refuses it.
        "bad_crc.png": (flip(rgb_png, idat_crc), "corrupt"),
        "bad_zlib.png": (flip(rgb_png, idat + 20), "corrupt"),
        "signature_only.png": (b"\x89PNG\r\n\x1a\n" + b"garbage" * 5, "corrupt"),
        "text.png": (b"this is a text file, not an image\n", "unsupportedFormat"),
        "empty.png": (b"", "empty"),
        "cmyk.jpg": (pillow_jpeg(Image.fromarray(RGB, "RGB").convert("CMYK"), quality=90), "cmykJPEG"),
        "huge.png": (patch_png_size(rgb_png, 100_000, 100_000), "tooLarge"),
        "huge.jpg": (patch_jpeg_size(rgb_jpg, 60_000, 60_000), "tooLarge"),
    }
    for name, (data, expected) in broken.items():
        (out / name).write_bytes(data)
        try:
            with Image.open(io.BytesIO(data)) as im:
                im.load()
                pillow = f"decoded as {im.mode} {im.size}"
        except Exception as error:  # Pillow's own verdict, for reference only
            pillow = f"{type(error).__name__}: {error}"
        manifest["errors"].append({"file": name, "error": expected, "pillow": pillow})


png_fixtures()
jpeg_fixtures()
resize_fixtures()
error_fixtures()
(out / "manifest.json").write_text(json.dumps(manifest, indent=1))
print(f"make-test-images: {len(manifest['images'])} images, {len(manifest['errors'])} broken files in {out}")
