"""ivfpq: OPQ-rotated product codes in inverted lists (m bytes + an 8-byte id per vector), the
compressed kind for large collections. Product codes order candidates only roughly — the more
so for text queries, which sit far from every image — so the best `k * k_factor` candidates
are re-scored from the fp16 store (see ivf.py) before the top k are returned."""
from __future__ import annotations

from typing import Any

import faiss

from .base import register
from .errors import IndexKindError
from .ivf import IVFIndex

PQ_BYTES = (8, 16, 32, 48, 64, 96, 128)
OPQ_ITERATIONS = 20  # FAISS's 50 cost minutes at 1M and gain little over 20 once candidates are re-ranked


def pq_bytes_for(dim: int) -> int:
    """d/4 bytes (64 at d=256): with re-ranking, recall is then limited by probing, not codes."""
    fitting = [m for m in PQ_BYTES if dim % m == 0 and m <= dim // 4]
    return max(fitting) if fitting else 1


@register
class IVFPQIndex(IVFIndex):
    kind = "ivfpq"
    summary = "OPQ + product codes (m bytes/vector) in inverted lists + fp16 re-rank"
    defaults = {**IVFIndex.defaults, "m": None, "nbits": 8, "opq": True, "k_factor": 8}

    @classmethod
    def default_params(cls, n: int, dim: int) -> dict[str, Any]:
        p = super().default_params(n, dim)
        p["m"] = pq_bytes_for(dim)
        return p

    @classmethod
    def _check_params(cls, params: dict[str, Any], dim: int) -> None:
        super()._check_params(params, dim)
        m = params["m"]
        if not isinstance(m, int) or m < 1 or dim % m:
            raise IndexKindError(f"ivfpq m (code bytes) must divide the dimension {dim}, not {m!r}")
        if params["nbits"] not in (4, 6, 8, 10, 12):
            raise IndexKindError(f"ivfpq nbits must be one of 4, 6, 8, 10, 12, not {params['nbits']!r}")
        if not isinstance(params["opq"], bool):
            raise IndexKindError(f"ivfpq opq must be true or false, not {params['opq']!r}")

    @classmethod
    def code_bytes(cls, dim: int, params: dict[str, Any]) -> int:
        return (params["m"] * params["nbits"] + 7) // 8

    @classmethod
    def estimate_bytes(cls, n: int, dim: int, params: dict[str, Any]) -> int:
        rotation = 4 * dim * dim if params["opq"] else 0
        codebooks = 4 * dim * (1 << params["nbits"])
        return super().estimate_bytes(n, dim, params) + rotation + codebooks

    @classmethod
    def min_train(cls, params: dict[str, Any]) -> int:
        return max(params["nlist"], 1 << params["nbits"])  # k-means of each sub-quantizer

    @classmethod
    def train_size(cls, params: dict[str, Any]) -> int:
        return max(super().train_size(params), 64 * (1 << params["nbits"]))

    @classmethod
    def _lists(cls, quantizer: faiss.Index, dim: int, params: dict[str, Any]) -> faiss.IndexIVF:
        return faiss.IndexIVFPQ(quantizer, dim, params["nlist"], params["m"], params["nbits"], faiss.METRIC_INNER_PRODUCT)

    @classmethod
    def _wrap(cls, ivf: faiss.IndexIVF, dim: int, params: dict[str, Any]) -> faiss.Index:
        if not params["opq"]:
            return ivf
        opq = faiss.OPQMatrix(dim, params["m"])
        opq.niter = OPQ_ITERATIONS
        # OPQ trains its rotation against a PQ of 8-bit codes unless given one: give it ours.
        pq = faiss.ProductQuantizer(dim, params["m"], params["nbits"])
        opq.pq = pq
        index = faiss.IndexPreTransform(opq, ivf)
        index.own_fields = True
        index.referenced_objects = [pq]  # used while training only; not saved
        opq.this.disown()
        ivf.this.disown()
        return index
