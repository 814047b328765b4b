"""What every ingest runner does first, under the collection's lock: open the model the
collection was built with (or the asked-for one for a new collection), refuse other weights,
set damaged metadata aside, and read the previous tables. Shared by pipeline/local.py and
pipeline/ray_runner.py, so the two runners cannot drift apart on what they accept."""
from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from ..models.handle import ModelHandle, TokenReranker, token_reranker
from ..models.identity import check_model, model_record, require_identified
from ..models.precision import precision_for
from ..progress import Reporter
from ..store.collection import CollectionStore
from ..store.manifest import Manifest
from ..store.tables import ERRORS_SCHEMA, IMAGES_SCHEMA
from ..store.tokens import TokenStore
from ..store.vectors import VectorStore
from .config import IngestConfig, IngestSummary
from .repair import repair


@dataclass
class Opened:
    manifest: Manifest
    handle: ModelHandle
    previous: pa.Table         # the images table as it was
    previous_errors: pa.Table  # the errors table as it was
    vectors: VectorStore | None = None           # the shards, with what a killed run left unfinished removed
    reranker: TokenReranker | None = None        # whose image tokens this ingest stores, if any
    tokens: TokenStore | None = None             # where they go


def open_for_ingest(store: CollectionStore, cfg: IngestConfig, summary: IngestSummary, model=None, reranker=None,
                    device: str | None = None, progress: Reporter | None = None) -> Opened:
    """`model` / `reranker`: already-loaded objects to use instead of opening them by name;
    `device` overrides `cfg.device` (the Ray driver never encodes, so it opens on the CPU)."""
    opened = _open(store, cfg, summary, model, cfg.device if device is None else device, progress)
    summary.generation = opened.manifest.generation
    opened.vectors = store.vectors(opened.handle.embed_dim)
    opened.vectors.remove_incomplete()
    opened.reranker = token_reranker(opened.handle, reranker, cfg.reranker) if cfg.rerank_tokens else None
    if opened.reranker is not None:
        opened.tokens = TokenStore(store.folder, opened.reranker.fingerprint)
        opened.tokens.remove_incomplete()
    return opened


def _open(store: CollectionStore, cfg: IngestConfig, summary: IngestSummary, model, device: str | None,
          progress: Reporter | None) -> Opened:
    if store.exists():
        record = store.manifest.model
        handle = ModelHandle.of(model) if model is not None else ModelHandle.open(cfg.model or record["name"], device)
        check_model(record, handle, store.name)
        handle.precision = precision_for(record, cfg.precision, store.name)
        summary.repaired = repair(store, progress=progress).lines()  # damaged metadata: set aside, rebuilt
        return Opened(store.manifest, handle, store.images().cast(IMAGES_SCHEMA), store.errors().cast(ERRORS_SCHEMA))
    handle = ModelHandle.of(model) if model is not None else ModelHandle.open(cfg.model, device)
    require_identified(handle)
    handle.precision = precision_for(None, cfg.precision, store.name)
    manifest = Manifest(model={**model_record(handle), "precision": handle.precision}, index={"type": cfg.index_type or "auto", "params": {}})
    return Opened(manifest, handle, IMAGES_SCHEMA.empty_table(), ERRORS_SCHEMA.empty_table())


def export_text(handle: ModelHandle) -> None:
    """Export the text tower once per model, so later text queries skip PyTorch; a failure only
    means they keep using PyTorch."""
    if handle.text_export_ready():
        return
    try:
        handle.export_text()
    except Exception:  # pragma: no cover - the PyTorch path still serves text queries
        pass
