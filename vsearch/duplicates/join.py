"""Every pair of photos whose vectors are close (cosine >= floor, among each photo's k nearest), in
one pass over an inverted file built for the purpose: the self-join.

Asking the collection's index for each photo's neighbours costs a search per photo (at 1M photos:
minutes with HNSW, hours with compressed IVF lists). Near-copies are each other's nearest
neighbours by far, so a coarser structure finds them: the vectors are clustered (spherical k-means
on a sample, sqrt(PROBES * n) lists), each photo is filed under its nearest list and looked up in
its PROBES nearest, and each list is joined with the photos looking it up by one exact
matrix product (BLAS). The work is PROBES * n * (n / lists) * d, about 2 n^1.5 d: 1M photos of 256
dimensions in a minute or so on 2 cores (benchmarks/duplicates.py measures it); memory holds one
list's vectors at a time besides the small per-photo arrays (rows.py). A pair is missed only when
neither photo looks up the other's list: measured against an exact join, none of the near-copies
of the benchmark are (pairs of distant photos are, a few in a thousand).
"""
from __future__ import annotations

import math

import faiss
import numpy as np

from .rows import Rows

PROBES = 2            # lists each photo is looked up in
EXACT_UP_TO = 20_000  # up to this many photos, one list: the exact join
TRAIN_PER_LIST = 40   # k-means sample: photos per list
SEED = 0


def vector_candidates(rows: Rows, floor: float, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(positions a, positions b, cosine) of the pairs found, each pair once (a < b)."""
    n = rows.filled
    if n < 2:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32)
    if n <= EXACT_UP_TO:
        probes = np.zeros((n, 1), np.int64)
    else:
        probes = _assign(rows, _train(rows, int(math.sqrt(PROBES * n))))
    found_q, found_d, found_s = [], [], []
    for q, d, s in _join_lists(rows, probes, floor, k):
        found_q.append(q), found_d.append(d), found_s.append(s)
    if not found_q:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32)
    q, d, s = np.concatenate(found_q), np.concatenate(found_d), np.concatenate(found_s)
    q, d, s = _best_per_query(q, d, s, k)
    lo, hi = np.minimum(q, d), np.maximum(q, d)
    order = np.lexsort((hi, lo))
    lo, hi, s = lo[order], hi[order], s[order]
    first = np.ones(len(lo), bool)
    first[1:] = (lo[1:] != lo[:-1]) | (hi[1:] != hi[:-1])
    return lo[first], hi[first], s[first]


def _train(rows: Rows, nlist: int) -> faiss.Index:
    n = rows.filled
    sample = np.sort(np.random.default_rng(SEED).choice(n, min(n, TRAIN_PER_LIST * nlist), replace=False))
    km = faiss.Kmeans(rows.dim, nlist, niter=12, spherical=True, seed=SEED, verbose=False,
                      max_points_per_centroid=TRAIN_PER_LIST)
    km.train(rows.vectors(sample))
    return km.index


def _assign(rows: Rows, quantizer: faiss.Index, chunk: int = 65_536) -> np.ndarray:
    """int64 [n, PROBES]: each photo's nearest lists, the nearest (its home) first."""
    out = np.zeros((rows.filled, PROBES), np.int64)
    for start in range(0, rows.filled, chunk):
        _, out[start:start + chunk] = quantizer.search(rows.vectors(slice(start, start + chunk)), PROBES)
    return out


def _join_lists(rows: Rows, probes: np.ndarray, floor: float, k: int):
    """For each list: its photos' (home) vectors against those of every photo looking it up."""
    home = probes[:, 0]
    by_home = np.argsort(home, kind="stable")
    home_bounds = np.searchsorted(home[by_home], np.arange(probes.max() + 2))
    looking = probes.ravel()
    by_look = np.argsort(looking, kind="stable")
    look_bounds = np.searchsorted(looking[by_look], np.arange(probes.max() + 2))
    who = by_look // probes.shape[1]  # the photo behind each lookup
    for lst in range(len(home_bounds) - 1):
        members = by_home[home_bounds[lst]:home_bounds[lst + 1]]
        if not len(members):
            continue
        queries = np.sort(who[look_bounds[lst]:look_bounds[lst + 1]])
        if len(queries) < 2 and len(members) < 2:
            continue
        base = rows.vectors(members)
        kk = min(k + 1, len(members))
        for start in range(0, len(queries), 16_384):  # bounds the query block and its results
            qpos = queries[start:start + 16_384]
            sims, idx = faiss.knn(rows.vectors(qpos), base, kk, metric=faiss.METRIC_INNER_PRODUCT)
            dpos = members[idx]
            keep = (sims >= floor) & (dpos != qpos[:, None]) & (idx >= 0)
            if keep.any():
                qq = np.broadcast_to(qpos[:, None], dpos.shape)
                yield qq[keep], dpos[keep], sims[keep]


def _best_per_query(q: np.ndarray, d: np.ndarray, s: np.ndarray, k: int):
    """Each query's k best distinct neighbours (a neighbour seen from two lists counts once)."""
    order = np.lexsort((-s, d, q))
    q, d, s = q[order], d[order], s[order]
    first = np.ones(len(q), bool)
    first[1:] = (q[1:] != q[:-1]) | (d[1:] != d[:-1])
    q, d, s = q[first], d[first], s[first]
    order = np.lexsort((-s, q))
    q, d, s = q[order], d[order], s[order]
    starts = np.flatnonzero(np.r_[True, q[1:] != q[:-1]])
    rank = np.arange(len(q)) - np.repeat(starts, np.diff(np.r_[starts, len(q)]))
    keep = rank < k
    return q[keep], d[keep], s[keep]
