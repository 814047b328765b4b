"""Do two photos show the same picture, one perhaps cropped out of the other? Answered from their
32 x 32 grey thumbnails (imaging/signature.py) and their shapes, in a fraction of a millisecond.

The smaller picture (in pixels; both ways when they are about equal) is slid over every place in
the larger one at every scale it can have been cut at, from the whole frame down to half of it (a
crop keeping from 100 % to 50 % of the width; its height follows from the two shapes). A crop
keeps its pixels or is made smaller, never larger, so it covers at least its own share of the
larger one's width, less SHIFT (the camera of a burst moves): two pictures of one size, most
pairs of different photos (one camera), are compared at three scales only. The best zero-mean normalised cross-correlation (NCC,
OpenCV's TM_CCOEFF_NORMED) over every place and scale is the answer: 1 for the same pixels,
unchanged by brightness and contrast, about 0.5 for two photos of one kind of scene, 0.9 and more
for a crop of a photo; two different photos of one layout (snow slopes under a blue sky) reach 0.9
too, which is why a crop also needs the vectors to agree (benchmarks/duplicates.py).
"""
from __future__ import annotations

import cv2
import numpy as np

SCALES = tuple(round(1.0 - 0.05 * i, 2) for i in range(11))  # the share of the width a crop keeps: 1.0 ... 0.5
MIN_STD = 2.0    # a template flatter than this (grey levels) says nothing about a match
MIN_SIDE = 8     # the smallest template, in thumbnail pixels
SAME_SIZE = 1.1  # pictures within this ratio of pixels are each tried as the crop of the other
SHIFT = 0.1      # scales down to a crop's share of the width less this are tried
CHUNK = 16_384   # pairs measured at a time (their thumbnails in memory)


def _inside(big: np.ndarray, big_shape: tuple[float, float], small: np.ndarray, small_shape: tuple[float, float]) -> float:
    """The best NCC of the `small` picture taken as a crop of `big` (float32 thumbnails), over the
    SCALES it can have been cut at."""
    side = big.shape[0]
    big_aspect, small_aspect = big_shape[0] / big_shape[1], small_shape[0] / small_shape[1]
    at_least = small_shape[0] / big_shape[0] - SHIFT - 1e-6
    best = 0.0
    for sx in SCALES:
        if sx < at_least:
            break
        sy = sx * big_aspect / small_aspect      # the crop's share of the height, from the two shapes
        if sy > 1.05:
            continue
        w, h = round(sx * side), round(min(sy, 1.0) * side)
        if min(w, h) < MIN_SIDE:
            continue
        template = small if (w, h) == small.shape[::-1] else cv2.resize(small, (w, h), interpolation=cv2.INTER_AREA)
        if cv2.meanStdDev(template)[1][0, 0] < MIN_STD:
            continue
        top = float(cv2.matchTemplate(big, template, cv2.TM_CCOEFF_NORMED).max())
        if np.isfinite(top):  # a flat window can make a NaN (OpenCV's own guard covers most)
            best = max(best, top)
    return min(best, 1.0)


def seen_shapes(width, height, orientation=None) -> np.ndarray:
    """float32 [n, 2]: (width, height) of each picture as seen (EXIF orientations 5-8 turn it a
    quarter); a missing size is taken as square."""
    w = np.nan_to_num(np.asarray(width, np.float64), nan=1.0)
    h = np.nan_to_num(np.asarray(height, np.float64), nan=1.0)
    w, h = np.where(w > 0, w, 1.0), np.where(h > 0, h, 1.0)
    turned = np.isin(np.nan_to_num(np.asarray(orientation if orientation is not None else np.ones_like(w), np.float64)), (5, 6, 7, 8))
    return np.stack([np.where(turned, h, w), np.where(turned, w, h)], axis=1).astype(np.float32)


def window_match(a: np.ndarray, shape_a, b: np.ndarray, shape_b) -> float:
    """How well two thumbnails (uint8 [32, 32]) match, one as a window of the other: the best NCC.
    `shape_*`: (width, height) of each picture as seen."""
    a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
    (wa, ha), (wb, hb) = (float(x) for x in shape_a), (float(x) for x in shape_b)
    best = 0.0
    if wb * hb <= SAME_SIZE * wa * ha:
        best = _inside(a, (wa, ha), b, (wb, hb))
    if wa * ha <= SAME_SIZE * wb * hb:
        best = max(best, _inside(b, (wb, hb), a, (wa, ha)))
    return best


def window_matches(thumbs_a, shapes_a: np.ndarray, thumbs_b, shapes_b: np.ndarray) -> np.ndarray:
    """float32 [n]: window_match of each pair; `thumbs_*`: uint8 [n, 32, 32] arrays, or callables
    giving the rows of a slice (so that only CHUNK pairs' thumbnails are held at a time)."""
    n = len(shapes_a)
    get_a = thumbs_a if callable(thumbs_a) else thumbs_a.__getitem__
    get_b = thumbs_b if callable(thumbs_b) else thumbs_b.__getitem__
    out = np.empty(n, np.float32)
    for s in range(0, n, CHUNK):
        rows = slice(s, min(n, s + CHUNK))
        out[rows] = np.fromiter(map(window_match, get_a(rows), shapes_a[rows], get_b(rows), shapes_b[rows]),
                                np.float32, rows.stop - rows.start)
    return out
