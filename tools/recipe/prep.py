#!/usr/bin/python3
"""Decode the NIH cells once, resize them like plasmo, cache them as .npy for the recipe experiments.

usage: OPENBLAS_NUM_THREADS=1 /usr/bin/python3 tools/recipe/prep.py SPLIT.csv DATA_ROOT OUT_DIR [SIZE...]

SPLIT.csv comes from `plasmo data-info --data DIR --val-frac 0.2 --seed 1 --split-out SPLIT.csv` (file paths
relative to the folder holding Parasitized/ and Uninfected/). Writes, for each SIZE (default 32 48 64):
  OUT_DIR/x{SIZE}.npy   uint8 [N, 3, SIZE, SIZE], planar RGB, rows in the CSV's order
and once: OUT_DIR/meta.npz with label (int64, 1 = Parasitized), val (bool), patient (str).

Resizing follows data_loader/resize.cpp: separable, rows then columns; a downscale averages areas (each
source pixel weighted by its overlap with the output pixel's interval, weights normalised), an upscale is
bilinear with align_corners=False and clamped borders, the same size is the identity; then rounding to uint8
(floor(v + 0.5), clamped). Float rounding may differ from plasmo's in the last bit, i.e. an occasional +-1.
"""
import csv
import os
import sys
import time

import numpy as np
from PIL import Image


def axis_matrix(in_size, out_size):
    """[out_size, in_size] weights of data_loader/resize.cpp's Resizer::Axis::build."""
    m = np.zeros((out_size, in_size), dtype=np.float64)
    scale = in_size / out_size
    for o in range(out_size):
        if in_size == out_size:
            m[o, o] = 1.0
        elif in_size > out_size:
            lo, hi = o * scale, (o + 1) * scale
            first = (o * in_size) // out_size
            last = (o * in_size + in_size + out_size - 1) // out_size - 1
            for i in range(first, last + 1):
                m[o, i] = max(0.0, min(hi, i + 1.0) - max(lo, float(i)))
            m[o] /= m[o].sum()
        else:
            centre = (o + 0.5) * scale - 0.5
            left = int(np.floor(centre))
            frac = centre - left
            if left < 0:
                left, frac = 0, 0.0
            if left >= in_size - 1:
                left, frac = in_size - 1, 0.0
            m[o, left] += 1.0 - frac
            if frac > 0:
                m[o, left + 1] += frac
    return m.astype(np.float32)


_cache = {}


def resize(rgb, size):
    """rgb [H, W, 3] uint8 -> planar [3, size, size] uint8."""
    h, w, _ = rgb.shape
    key_r, key_c = (h, size), (w, size)
    if key_r not in _cache:
        _cache[key_r] = axis_matrix(h, size)
    if key_c not in _cache:
        _cache[key_c] = axis_matrix(w, size)
    rows, cols = _cache[key_r], _cache[key_c]
    x = rgb.astype(np.float32).transpose(2, 0, 1)  # [3, H, W]
    horizontal = x @ cols.T                          # [3, H, size]
    out = rows @ horizontal                          # [3, size, size]
    return np.clip(np.floor(out + 0.5), 0, 255).astype(np.uint8)


def main():
    split_csv, root, out_dir = sys.argv[1:4]
    sizes = [int(s) for s in sys.argv[4:]] or [32, 48, 64]
    os.makedirs(out_dir, exist_ok=True)
    with open(split_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    n = len(rows)
    label = np.array([int(r["label"]) for r in rows], dtype=np.int64)
    val = np.array([r["side"] == "val" for r in rows])
    patient = np.array([r["patient"] for r in rows])
    # The split must keep every patient on one side.
    sides = {}
    for p, v in zip(patient, val):
        sides.setdefault(p, set()).add(bool(v))
    mixed = [p for p, s in sides.items() if len(s) > 1]
    if mixed:
        raise SystemExit("patients on both sides: %s" % mixed[:5])
    print("images %d: train %d (%d Parasitized), val %d (%d Parasitized); patients train %d val %d" % (
        n, (~val).sum(), label[~val].sum(), val.sum(), label[val].sum(),
        len({p for p, v in zip(patient, val) if not v}), len({p for p, v in zip(patient, val) if v})))
    arrays = {s: np.zeros((n, 3, s, s), dtype=np.uint8) for s in sizes}
    t0 = time.time()
    for i, r in enumerate(rows):
        rgb = np.asarray(Image.open(os.path.join(root, r["file"])).convert("RGB"))
        for s in sizes:
            arrays[s][i] = resize(rgb, s)
        if i % 2000 == 0:
            print("%d/%d %.0f s" % (i, n, time.time() - t0), flush=True)
    for s in sizes:
        np.save(os.path.join(out_dir, "x%d.npy" % s), arrays[s])
    np.savez(os.path.join(out_dir, "meta.npz"), label=label, val=val, patient=patient)
    print("done in %.0f s" % (time.time() - t0))


if __name__ == "__main__":
    main()
