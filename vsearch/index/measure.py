"""Measuring an index against exact search: ground truth in chunks, tie-tolerant recall@k,
single-query latency."""
from __future__ import annotations

import time

import faiss
import numpy as np

from .base import VectorIndex
from .chunks import ArrayChunks, VectorChunks

GT_CHUNK = 262_144  # rows per exact-search block: bounds the float32 copy of fp16/strided input


def exact_topk(queries: np.ndarray, vecs: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact (scores, rows) of the top k rows of `vecs` per query, computed block by block."""
    rows = np.arange(len(vecs), dtype=np.int64)
    return exact_topk_chunks(queries, ArrayChunks(rows, vecs), k)


def exact_topk_chunks(queries: np.ndarray, source: VectorChunks, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact (scores, ids) of the top k vectors of `source` per query, folded chunk by chunk."""
    q = np.ascontiguousarray(queries, dtype=np.float32)
    best_s = np.full((len(q), k), -np.inf, np.float32)
    best_i = np.full((len(q), k), -1, np.int64)
    for ids, block in source.chunks(GT_CHUNK):
        s, r = faiss.knn(q, block, min(k, len(block)), metric=faiss.METRIC_INNER_PRODUCT)
        s, i = np.concatenate([best_s, s], 1), np.concatenate([best_i, ids[r]], 1)
        order = np.argsort(-s, axis=1, kind="stable")[:, :k]
        best_s, best_i = np.take_along_axis(s, order, 1), np.take_along_axis(i, order, 1)
    return best_s, best_i


class GroundTruth:
    """Exact neighbours of a query set, and the means to score any answer against them.
    `vectors_of(ids)` gives the vectors of found ids (float32 [m, d]) for the tie check: from
    the arrays when built from them, else from the index being measured (which holds exactly
    the collection's vectors: fp16 values survive its float32 and fp16 storage unchanged)."""

    def __init__(self, queries: np.ndarray, ids: np.ndarray, vecs: np.ndarray, k: int = 10):
        order = np.argsort(ids, kind="stable")

        def vectors_of(found: np.ndarray) -> np.ndarray:
            rows = order[np.clip(np.searchsorted(ids, found, sorter=order), 0, len(order) - 1)]
            return np.asarray(vecs[rows], np.float32)

        self._setup(queries, ArrayChunks(ids, vecs), k, vectors_of)

    @classmethod
    def of_chunks(cls, queries: np.ndarray, source: VectorChunks, k: int, vectors_of) -> "GroundTruth":
        out = object.__new__(cls)
        out._setup(queries, source, k, vectors_of)
        return out

    def _setup(self, queries: np.ndarray, source: VectorChunks, k: int, vectors_of) -> None:
        self.queries = np.ascontiguousarray(queries, dtype=np.float32)
        self.k = k
        self.scores, self.ids = exact_topk_chunks(self.queries, source, k)
        self._vectors_of = vectors_of

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
        true = np.full(found.shape, -np.inf, np.float32)
        if ok.any():
            qrow = np.nonzero(ok)[0]
            true[ok] = np.einsum("md,md->m", self._vectors_of(found[ok]), self.queries[qrow])
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
