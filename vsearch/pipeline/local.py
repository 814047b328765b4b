"""The local runner: plan -> read + decode (worker processes) -> encode (batches) -> write shards
-> commit, on one machine.

Each encoded batch is persisted as a vector shard before the next one starts, so a killed
ingest loses at most one batch and a re-run picks up from there; the collection itself only
changes at the final atomic commit.

The model is a ModelHandle (models/handle.py): on a CPU with the model's ONNX exports cached, an
ingest imports no PyTorch and builds no model, whatever the number of photos; a first run builds
the PyTorch model once and writes the exports the next runs use.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ..errors import NothingIngestedError
from ..models.handle import ModelHandle, TextExportJob, token_reranker
from ..models.image_encoder import encoder_for
from ..progress import Reporter, report
from ..store.collection import CollectionStore
from ..store.home import collection_folder
from .commit import finish_ingest
from .config import IngestConfig, IngestSummary
from .decode import decode_files
from .opening import export_text, open_for_ingest
from .plan import make_plan
from .results import Results
from .write import ShardWriter, content_row

__all__ = ["Clock", "ingest", "token_reranker"]


class Clock:
    """Adds wall time to named phases of a summary: laps are contiguous from `start`, so the
    phases add up to the elapsed time."""

    def __init__(self, summary: IngestSummary, start: float | None = None):
        self.summary = summary
        self.t = time.perf_counter() if start is None else start

    def lap(self, phase: str) -> None:
        now = time.perf_counter()
        self.summary.timings[phase] = self.summary.timings.get(phase, 0.0) + now - self.t
        self.t = now


def ingest(cfg: IngestConfig, model=None, reranker=None, progress: Reporter | None = None) -> IngestSummary:
    """Ingest `cfg.root` into its collection. `model` / `reranker`: already-loaded objects to use
    instead of loading them by name."""
    t0 = time.perf_counter()
    root = Path(cfg.root).expanduser().resolve()
    if not root.is_dir():
        raise NothingIngestedError(f"{root} is not a folder")
    store = CollectionStore(collection_folder(cfg.home, cfg.collection or root.name))
    with store.lock():
        summary = IngestSummary(store.name, 0)
        clock = Clock(summary, t0)
        opened = open_for_ingest(store, cfg, summary, model, reranker, progress=progress)
        handle, vectors, rr, tokens = opened.handle, opened.vectors, opened.reranker, opened.tokens
        clock.lap("startup")

        plan = make_plan(root, opened.previous, vectors.known_ids(), skip={store.folder.parent}, exclude=cfg.exclude)
        clock.lap("scan")
        results = Results(plan)
        text_export = TextExportJob(None)
        try:
            if plan.todo and handle.wants_onnx(cfg.backend) and not handle.image_export_ready(rr):
                text_export = _export_image(handle, rr)
                clock.lap("export")
            encoded = _read_encode_write(plan, results, handle, rr, ShardWriter(vectors, tokens), cfg, clock, progress,
                                         summary)
            finish_ingest(store, opened, results, summary, cfg, clock, encoded, len(plan.known))
        finally:
            text_export.wait()
        export_text(handle)  # lets later text queries skip PyTorch (once per model)
        clock.lap("export")
    summary.elapsed_s = time.perf_counter() - t0
    return summary


def _export_image(handle: ModelHandle, reranker) -> TextExportJob:
    """A first run: PyTorch builds the model once and exports its image path, while a child
    process exports the text path when that is missing too."""
    job = TextExportJob(None)
    try:
        handle.torch_model()  # imports PyTorch; no tower is built yet, so forking now is safe
        job = handle.start_text_export()
        handle.image_export(reranker)
    except Exception:  # the encoder tries again, then falls back to PyTorch with a warning
        pass
    return job


def _read_encode_write(plan, results: Results, handle: ModelHandle, reranker, writer: ShardWriter, cfg: IngestConfig,
                       clock: Clock, progress: Reporter | None, summary: IngestSummary) -> dict[int, dict]:
    """Read, encode and write every planned file; returns the content rows of what it encoded."""
    encoded: dict[int, dict] = {}
    if not plan.todo:
        return encoded
    preprocess = handle.preprocess
    batch_size = cfg.batch_size or (256 if handle.device_type == "cuda" else 32)
    encoder = None
    rows: list[dict] = []
    pixels: list[np.ndarray] = []

    def flush() -> None:
        nonlocal encoder
        if not rows:
            return
        if encoder is None:  # only once something needs encoding: a re-scan of known files loads nothing
            encoder = encoder_for(handle, cfg.backend, reranker)
            clock.lap("startup")
        vecs, tok = encoder.encode(pixels)
        clock.lap("encode")
        writer.write(rows, vecs, tok)
        plan.known.update(r["id"] for r in rows)
        encoded.update((r["id"], r) for r in rows)
        summary.encoded += len(rows)
        rows.clear()
        pixels.clear()
        clock.lap("write")

    task = f"ingest {summary.collection}"
    report(progress, task, 0, len(plan.todo), "img")
    paths = [plan.root / e.path for e in plan.todo]
    pending: set[int] = set()
    decoded = decode_files(paths, preprocess, cfg.workers, plan.known, ahead=2 * batch_size)  # a batch in hand, one ahead
    for i, (entry, d) in enumerate(zip(plan.todo, decoded)):
        clock.lap("decode")
        if results.add(entry, d) and d.id not in plan.known and d.id not in pending:
            pending.add(d.id)
            rows.append(content_row(d))
            pixels.append(d.pixels)
            if len(rows) >= batch_size:
                flush()
                pending.clear()
        report(progress, task, i + 1, len(plan.todo), "img")
    flush()
    clock.lap("decode")
    return encoded
