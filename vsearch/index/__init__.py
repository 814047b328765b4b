"""Vector indexes: one interface (base.VectorIndex), one module per kind, a registry, and
`auto`, which chooses a kind for a memory budget and proves its recall (auto.py).

    index, record = choose_and_build(ids, vecs, requested="auto", text_queries=t, image_queries=i)
    scores, ids = index.search(queries, k=10, allowed=sorted_ids_or_None)
    index.save(folder); index = load_index(folder, mmap=True)
"""
from __future__ import annotations

from . import flat, hnsw, ivf, ivfpq, ivfsq  # noqa: F401  (each registers its kind)
from .auto import choose_and_build, choose_and_build_chunks, default_memory_budget, plan, rebuild_due
from .base import KINDS, VectorIndex, kind_class, load_index
from .errors import IndexInputError, IndexKindError
from .ids import Selection

__all__ = ["KINDS", "VectorIndex", "Selection", "kind_class", "load_index", "build_index", "choose_and_build",
           "choose_and_build_chunks",
           "plan", "rebuild_due", "default_memory_budget", "IndexInputError", "IndexKindError"]


def build_index(kind: str, ids, vecs, params: dict | None = None, gpu: bool | None = None) -> VectorIndex:
    """Build one named kind (for `auto`, see auto.choose_and_build)."""
    return kind_class(kind).build(ids, vecs, params, gpu=gpu)
