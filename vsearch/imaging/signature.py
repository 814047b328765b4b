"""A photo's pixel signature: its upright picture as a 32 x 32 grey thumbnail (1 KB), and the 64-bit
perceptual hash (pHash) made from it.

The near-duplicate groups (vsearch/duplicates) compare photos by their vectors first; where the
meaning vector of the model drifts under an edit a person would not even notice as a new picture
(re-toned, blurred, halved: cosine as low as 0.4), the pixels still agree, and where a crop moves
everything, the thumbnail finds the window that matches. Both are made at decode time from the
pixels already in hand, so no photo is read again to group it.

The pHash is the usual one (Zauner 2010; imagehash's `phash`): the 8 x 8 lowest frequencies of the
32 x 32 grey picture's DCT, one bit each for being above their median. It is computed here from the
stored thumbnail, not from the full picture, so a hash can always be remade from what the
collection stores.
"""
from __future__ import annotations

import numpy as np
from PIL import Image

SIDE = 32          # the thumbnail's side in pixels (the whole frame, squashed)
HASH_SIDE = 8      # 8 x 8 DCT coefficients -> 64 bits


def signature(img: Image.Image) -> dict[str, object]:
    """What a collection stores of a picture beside its vector (store/tables.py): its thumbnail's
    bytes (`thumb`) and pHash (`phash`, an int64)."""
    thumb = thumbnail(img)
    return {"thumb": thumb.tobytes(), "phash": int(phash(thumb))}


def thumbnail(img: Image.Image) -> np.ndarray:
    """uint8 [SIDE, SIDE]: the upright picture in grey, every pixel the mean of its area."""
    return np.asarray(img.convert("L").resize((SIDE, SIDE), Image.Resampling.BOX, reducing_gap=2.0), dtype=np.uint8)


def _dct_matrix(n: int) -> np.ndarray:
    k, x = np.arange(n)[:, None], np.arange(n)[None, :]
    m = np.cos(np.pi * (2 * x + 1) * k / (2 * n)) * np.sqrt(2 / n)
    m[0] /= np.sqrt(2)
    return m.astype(np.float64)


_DCT = _dct_matrix(SIDE)[:HASH_SIDE]  # only the rows of the low frequencies are ever needed
_BITS = (np.uint64(1) << np.arange(HASH_SIDE * HASH_SIDE, dtype=np.uint64)[::-1])


def phash(thumbs: np.ndarray, chunk: int = 2_048) -> np.ndarray:
    """int64 [n]: the pHash of each uint8 [n, SIDE, SIDE] thumbnail (or one [SIDE, SIDE]: a 0-d array),
    the first coefficient in the highest bit. The int64 holds the 64 bits as they are (sign included)."""
    thumbs = np.asarray(thumbs)
    single = thumbs.ndim == 2
    thumbs = thumbs[None] if single else thumbs
    out = np.empty(len(thumbs), np.int64)
    for s in range(0, len(thumbs), chunk):  # a float copy of a chunk at a time
        t = thumbs[s:s + chunk].astype(np.float64)
        low = (_DCT @ t @ _DCT.T).reshape(len(t), -1)
        bits = low > np.median(low, axis=1, keepdims=True)
        out[s:s + chunk] = (bits.astype(np.uint64) * _BITS).sum(axis=1, dtype=np.uint64).view(np.int64)
    return out[0] if single else out


def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Bits that differ between pHashes (int64 arrays of one shape, or broadcastable)."""
    return np.bitwise_count(np.bitwise_xor(np.asarray(a, np.int64), np.asarray(b, np.int64)).view(np.uint64)).astype(np.int16)
