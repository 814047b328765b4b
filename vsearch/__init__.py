"""vsearch: multimodal semantic search for image collections.

    import vsearch
    vsearch.ingest("./photos")                     # -> IngestSummary
    col = vsearch.open_collection("photos")        # model and index stay loaded
    hits = col.search("a red bicycle", k=10, where="taken_at >= '2020-01-01'")
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .errors import VsearchError

if TYPE_CHECKING:
    from .pipeline.runner import IngestSummary

__version__ = "0.1.0"

__all__ = ["ingest", "open_collection", "list_collections", "load_model", "evaluate_benchmark",
           "Collection", "Hit", "TextHit", "Filter", "eval_results", "IngestConfig", "IngestSummary", "VsearchError", "__version__"]


def ingest(root: str | Path, collection: str | None = None, home: str | Path | None = None,
           model: str | None = None, **options) -> "IngestSummary":
    from .pipeline.runner import IngestConfig, ingest as _ingest

    return _ingest(IngestConfig(root=Path(root), collection=collection, home=home, model=model, **options))


def __getattr__(name: str):
    # Lazy: `import vsearch` stays cheap (no torch) until something is used.
    if name in ("open_collection", "Collection", "Hit", "TextHit"):
        from . import search

        return getattr(search, name)
    if name in ("IngestConfig", "IngestSummary"):
        from .pipeline import runner

        return getattr(runner, name)
    if name == "eval_results":
        from .evals import eval_results

        return eval_results
    if name == "Filter":
        from .filters import Filter

        return Filter
    if name == "list_collections":
        from .store.home import list_collections

        return list_collections
    if name == "load_model":
        from .models import load_model

        return load_model
    if name == "evaluate_benchmark":
        from .evaluate import evaluate_benchmark

        return evaluate_benchmark
    raise AttributeError(name)
