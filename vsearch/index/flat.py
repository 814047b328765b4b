"""flat: exact search over every vector (IndexFlatIP). The reference the others are measured
against, and the right choice while a scan of all vectors fits the latency target."""
from __future__ import annotations

from typing import Any

import faiss
import numpy as np

from .base import Result, VectorIndex, register
from .storage import exact_by_positions, float_rows


@register
class FlatIndex(VectorIndex):
    kind = "flat"
    summary = "exact: every query scans every vector"
    exact = True

    @classmethod
    def _new(cls, dim: int, params: dict[str, Any], train: np.ndarray | None, gpu: bool | None) -> faiss.Index:
        return faiss.IndexFlatIP(dim)

    def _add(self, vecs: np.ndarray, positions: np.ndarray) -> None:
        self.index.add(vecs)

    def _remove(self, positions: np.ndarray) -> None:
        # IndexFlat closes the gaps, keeping order: the id map does the same.
        self.index.remove_ids(faiss.IDSelectorBatch(len(positions), faiss.swig_ptr(positions)))

    def remove(self, ids: np.ndarray) -> int:
        removed = super().remove(ids)
        if removed:
            self.idmap.compact()
        return removed

    def _search(self, q: np.ndarray, k: int, sel: faiss.IDSelector | None, widen: float) -> Result:
        return self.index.search(q, k, params=faiss.SearchParameters(sel=sel) if sel is not None else None)

    def _prefer_exact(self, n_allowed: int) -> bool:
        # Both paths are exact; gathering the allowed rows wins until they are a large share.
        return n_allowed <= self.ntotal // 3

    def _exact(self, q: np.ndarray, k: int, positions: np.ndarray) -> Result:
        return exact_by_positions(q, float_rows(self.index), positions, k)

    def _vectors_at(self, positions: np.ndarray) -> np.ndarray:
        return float_rows(self.index)[positions].copy()

    def hot_regions(self) -> tuple[list[np.ndarray], list[np.ndarray]]:
        every, some = super().hot_regions()
        return [float_rows(self.index), *every], some
