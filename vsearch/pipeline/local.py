"""The local runner: plan -> read + decode (worker processes) -> encode (batches) -> write shards
-> commit, on one machine, in the writer transaction every ingest shares (pipeline/runner.py).

Each encoded batch is persisted as a vector shard before the next one starts, so a killed
ingest loses at most one batch and a re-run picks up from there; the collection itself only
changes at the final atomic commit.

The model is a ModelHandle (models/handle.py): on a CPU with the model's ONNX exports cached, an
ingest imports no PyTorch and builds no model, whatever the number of photos; a first run builds
the PyTorch model once and writes the exports the next runs use.
"""
from __future__ import annotations

import numpy as np

from ..models.exports import TextExportJob
from ..models.handle import ModelHandle
from ..models.image_encoder import encoder_for
from ..progress import Reporter, report
from .config import IngestConfig, IngestSummary
from .decode import decode_files
from .runner import IngestRun, ingest_run
from .write import ShardWriter, content_row, without_signature

__all__ = ["ingest"]


def ingest(cfg: IngestConfig, model=None, reranker=None, progress: Reporter | None = None) -> IngestSummary:
    """Ingest `cfg.root` into its collection. `model` / `reranker`: already-loaded objects to use
    instead of loading them by name."""
    with ingest_run(cfg, model=model, reranker=reranker, progress=progress) as run:
        handle, rr, tx = run.tx.model, run.opened.reranker, run.tx
        text_export = TextExportJob(None)
        try:
            if run.plan.todo and handle.wants_onnx(cfg.backend) and not handle.exports.image_ready(rr):
                text_export = _export_image(handle, rr)
                tx.lap("export")
            encoded = _read_encode_write(run, ShardWriter(run.opened.vectors, run.opened.tokens))
            run.commit(encoded, len(run.plan.known))
        finally:
            text_export.wait()
        tx.export_text()  # lets later text queries skip PyTorch (once per model)
    return run.summary


def _export_image(handle: ModelHandle, reranker) -> TextExportJob:
    """A first run: PyTorch builds the model once and exports its image path, while a child
    process exports the text path when that is missing too."""
    job = TextExportJob(None)
    try:
        handle.torch_model()  # imports PyTorch; no tower is built yet, so forking now is safe
        job = handle.exports.start_text_export()
        handle.exports.image_export(reranker)
    except Exception:  # the encoder tries again, then falls back to PyTorch with a warning
        pass
    return job


def _read_encode_write(run: IngestRun, writer: ShardWriter) -> dict[int, dict]:
    """Read, encode and write every planned file; returns the content rows of what it encoded."""
    plan, results, handle, cfg, summary, progress = run.plan, run.results, run.tx.model, run.cfg, run.summary, run.progress
    encoded: dict[int, dict] = {}
    if not plan.todo and not plan.companions:
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
            encoder = encoder_for(handle, cfg.backend, run.opened.reranker)
            run.tx.lap("startup")
        vecs, tok = encoder.encode(pixels)
        run.tx.lap("encode")
        writer.write(rows, vecs, tok)
        plan.known.update(r["id"] for r in rows)
        encoded.update((r["id"], without_signature(r)) for r in rows)  # the shard holds it; the images table does not
        summary.encoded += len(rows)
        rows.clear()
        pixels.clear()
        run.tx.lap("write")

    task = f"ingest {summary.collection}"
    pending: set[int] = set()

    def read(todo: list) -> None:
        report(progress, task, 0, len(todo), "file")
        decoded = decode_files([plan.root / e.path for e in todo], preprocess, cfg.workers, plan.known,
                               ahead=2 * batch_size, sampling=run.sampling, known_videos=plan.known_videos)
        for i, (entry, d) in enumerate(zip(todo, decoded)):  # a batch in hand, one ahead
            run.tx.lap("decode")
            for item in results.add(entry, d):  # a photo, or a video's frames
                if item.id in plan.known or item.id in pending:
                    continue
                pending.add(item.id)
                rows.append(content_row(item))
                pixels.append(item.pixels)
                if len(rows) >= batch_size:
                    flush()
                    pending.clear()
            report(progress, task, i + 1, len(todo), "file")

    read(plan.todo)
    read(run.orphans())  # companions whose still could not be read, read on their own
    flush()
    run.tx.lap("decode")
    return encoded
