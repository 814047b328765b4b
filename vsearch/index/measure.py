"""Measuring an index against exact search: ground truth in chunks, tie-tolerant recall@k,
single-query latency."""
from __future__ import annotations

import time

import faiss
import numpy as np

from .base import VectorIndex

GT_CHUNK = 262_144  # rows per exact-search block: bounds the float32 copy of fp16/strided input


def exact_topk(queries: np.ndarray, vecs: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact (scores, rows) of the top k rows of `vecs` per query, computed block by block."""
    q = np.ascontiguousarray(queries, dtype=np.float32)
    best_s = np.full((len(q), k), -np.inf, np.float32)
    best_r = np.full((len(q), k), -1, np.int64)
    for start in range(0, len(vecs), GT_CHUNK):
        block = np.ascontiguousarray(vecs[start:start + GT_CHUNK], dtype=np.float32)
        s, r = faiss.knn(q, block, min(k, len(block)), metric=faiss.METRIC_INNER_PRODUCT)
        s, r = np.concatenate([best_s, s], 1), np.concatenate([best_r, r + start], 1)
        order = np.argsort(-s, axis=1, kind="stable")[:, :k]
        best_s, best_r = np.take_along_axis(s, order, 1), np.take_along_axis(r, order, 1)
    return best_s, best_r


class GroundTruth:
    """Exact neighbours of a query set, and the means to score any answer against them."""

    def __init__(self, queries: np.ndarray, ids: np.ndarray, vecs: np.ndarray, k: int = 10):
        self.queries = np.ascontiguousarray(queries, dtype=np.float32)
        self.k = k
        self.scores, rows = exact_topk(self.queries, vecs, k)
        self.ids = np.where(rows >= 0, ids[np.clip(rows, 0, None)], -1)
        self._all_ids, self._vecs = ids, vecs
        self._order = np.argsort(ids, kind="stable")

    def subset(self, rows: slice | np.ndarray) -> "GroundTruth":
        out = object.__new__(GroundTruth)
        out.__dict__.update(self.__dict__)
        out.queries, out.scores, out.ids = self.queries[rows], self.scores[rows], self.ids[rows]
        return out

    def recall(self, found: np.ndarray, tol: float = 1e-4) -> float:
        """Mean recall@k. Tie-tolerant: a found id counts when it is an exact neighbour or
        scores (exactly) at least the k-th exact score; an id is counted once per query."""
        k = self.k
        found = found[:, :k]
        hit = (found[:, :, None] == self.ids[:, None, :]).any(axis=2)
        ok = found >= 0
        at = np.searchsorted(self._all_ids, found, sorter=self._order)
        rows = self._order[np.clip(at, 0, len(self._order) - 1)]
        true = np.einsum("qkd,qd->qk", np.asarray(self._vecs[rows.ravel()], np.float32).reshape(*rows.shape, -1),
                         self.queries)
        tied = ok & (true >= self.scores[:, k - 1:k] - tol)
        counted = (hit | tied) & ok & _first_occurrence(found)
        return float(np.minimum(counted.sum(axis=1), k).mean() / k)


def _first_occurrence(found: np.ndarray) -> np.ndarray:
    same = found[:, :, None] == found[:, None, :]
    earlier = np.tril(np.ones((found.shape[1],) * 2, bool), -1)
    return ~(same & earlier[None]).any(axis=2)


def latency_ms(index: VectorIndex, queries: np.ndarray, k: int = 10, allowed: np.ndarray | None = None) -> np.ndarray:
    """Wall time of each query searched alone (ms)."""
    out = np.empty(len(queries))
    for i, q in enumerate(queries):
        t = time.perf_counter()
        index.search(q[None], k, allowed)
        out[i] = (time.perf_counter() - t) * 1000
    return out
