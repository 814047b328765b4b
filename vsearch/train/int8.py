"""Calibrate a model's int8 image graphs (models/int8.py) on photos of a benchmark's training
split and save the activation ranges beside the weights (`<weights>.int8.json`), where every
int8 ingest and image query finds them. Only the training split is read: dev and test stay
untouched for measuring what int8 costs."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import atomic_write
from ..evaluation.pairs import load_pairs
from ..models.int8 import calibrate, calibration_path, merge_ranges
from ..progress import Reporter, track

CALIBRATION_PHOTOS = 256


def calibrate_int8(model, weights: str | Path, data: str | Path, photos: int = CALIBRATION_PHOTOS, seed: int = 0,
                   workers: int | None = None, progress: Reporter | None = None) -> tuple[Path, dict[str, Any]]:
    """Ranges of `model`'s image graphs (plain, and with its shipped reranker's tokens) over
    `photos` training photos drawn with `seed`. Returns (calibration file, what it holds but the ranges)."""
    from ..models.handle import ModelHandle
    from ..models.token_reranker import token_reranker
    from ..models.onnx_export import export_image_tower
    from ..evaluation.encoding import decode_pixels

    handle = ModelHandle.open(model)
    train = load_pairs(data, "train")
    pick = np.sort(np.random.default_rng(seed).choice(len(train.images), min(photos, len(train.images)), replace=False))
    paths = [train.images[i] for i in pick]
    pp = handle.preprocess
    pixels = np.stack(list(track(decode_pixels(paths, pp, workers), progress, "calibration photos",
                                 total=len(paths), unit="img")))
    batches = [pp.normalize_array(pixels[i:i + 16]) for i in range(0, len(pixels), 16)]
    exports = [export_image_tower(model)]
    rr = token_reranker(handle)
    if rr is not None:
        exports.append(handle.exports.image_export(rr))
    ranges: dict[str, Any] = {}
    for export in exports:
        ranges = merge_ranges(ranges, calibrate(export, iter(batches)))
    about = {"fingerprint": model.fingerprint, "model": model.name, "split": train.split, "photos": len(paths),
             "seed": seed, "graphs": [e.name for e in exports], "tensors": len(ranges["data"])}
    path = atomic_write(calibration_path(weights), json.dumps({**about, "ranges": ranges}, sort_keys=True).encode(),
                        point="int8-calibration")
    return path, about
