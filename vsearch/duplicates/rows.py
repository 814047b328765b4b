"""The photos a search for near pairs looks at, by position: ids, vectors and pixel signatures.

Vectors (fp16) and thumbnails live in memory-mapped temporary files, filled chunk by chunk, so a
search over millions of photos holds in memory only its small per-photo arrays (ids, sources,
hashes, shapes: 33 bytes a photo) and the rows it is working on; the page cache holds the rest.

A photo's `source` says what it was read from: the frames of one video share one (the video's), and
are never a pair of each other (a video's moments are not near duplicates of one another); every
other photo is its own source.
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..atomic import TMP_PREFIX
from ..imaging.signature import SIDE, phash

THUMB = SIDE * SIDE


@dataclass
class Batch:
    """Photos as a source hands them over: ids, vectors and, where known, pixel signatures."""
    ids: np.ndarray                     # int64 [n]
    vectors: np.ndarray                 # float [n, d], L2-normalised
    thumbs: np.ndarray | None = None    # uint8 [n, SIDE, SIDE] (imaging/signature.py); None: none known
    shapes: np.ndarray | None = None    # float [n, 2]: (width, height) as seen (pixels.seen_shapes)
    has_thumb: np.ndarray | None = None  # bool [n]: which rows of `thumbs` are real (default: all)
    source: np.ndarray | None = None    # int64 [n]: the frames of one video share one; None: each its own (its id)

    def thumb_mask(self) -> np.ndarray:
        if self.thumbs is None:
            return np.zeros(len(self.ids), bool)
        return np.ones(len(self.ids), bool) if self.has_thumb is None else np.asarray(self.has_thumb, bool)

    def sources(self) -> np.ndarray:
        return np.asarray(self.ids if self.source is None else self.source, np.int64)


class Rows:
    """n photos by position 0..n-1, appended in batches. Use as a context manager: the temporary
    files go when it closes."""

    def __init__(self, n: int, dim: int, workdir: str | Path | None = None):
        self.n, self.dim, self.filled = n, dim, 0
        # A killed writer's leftovers in a collection folder are cleared by the next one (atomic.py).
        self._tmp = tempfile.TemporaryDirectory(prefix=TMP_PREFIX + "pairs-", dir=workdir)
        self.folder = folder = Path(self._tmp.name)
        self.ids = np.zeros(n, np.int64)
        self.source = np.zeros(n, np.int64)
        self.hashes = np.zeros(n, np.int64)
        self.has_thumb = np.zeros(n, bool)
        self.shapes = np.ones((n, 2), np.float32)
        self._vecs = np.lib.format.open_memmap(folder / "vectors.npy", "w+", np.float16, (max(n, 1), dim))
        self._thumbs = np.lib.format.open_memmap(folder / "thumbs.npy", "w+", np.uint8, (max(n, 1), THUMB))
        self._scratch: list[np.ndarray] = []

    def __enter__(self) -> "Rows":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        del self._vecs, self._thumbs
        self._scratch.clear()
        self._tmp.cleanup()

    def scratch(self, name: str, dtype, shape: tuple[int, ...]) -> np.ndarray:
        """A new memory-mapped array beside the rows' files, gone when they are."""
        arr = np.lib.format.open_memmap(self.folder / f"{name}.npy", "w+", dtype, shape)
        self._scratch.append(arr)
        return arr

    def append(self, batch: Batch) -> None:
        m = len(batch.ids)
        if self.filled + m > self.n:
            raise ValueError(f"more photos than the {self.n} announced")
        s = slice(self.filled, self.filled + m)
        self.ids[s] = batch.ids
        self.source[s] = batch.sources()
        self._vecs[s] = np.asarray(batch.vectors, np.float16)
        has = batch.thumb_mask()
        self.has_thumb[s] = has
        if has.any():
            thumbs = np.asarray(batch.thumbs, np.uint8).reshape(m, THUMB)
            self._thumbs[s] = thumbs
            self.hashes[s] = np.where(has, phash(thumbs.reshape(m, SIDE, SIDE)), 0)
            self.shapes[s] = np.where(has[:, None], np.asarray(batch.shapes, np.float32), 1.0)
        self.filled += m

    def vectors(self, positions: np.ndarray | slice) -> np.ndarray:
        """float32 rows, in the order asked."""
        return np.asarray(self._vecs[positions], np.float32)

    def thumbs(self, positions: np.ndarray) -> np.ndarray:
        return np.asarray(self._thumbs[positions]).reshape(-1, SIDE, SIDE)
