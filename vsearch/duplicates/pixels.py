"""Do two photos show the same picture, one perhaps cropped out of the other? Answered from their
32 x 32 grey thumbnails (imaging/signature.py) and their shapes, in about a millisecond a pair.

The smaller picture is slid over every place in the larger one at scales from the whole frame down
to half of it (a crop keeping from 100 % to 50 % of the width; the height follows from the two
shapes), and the best zero-mean normalised cross-correlation (NCC) over every place and scale is
the answer: 1 for the same pixels, unchanged by brightness and contrast (it is affine-invariant),
near 0.5 for unrelated photos of one kind of scene, and rarely above 0.88 for two different photos
(measured: benchmarks/duplicates.py). Both directions are tried, since either photo may be the
crop.
"""
from __future__ import annotations

import numpy as np
from PIL import Image

SCALES = tuple(round(1.0 - 0.05 * i, 2) for i in range(11))  # the share of the width a crop keeps: 1.0 ... 0.5
MIN_STD = 2.0    # a window flatter than this (grey levels) says nothing about a match
MIN_SIDE = 8     # the smallest template, in thumbnail pixels


def upright_aspect(width, height, orientation) -> np.ndarray:
    """Width / height of the picture as seen (EXIF orientations 5-8 turn it a quarter)."""
    w, h = np.asarray(width, np.float64), np.asarray(height, np.float64)
    turned = np.isin(np.asarray(orientation if orientation is not None else 1, dtype=np.float64), (5, 6, 7, 8))
    return np.where(turned, h / w, w / h)


def _best_ncc(big: np.ndarray, small: np.ndarray) -> float:
    """The best NCC of `small` placed anywhere inside `big` (both float64)."""
    h, w = small.shape
    s = small - small.mean()
    s_norm = np.sqrt((s * s).sum())
    if s_norm < MIN_STD * np.sqrt(s.size):
        return 0.0
    win = np.lib.stride_tricks.sliding_window_view(big, (h, w)).reshape(-1, s.size)  # a small copy: <= 25 x 1024
    sums = win.sum(axis=1)
    var = np.maximum(np.einsum("ij,ij->i", win, win) - sums * sums / s.size, 0.0)
    num = win @ s.ravel()  # the window's mean drops out: s sums to zero
    ok = var >= (MIN_STD ** 2) * s.size
    if not ok.any():
        return 0.0
    return float((num[ok] / (np.sqrt(var[ok]) * s_norm)).max())


def _inside(big: np.ndarray, big_aspect: float, small: np.ndarray, small_aspect: float) -> float:
    """The best NCC of the `small` picture taken as a crop of `big`, over SCALES."""
    side = big.shape[0]
    img = Image.fromarray(small.astype(np.float32), mode="F")
    best = 0.0
    for sx in SCALES:
        sy = sx * big_aspect / small_aspect      # the crop's share of the height, from the two shapes
        if sy > 1.05:
            continue
        w, h = round(sx * side), round(min(sy, 1.0) * side)
        if min(w, h) < MIN_SIDE:
            continue
        template = np.asarray(img.resize((w, h), Image.Resampling.BOX), dtype=np.float64)
        best = max(best, _best_ncc(big, template))
    return best


def window_match(a: np.ndarray, aspect_a: float, b: np.ndarray, aspect_b: float) -> float:
    """How well the two thumbnails (uint8 [32, 32]) match, one as a window of the other: the best NCC."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    return max(_inside(a, float(aspect_a), b, float(aspect_b)), _inside(b, float(aspect_b), a, float(aspect_a)))


def window_matches(thumbs_a: np.ndarray, aspects_a: np.ndarray, thumbs_b: np.ndarray, aspects_b: np.ndarray) -> np.ndarray:
    """float32 [n]: window_match of each pair (rows of the two batches)."""
    return np.array([window_match(*args) for args in zip(thumbs_a, aspects_a, thumbs_b, aspects_b)], dtype=np.float32)
