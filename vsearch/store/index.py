"""One vector-index interface over FAISS index types, all with stable int64 ids and inner-product
similarity on L2-normalised vectors. Every type passes the same tests against brute force.

  flat  exact search; the default up to 250k vectors (100k x 256-d: a few ms per query)
  hnsw  graph index, sub-millisecond at millions of vectors, approximate
  ivf   inverted lists with a flat quantizer (nlist ~ 4 sqrt(n)), approximate, fast to build
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from ..errors import CollectionFormatError

INDEX_TYPES = ("auto", "flat", "hnsw", "ivf")
AUTO_FLAT_MAX = 250_000


def choose_type(n: int, requested: str = "auto") -> str:
    if requested not in INDEX_TYPES:
        raise ValueError(f"unknown index type {requested!r}; known: {', '.join(INDEX_TYPES)}")
    if requested != "auto":
        return requested
    return "flat" if n <= AUTO_FLAT_MAX else "hnsw"


class VectorIndex:
    def __init__(self, index: faiss.Index, kind: str, params: dict[str, Any]):
        self.index, self.kind, self.params = index, kind, params

    @property
    def ntotal(self) -> int:
        return int(self.index.ntotal)

    @classmethod
    def build(cls, ids: np.ndarray, vecs: np.ndarray, kind: str = "auto", params: dict[str, Any] | None = None) -> "VectorIndex":
        vecs = np.ascontiguousarray(vecs, dtype=np.float32)
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        n, d = vecs.shape if vecs.ndim == 2 else (0, 0)
        kind = choose_type(n, kind)
        params = dict(params or {})
        if kind == "flat":
            base = faiss.IndexFlatIP(d)
        elif kind == "hnsw":
            params.setdefault("M", 32)
            params.setdefault("ef_construction", 80)
            params.setdefault("ef_search", 128)
            base = faiss.IndexHNSWFlat(d, params["M"], faiss.METRIC_INNER_PRODUCT)
            base.hnsw.efConstruction = params["ef_construction"]
        else:
            params.setdefault("nlist", max(1, min(65536, int(4 * math.sqrt(max(n, 1))))))
            params.setdefault("nprobe", max(8, params["nlist"] // 4))
            quantizer = faiss.IndexFlatIP(d)
            base = faiss.IndexIVFFlat(quantizer, d, params["nlist"], faiss.METRIC_INNER_PRODUCT)
            if n:
                base.train(vecs)
        index = faiss.IndexIDMap2(base)
        if n:
            index.add_with_ids(vecs, ids)
        if kind == "ivf":
            base.make_direct_map()  # lets `reconstruct` serve more-like-this
        out = cls(index, kind, params)
        out._apply_search_params()
        return out

    def _apply_search_params(self) -> None:
        base = faiss.downcast_index(self.index.index)
        if self.kind == "hnsw":
            base.hnsw.efSearch = self.params["ef_search"]
        elif self.kind == "ivf":
            base.nprobe = self.params["nprobe"]

    def _search_params(self, sel: faiss.IDSelector | None):
        if self.kind == "hnsw":
            return faiss.SearchParametersHNSW(sel=sel, efSearch=self.params["ef_search"])
        if self.kind == "ivf":
            return faiss.SearchParametersIVF(sel=sel, nprobe=self.params["nprobe"])
        return faiss.SearchParameters(sel=sel)

    def search(self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(scores [q, k], ids [q, k]); missing slots have id -1. `allowed` restricts to those ids."""
        q = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        k = max(1, min(k, self.ntotal)) if self.ntotal else 1
        if self.ntotal == 0:
            return np.full((len(q), k), -np.inf, dtype=np.float32), np.full((len(q), k), -1, dtype=np.int64)
        if allowed is None:
            return self.index.search(q, k)
        allowed = np.ascontiguousarray(allowed, dtype=np.int64)
        want = min(k, len(allowed))
        if self.kind == "flat" or len(allowed) > max(4096, 0.02 * self.ntotal):
            scores, ids = self._search_selected(q, k, allowed)
            if self.kind == "flat" or ((ids >= 0).sum(axis=1) >= want).all():
                return scores, ids
        # Selective filter (or a graph walk that ran dry): exact search over the allowed vectors.
        return self._search_exact_subset(q, k, allowed)

    def _search_selected(self, q: np.ndarray, k: int, allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        sel = faiss.IDSelectorBatch(len(allowed), faiss.swig_ptr(allowed))
        # The id map translates external ids for the selector of the wrapped index.
        translated = faiss.IDSelectorTranslated(self.index, sel)
        scores, labels = self.index.index.search(q, k, params=self._search_params(translated))
        id_map = faiss.vector_to_array(self.index.id_map)
        ids = np.where(labels >= 0, id_map[np.clip(labels, 0, None)], -1)
        return scores, ids

    def _search_exact_subset(self, q: np.ndarray, k: int, allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        present = allowed[np.isin(allowed, faiss.vector_to_array(self.index.id_map))]
        vecs = np.stack([self.index.reconstruct(int(i)) for i in present]) if len(present) else np.zeros((0, q.shape[1]), np.float32)
        sims = q @ vecs.T
        kk = min(k, len(present))
        out_s = np.full((len(q), k), -np.inf, dtype=np.float32)
        out_i = np.full((len(q), k), -1, dtype=np.int64)
        if kk:
            top = np.argsort(-sims, axis=1, kind="stable")[:, :kk]
            out_s[:, :kk] = np.take_along_axis(sims, top, axis=1)
            out_i[:, :kk] = present[top]
        return out_s, out_i

    def reconstruct(self, id_: int) -> np.ndarray:
        return self.index.reconstruct(int(id_))

    def save(self, path: Path) -> None:
        faiss.write_index(self.index, str(path))

    @classmethod
    def load(cls, path: Path, kind: str, params: dict[str, Any]) -> "VectorIndex":
        try:
            index = faiss.read_index(str(path))
        except RuntimeError as e:
            raise CollectionFormatError(f"FAISS index {path} is damaged ({str(e).splitlines()[0]}); "
                                        f"rebuild it from what the collection stores with `vsearch reindex`") from e
        out = cls(index, kind, params)
        out._apply_search_params()
        return out
