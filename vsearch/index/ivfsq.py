"""ivfsq8: inverted lists of 8-bit scalar-quantised vectors (d + 8 bytes each, a quarter of
IVF-Flat), for budgets between full vectors and product codes; re-ranking from the fp16 store
(`k_factor`) restores exact order."""
from __future__ import annotations

from typing import Any

import faiss

from .base import register
from .ivf import IVFIndex


@register
class IVFSQ8Index(IVFIndex):
    kind = "ivfsq8"
    summary = "inverted lists of 8-bit scalar codes (d bytes/vector) + fp16 re-rank"
    defaults = {**IVFIndex.defaults, "k_factor": 2}

    @classmethod
    def code_bytes(cls, dim: int, params: dict[str, Any]) -> int:
        return dim

    @classmethod
    def _lists(cls, quantizer: faiss.Index, dim: int, params: dict[str, Any]) -> faiss.IndexIVF:
        return faiss.IndexIVFScalarQuantizer(quantizer, dim, params["nlist"], faiss.ScalarQuantizer.QT_8bit,
                                             faiss.METRIC_INNER_PRODUCT)
