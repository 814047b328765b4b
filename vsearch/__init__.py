"""vsearch: multimodal semantic search for image collections.

    import vsearch
    vsearch.ingest("./photos")                     # -> IngestSummary
    col = vsearch.open_collection("photos")        # model and index stay loaded
    hits = col.search("a red bicycle", k=10, where="taken_at >= '2020-01-01'")
    vsearch.add_texts(["a red bicycle", "a dog"], "photos")   # a text corpus, for image -> text
"""
from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import VsearchError

if TYPE_CHECKING:
    from .pipeline.config import IngestSummary
    from .progress import Reporter

__version__ = "0.2.0"

# Public name -> module that defines it; imported on first use, so `import vsearch` stays cheap
# (no torch, no pyarrow) until something is used.
_LAZY = {
    "open_collection": ".search", "Collection": ".search", "Hit": ".search", "TextHit": ".search",
    "DuplicateGroup": ".search", "DUPLICATE_THRESHOLD": ".search",
    "IngestConfig": ".pipeline.config", "IngestSummary": ".pipeline.config",
    "add_texts": ".pipeline.texts", "reindex": ".pipeline.reindex", "import_embeddings": ".pipeline.importing",
    "eval_results": ".evaluation.records", "evaluate_benchmark": ".evaluation.benchmark",
    "Filter": ".filters", "list_collections": ".store.home", "load_model": ".models",
    "Progress": ".progress",
}

__all__ = ["ingest", "VsearchError", "__version__", *_LAZY]


def ingest(root: str | Path, collection: str | None = None, home: str | Path | None = None,
           model=None, *, reranker=None, progress: "Reporter | None" = None, engine: str = "local",
           ray_address: str | None = None, **options) -> "IngestSummary":
    """Add a folder of photos to a collection (created on first use). `model` / `reranker`: a
    name or path, or an already-loaded object (local engine only); `engine`: "local" (this
    machine's processes) or "ray" (a Ray Data job, on `ray_address` or a local instance);
    `options`: the fields of IngestConfig."""
    from .pipeline.config import IngestConfig
    from .pipeline.engines import run_ingest

    name = model if isinstance(model, (str, type(None))) else None
    reranker_path = reranker if isinstance(reranker, (str, Path)) else None
    cfg = IngestConfig(root=Path(root), collection=collection, home=home, model=name,
                       reranker=Path(reranker_path) if reranker_path else None, **options)
    return run_ingest(cfg, engine, ray_address, model=None if name is not None or model is None else model,
                      reranker=None if reranker_path or reranker is None else reranker, progress=progress)


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(name)
