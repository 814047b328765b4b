"""Exact scores over chosen rows of a FAISS float32 storage, without copying it."""
from __future__ import annotations

import faiss
import numpy as np


def float_rows(flat: faiss.Index) -> np.ndarray:
    """A read-only numpy view [ntotal, d] of an IndexFlat's vectors (memory-mapped ones too)."""
    flat = faiss.downcast_index(flat)
    n, d = flat.ntotal, flat.d
    if n == 0:
        return np.zeros((0, d), np.float32)
    return faiss.rev_swig_ptr(flat.get_xb(), n * d).reshape(n, d)


def exact_by_positions(q: np.ndarray, rows: np.ndarray, positions: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-k inner products of each query among rows[positions] (one FAISS call, no gather)."""
    nq, d = q.shape
    positions = np.ascontiguousarray(positions, dtype=np.int64)
    scores = np.empty((nq, k), np.float32)
    labels = np.empty((nq, k), np.int64)
    # ld_ids = 0: every query reads the same row of positions.
    faiss.knn_inner_products_by_idx(faiss.swig_ptr(q), faiss.swig_ptr(rows), faiss.swig_ptr(positions), d, nq,
                                    len(rows), len(positions), k, faiss.swig_ptr(scores), faiss.swig_ptr(labels), 0)
    return scores, labels
