"""Every pair of photos whose vectors are close (cosine >= floor, among each photo's k nearest), in
one pass over an inverted file built for the purpose: the self-join.

Asking the collection's index for each photo's neighbours costs a search per photo (at 1M photos:
minutes with HNSW, hours with compressed IVF lists). Near-copies are each other's nearest
neighbours by far, so a coarser structure finds them: the vectors are clustered (spherical k-means
on a sample, sqrt(PROBES * n) lists), each photo is filed under its nearest list and looked up in
its PROBES nearest, and each list is joined with the photos looking it up by one exact matrix
product (BLAS). The work is PROBES * n * (n / lists) * d, about 2 n^1.5 d: 1M photos of 256
dimensions in about a minute on 2 cores (benchmarks/duplicates_scale.py measures it). Memory holds
one list's vectors at a time and the small per-photo arrays (rows.py); each photo's k best
neighbours so far (8 bytes each) are memory-mapped beside the rows, and the pairs are handed over
a block of photos at a time. A pair is missed only when neither photo looks up the other's
list, which near copies, each other's nearest by far, hardly ever are (tests/test_duplicates_core.py
checks the join against brute force).
"""
from __future__ import annotations

import math
from typing import Iterator

import faiss
import numpy as np

from .rows import Rows

PROBES = 2            # lists each photo is looked up in
EXACT_UP_TO = 20_000  # up to this many photos, one list: the exact join
TRAIN_PER_LIST = 40   # k-means sample: photos per list
QUERY_BLOCK = 16_384  # photos looking a list up at a time: bounds the block's results
BLOCK = 131_072       # photos whose pairs are handed over at a time
MAX_OWN = 256         # a video's own moments a frame's search makes room for (they are not its pairs)
SEED = 0


def nearest(rows: Rows, floor: float, k: int) -> "Neighbours":
    """Each photo's k nearest others at cosine >= floor (at most), found by the self-join."""
    n = rows.filled
    best = Neighbours(rows, k)
    if n < 2:
        return best
    if n <= EXACT_UP_TO:
        probes = np.zeros((n, 1), np.int32)
    else:
        probes = _assign(rows, _train(rows, int(math.sqrt(PROBES * n))))
    for q, d, s in _join_lists(rows, probes, floor, k, own_moments(rows.source[:n])):
        best.merge(q, d, s)
    best.floor = floor
    return best


class Neighbours:
    """Each photo's k best neighbours so far, whatever the lists hold, in memory-mapped files beside
    the rows (8 bytes a neighbour: the page cache holds them, not the process). A neighbour is a
    member of exactly one list (its home), so it is never offered twice."""

    def __init__(self, rows: Rows, k: int):
        n = max(rows.filled, 1)
        self.sims = rows.scratch("best-sims", np.float32, (n, k))
        self.sims[:] = -np.inf
        self.ids = rows.scratch("best-ids", np.int32, (n, k))
        self.ids[:] = -1
        self.n, self.floor = rows.filled, np.inf

    def merge(self, q: np.ndarray, d: np.ndarray, s: np.ndarray) -> None:
        """q [m]: photos (each once); d, s [m, kk]: their neighbours in one list (-inf: none)."""
        k = self.sims.shape[1]
        sims = np.concatenate([self.sims[q], s], axis=1)
        ids = np.concatenate([self.ids[q], d], axis=1)
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        self.sims[q] = np.take_along_axis(sims, top, 1)
        self.ids[q] = np.take_along_axis(ids, top, 1)

    def has(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """bool per (a, b): b is among a's neighbours at the floor."""
        return ((self.ids[a] == b[:, None]) & (self.sims[a] >= self.floor)).any(axis=1)

    def blocks(self, size: int = BLOCK) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(positions a, positions b), a < b, of the neighbours at the floor, `size` photos' worth
        at a time; each pair once over all blocks (from the lower photo's row, or from the higher's
        when the lower does not hold it)."""
        for start in range(0, self.n, size):
            sims = np.asarray(self.sims[start:start + size])
            q, slot = np.nonzero(sims >= self.floor)
            d = self.ids[start:start + size][q, slot].astype(np.int64)
            q = q.astype(np.int64) + start
            once = (q < d) | ~self.has(d, q)
            q, d = q[once], d[once]
            yield np.minimum(q, d), np.maximum(q, d)


def _train(rows: Rows, nlist: int) -> faiss.Index:
    n = rows.filled
    sample = np.sort(np.random.default_rng(SEED).choice(n, min(n, TRAIN_PER_LIST * nlist), replace=False))
    km = faiss.Kmeans(rows.dim, nlist, niter=12, spherical=True, seed=SEED, verbose=False,
                      max_points_per_centroid=TRAIN_PER_LIST)
    km.train(rows.vectors(sample))
    return km.index


def _assign(rows: Rows, quantizer: faiss.Index, chunk: int = 65_536) -> np.ndarray:
    """int32 [n, PROBES]: each photo's nearest lists, the nearest (its home) first."""
    out = np.zeros((rows.filled, PROBES), np.int32)
    for start in range(0, rows.filled, chunk):
        _, lists = quantizer.search(rows.vectors(slice(start, start + chunk)), PROBES)
        out[start:start + chunk] = lists
    return out


def own_moments(source: np.ndarray) -> int:
    """The most other moments of one video among these photos (0: no video has two), at most
    MAX_OWN: the search for each photo's k nearest others takes that many more."""
    if not len(source):
        return 0
    _, counts = np.unique(source, return_counts=True)
    return min(int(counts.max()) - 1, MAX_OWN)


def _join_lists(rows: Rows, probes: np.ndarray, floor: float, k: int, own: int = 0):
    """For each list: its members' (home) vectors against those of every photo looking it up;
    yields (photos, their neighbours' positions [m, kk], cosines [m, kk]: -inf where none: itself
    and its video's other moments, `own` at most, are no neighbours)."""
    home = probes[:, 0]
    by_home = np.argsort(home, kind="stable").astype(np.int32)
    home_bounds = np.searchsorted(home[by_home], np.arange(probes.max() + 2))
    looking = probes.ravel()
    by_look = np.argsort(looking, kind="stable")
    look_bounds = np.searchsorted(looking[by_look], np.arange(probes.max() + 2))
    who = (by_look // probes.shape[1]).astype(np.int32)  # the photo behind each lookup
    del by_look
    for lst in range(len(home_bounds) - 1):
        members = by_home[home_bounds[lst]:home_bounds[lst + 1]]
        if not len(members):
            continue
        queries = np.sort(who[look_bounds[lst]:look_bounds[lst + 1]])
        if len(queries) < 2 and len(members) < 2:
            continue
        base = rows.vectors(members)
        kk = min(k + 1 + own, len(members))
        for start in range(0, len(queries), QUERY_BLOCK):
            qpos = queries[start:start + QUERY_BLOCK]
            sims, idx = faiss.knn(rows.vectors(qpos), base, kk, metric=faiss.METRIC_INNER_PRODUCT)
            dpos = members[np.maximum(idx, 0)]
            same = rows.source[dpos] == rows.source[qpos][:, None]  # itself, or a moment of its own video
            sims[same | (idx < 0) | (sims < floor)] = -np.inf
            yield qpos, dpos.astype(np.int32), sims
