"""hnsw: a navigable graph over the float32 vectors (IndexHNSWFlat). Fastest at high recall
while the vectors and graph fit in memory (4d + ~8M bytes per vector); slow to build, and
FAISS cannot take vectors out of the graph, so removals are masked until a rebuild."""
from __future__ import annotations

from typing import Any

import faiss
import numpy as np

from .base import Result, VectorIndex, register
from .errors import IndexKindError
from .storage import exact_by_positions, float_rows

EF_MAX = 4096


@register
class HNSWIndex(VectorIndex):
    kind = "hnsw"
    summary = "graph over full vectors: fastest at high recall, all in RAM"
    defaults = {"M": 32, "ef_construction": 80, "ef_search": 128}
    knob = "ef_search"
    search_keys = ("ef_search",)
    tombstones = True

    @classmethod
    def _check_params(cls, params: dict[str, Any], dim: int) -> None:
        for key, lo, hi in (("M", 4, 128), ("ef_construction", 8, EF_MAX), ("ef_search", 1, EF_MAX)):
            if not isinstance(params[key], int) or not lo <= params[key] <= hi:
                raise IndexKindError(f"hnsw {key} must be an integer in [{lo}, {hi}], not {params[key]!r}")

    @classmethod
    def knob_values(cls, params: dict[str, Any]) -> list[int]:
        return [16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024]

    @classmethod
    def estimate_bytes(cls, n: int, dim: int, params: dict[str, Any]) -> int:
        # Level 0 holds 2M neighbours, upper levels ~M/(M-1) more on average; 4-byte links;
        # 8 for the id map.
        return n * (4 * dim + 4 * 2 * params["M"] + 4 * params["M"] // 2 + 16 + 8)

    @classmethod
    def _new(cls, dim: int, params: dict[str, Any], train: np.ndarray | None, gpu: bool | None) -> faiss.Index:
        index = faiss.IndexHNSWFlat(dim, params["M"], faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = params["ef_construction"]
        return index

    def _add(self, vecs: np.ndarray, positions: np.ndarray) -> None:
        self.index.add(vecs)

    def _search(self, q: np.ndarray, k: int, sel: faiss.IDSelector | None, widen: float) -> Result:
        ef = min(EF_MAX, max(k, int(self.params["ef_search"] * widen)))
        return self.index.search(q, k, params=faiss.SearchParametersHNSW(efSearch=ef, sel=sel))

    def _exact(self, q: np.ndarray, k: int, positions: np.ndarray) -> Result:
        return exact_by_positions(q, float_rows(self.index.storage), positions, k)

    def _vectors_at(self, positions: np.ndarray) -> np.ndarray:
        return float_rows(self.index.storage)[positions].copy()

    def hot_regions(self) -> tuple[list[np.ndarray], list[np.ndarray]]:
        links = self.index.hnsw.neighbors
        every, some = super().hot_regions()
        return [faiss.rev_swig_ptr(links.data(), links.size()), float_rows(self.index.storage), *every], some
