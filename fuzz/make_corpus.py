#!/usr/bin/env python3
"""make_corpus.py — writes the seed corpora of fuzz_image, fuzz_dataset and fuzz_tensor under
fuzz/corpus/ (small, committed). Images with Pillow: JPEG (baseline, progressive, gray) and PNG
(RGB, palette, 16-bit gray, RGBA); datasets as fuzz_dataset reads its input (5 bytes of choices,
then the two files: idx plain and gzip'd, raw float tensors); tensors: the TensorProtos of
tests/fixtures; a quantized (QDQ) ONNX model for fuzz_onnx, by `build/incept quantize` of
models/tiny.incept (skipped, saying so, before the CLI is built). The checkpoint seed comes from the fuzz_checkpoint_seed target, the weights seed
from fuzz_weights_seed. Usage: python3 fuzz/make_corpus.py (from the repository root)."""
import glob
import gzip
import io
import os
import shutil
import struct
import subprocess

from PIL import Image

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def write(kind, name, data):
    os.makedirs(os.path.join(root, kind), exist_ok=True)
    with open(os.path.join(root, kind, name), "wb") as f:
        f.write(data)


def images():
    rgb = Image.new("RGB", (9, 7))
    rgb.putdata([((x * 29) % 256, (y * 37) % 256, (x * y * 11) % 256) for y in range(7) for x in range(9)])
    for name, img, fmt, opts in [
        ("baseline.jpg", rgb, "JPEG", {"quality": 80}),
        ("progressive.jpg", rgb, "JPEG", {"progressive": True}),
        ("gray.jpg", rgb.convert("L"), "JPEG", {}),
        ("rgb.png", rgb, "PNG", {}),
        ("palette.png", rgb.convert("P"), "PNG", {}),
        ("gray16.png", rgb.convert("L").convert("I"), "PNG", {}),
        ("rgba.png", rgb.convert("RGBA"), "PNG", {}),
    ]:
        out = io.BytesIO()
        img.save(out, fmt, **opts)
        write("image", name, out.getvalue())


def idx(dims, payload):
    return struct.pack(">BBBB", 0, 0, 8, len(dims)) + b"".join(struct.pack(">I", d) for d in dims) + payload


def dataset_input(raw, c, h, w, first, second):
    split = round(255 * len(first) / max(1, len(first) + len(second)))
    # fuzz_dataset splits at size * byte / 255 (floor): nudge until it lands exactly
    while split < 255 and (len(first) + len(second)) * split // 255 < len(first):
        split += 1
    while split > 0 and (len(first) + len(second)) * split // 255 > len(first):
        split -= 1
    head = bytes([raw, split, (c - 1) & 3, (h - 1) & 15, (w - 1) & 15])
    return head + first + second


def datasets():
    pixels = bytes((i * 13) % 256 for i in range(3 * 4 * 4))
    images_idx, labels_idx = idx([3, 4, 4], pixels), idx([3], bytes([0, 2, 1]))
    write("dataset", "idx.bin", dataset_input(0, 1, 1, 1, images_idx, labels_idx))
    write("dataset", "idx_gz.bin", dataset_input(0, 1, 1, 1, gzip.compress(images_idx, mtime=0),
                                                 gzip.compress(labels_idx, mtime=0)))
    x = struct.pack("<%df" % (2 * 2 * 3 * 3), *[0.25 * i for i in range(36)])
    y = struct.pack("<2f", 1.0, 0.0)
    write("dataset", "raw.bin", dataset_input(1, 2, 3, 3, x, y))


def tensors():
    os.makedirs(os.path.join(root, "tensor"), exist_ok=True)
    fixtures = os.path.join(os.path.dirname(root), "..", "tests", "fixtures")
    for path in sorted(glob.glob(os.path.join(fixtures, "*.pb"))):
        shutil.copy(path, os.path.join(root, "tensor", os.path.basename(path)))


def quantized_onnx():
    cli = os.path.join(os.path.dirname(root), "..", "build", "incept")
    if not os.path.exists(cli):
        print("make_corpus.py: no build/incept yet: the QDQ seed of fuzz_onnx is left as it is")
        return
    calib = os.path.join(root, "..", "..", "build", "qdq_calib.bin")
    with open(calib, "wb") as f:  # 4 samples of 3x15x15, a smooth pattern
        f.write(struct.pack("<%df" % (4 * 675), *[((i * 37) % 101) / 50.0 - 1.0 for i in range(4 * 675)]))
    tiny = os.path.join(os.path.dirname(root), "..", "models", "tiny.incept")
    out = os.path.join(root, "onnx", "qdq_tiny.onnx")
    subprocess.run([cli, "quantize", tiny, "--calib", calib, "--out", out], check=True)
    os.remove(calib)


images()
datasets()
tensors()
quantized_onnx()
