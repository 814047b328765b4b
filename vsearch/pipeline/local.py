"""The local runner: plan -> read + decode (worker processes) -> encode (batches) -> write shards
-> commit, on one machine.

Each encoded batch is persisted as a vector shard before the next one starts, so a killed
ingest loses at most one batch and a re-run picks up from there; the collection itself only
changes at the final atomic commit.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ..errors import NothingIngestedError
from ..models.identity import check_model, model_record, require_identified
from ..progress import Reporter, report
from ..store.collection import CollectionStore
from ..store.home import index_home
from ..store.manifest import Manifest
from ..store.tables import ERRORS_SCHEMA, IMAGES_SCHEMA
from ..store.tokens import TokenStore
from .commit import commit_ingest, compact_if_due
from .config import IngestConfig, IngestSummary
from .decode import decode_files
from .encode import ImageEncoder
from .plan import make_plan
from .repair import repair
from .results import Results
from .write import ShardWriter, content_row


class Clock:
    """Adds wall time to named phases of a summary."""

    def __init__(self, summary: IngestSummary):
        self.summary = summary
        self.t = time.perf_counter()

    def lap(self, phase: str) -> None:
        now = time.perf_counter()
        self.summary.timings[phase] = self.summary.timings.get(phase, 0.0) + now - self.t
        self.t = now


def token_reranker(model, given=None, path: Path | None = None):
    """The reranker whose image tokens ingest stores (given, else loaded from `path`, else the
    model's shipped one), when it reads this model's feature map; else None."""
    if given is None:
        from ..models.itm import load_reranker

        given = load_reranker(getattr(model, "name", ""), path)
    return given if given is not None and given.reads_feature_map_of(model) else None


def ingest(cfg: IngestConfig, model=None, reranker=None, progress: Reporter | None = None) -> IngestSummary:
    """Ingest `cfg.root` into its collection. `model` / `reranker`: already-loaded objects to use
    instead of loading them by name."""
    t0 = time.perf_counter()
    root = Path(cfg.root).expanduser().resolve()
    if not root.is_dir():
        raise NothingIngestedError(f"{root} is not a folder")
    home = index_home(cfg.home)
    store = CollectionStore(home / (cfg.collection or root.name))
    with store.lock():
        summary = IngestSummary(store.name, 0)
        clock = Clock(summary)
        if store.exists():
            manifest = store.manifest
            if model is None:
                from ..models import load_model

                model = load_model(cfg.model or manifest.model["name"], cfg.device)
            check_model(manifest.model, model, store.name)
            summary.repaired = repair(store, progress=progress).lines()  # damaged metadata: set aside, rebuilt
            previous, previous_errors = store.images().cast(IMAGES_SCHEMA), store.errors().cast(ERRORS_SCHEMA)
        else:
            if model is None:
                from ..models import load_model

                model = load_model(cfg.model, cfg.device)
            require_identified(model)
            manifest = Manifest(model=model_record(model), index={"type": cfg.index_type or "auto", "params": {}})
            previous, previous_errors = IMAGES_SCHEMA.empty_table(), ERRORS_SCHEMA.empty_table()
        summary.generation = manifest.generation
        vectors = store.vectors(model.embed_dim)
        vectors.remove_incomplete()
        rr = token_reranker(model, reranker, cfg.reranker) if cfg.rerank_tokens else None
        tokens = TokenStore(store.folder, rr.fingerprint) if rr else None
        if tokens is not None:
            tokens.remove_incomplete()
        clock.lap("startup")

        plan = make_plan(root, previous, vectors.known_ids(), skip={store.folder.parent})
        clock.lap("scan")
        results = Results(plan)
        _read_encode_write(plan, results, model, rr, ShardWriter(vectors, tokens), cfg, clock, progress, summary)
        results.settle(summary)
        manifest = commit_ingest(store, manifest, model, results, previous_errors, summary, cfg.index_type)
        summary.generation = manifest.generation
        live = np.unique(np.array([r["id"] for r in results.rows] + plan.other_roots.column("id").to_pylist(), dtype=np.int64))
        compact_if_due(store, live, len(plan.known), tokens)
        _export_text_tower(model)
        clock.lap("commit")
    summary.elapsed_s = time.perf_counter() - t0
    return summary


def _read_encode_write(plan, results: Results, model, reranker, writer: ShardWriter, cfg: IngestConfig, clock: Clock,
                       progress: Reporter | None, summary: IngestSummary) -> None:
    batch_size = cfg.batch_size or (256 if model.device.type == "cuda" else 32)
    encoder = None
    rows: list[dict] = []
    pixels: list[np.ndarray] = []
    pending: set[int] = set()

    def flush() -> None:
        nonlocal encoder
        if not rows:
            return
        if encoder is None:
            # Small runs take the eager path: exporting a graph costs more than it saves on a few images.
            backend = cfg.backend if len(plan.todo) >= 256 or cfg.backend != "auto" else "torch"
            encoder = ImageEncoder(model, backend, reranker=reranker)
            clock.lap("startup")
        vecs, tok = encoder.encode(pixels)
        clock.lap("encode")
        writer.write(rows, vecs, tok)
        plan.known.update(r["id"] for r in rows)
        summary.encoded += len(rows)
        rows.clear()
        pixels.clear()
        pending.clear()
        clock.lap("write")

    task = f"ingest {summary.collection}"
    report(progress, task, 0, len(plan.todo), "img")
    paths = [plan.root / e.path for e in plan.todo]
    for i, (entry, d) in enumerate(zip(plan.todo, decode_files(paths, model.preprocess, cfg.workers, plan.known))):
        clock.lap("decode")
        if results.add(entry, d) and d.id not in plan.known and d.id not in pending:
            pending.add(d.id)
            rows.append(content_row(d))
            pixels.append(d.pixels)
            if len(rows) >= batch_size:
                flush()
        report(progress, task, i + 1, len(plan.todo), "img")
    flush()


def _export_text_tower(model) -> None:
    """Lets later text queries skip importing torch (models/onnx_runtime.py)."""
    try:
        from ..models.onnx_export import export_text_tower

        export_text_tower(model)
    except Exception:  # pragma: no cover - the torch path still serves queries
        pass
