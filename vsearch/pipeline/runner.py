"""The local runner: scan -> decode (worker processes) -> encode (batches) -> write shards -> commit.

Each encoded batch is persisted as a vector shard before the next one starts, so a killed
ingest loses at most one batch and a re-run picks up from there; the collection itself only
changes at the final atomic commit.
"""
from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pyarrow as pa

from ..errors import CollectionFormatError, NothingIngestedError
from ..models import DualEncoder, load_model
from ..models.identity import check_model, model_record
from ..store.collection import ERRORS_SCHEMA, IMAGES_SCHEMA, CollectionStore, int64_column, now_iso
from ..store.home import index_home
from ..store.index import VectorIndex
from ..store.manifest import Manifest
from ..store.tokens import TokenStore
from .encode import ImageEncoder, iter_decoded
from .scan import scan


@dataclass(frozen=True)
class IngestConfig:
    root: Path
    collection: str | None = None
    home: Path | None = None
    model: str | None = None
    batch_size: int | None = None     # default: 32 on a CPU, 256 on a GPU
    workers: int | None = None
    index_type: str = "auto"
    progress: bool = False
    device: str | None = None
    backend: str = "auto"             # image encoder: auto | torch | onnx
    rerank_tokens: bool = True        # store the reranker's image tokens (~8 KB/image) for fast --rerank
    reranker: Path | None = None      # an ITM checkpoint whose tokens to store (default: the model's shipped one)


@dataclass
class IngestSummary:
    collection: str
    generation: int
    scanned: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    moved: int = 0
    removed: int = 0
    duplicates: int = 0
    errors: int = 0
    encoded: int = 0
    images: int = 0
    elapsed_s: float = 0.0
    error_samples: list[dict[str, str]] = field(default_factory=list)

    @property
    def images_per_s(self) -> float:
        return self.encoded / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["images_per_s"] = round(self.images_per_s, 2)
        d["elapsed_s"] = round(self.elapsed_s, 3)
        return d


def _utc(ns: int) -> datetime:
    return datetime.fromtimestamp(ns / 1e9, tz=timezone.utc)


def ingest(cfg: IngestConfig, model: DualEncoder | None = None,
           on_progress: Callable[[int, int], None] | None = None) -> IngestSummary:
    t0 = time.perf_counter()
    root = Path(cfg.root).expanduser().resolve()
    if not root.is_dir():
        raise NothingIngestedError(f"{root} is not a folder")
    home = index_home(cfg.home)
    store = CollectionStore(home / (cfg.collection or root.name))
    with store.lock():
        if store.exists():
            manifest = store.manifest
            if model is None:
                model = load_model(cfg.model or manifest.model["name"], cfg.device)
            check_model(manifest.model, model, store.name)
            prev = store.images().cast(IMAGES_SCHEMA)
            prev_errors = store.errors().cast(ERRORS_SCHEMA)
        else:
            model = model or load_model(cfg.model, cfg.device)
            manifest = Manifest(model=model_record(model), index={"type": cfg.index_type, "params": {}})
            prev, prev_errors = IMAGES_SCHEMA.empty_table(), ERRORS_SCHEMA.empty_table()
        return _ingest_into(store, manifest, model, root, prev, prev_errors, cfg, t0, on_progress)


def reindex(collection: str | None = None, home: Path | None = None, index_type: str | None = None,
            model: DualEncoder | None = None, device: str | None = None) -> dict[str, Any]:
    """Rebuild a collection's FAISS index and hubness biases from its vector shards (the source
    of truth), and its text index from its stored texts, as a new generation: repairs a damaged
    or missing index, changes the index type, and gives a collection made before the model had a
    hubness correction its biases."""
    from ..store.home import pick_collection

    home = index_home(home)
    store = CollectionStore(home / pick_collection(collection, home))
    with store.lock():
        manifest = store.manifest
        model = model or load_model(manifest.model["name"], device)
        check_model(manifest.model, model, store.name)
        live = np.unique(int64_column(store.images(), "id"))
        ids, vecs, _ = store.vectors(model.embed_dim).load(live)
        if len(ids) != len(live):
            raise CollectionFormatError(f"{len(live) - len(ids)} images of {store.name!r} have no stored vector; "
                                        f"re-run `vsearch ingest` on their folder")
        kind = index_type or manifest.index.get("requested") or "auto"
        index = VectorIndex.build(ids, vecs, kind, manifest.index.get("params") if kind == manifest.index.get("requested") else None)
        manifest.index = {"type": index.kind, "params": index.params, "requested": kind}
        manifest.counts["vectors"] = index.ntotal
        bias = store.bias_table("image_bias", model.hubness, ids, vecs)
        texts = store.texts()
        parts = {}
        if len(texts):
            from .encode import encode_texts

            tids = int64_column(texts, "id")
            tvecs = encode_texts(model, texts.column("text").to_pylist())
            parts["texts_index"] = VectorIndex.build(tids, tvecs, "flat")
            parts["text_bias"] = store.bias_table("text_bias", model.hubness, tids, tvecs)
        store.commit(manifest, index=index, image_bias=bias, **parts)
    return {"collection": store.name, "generation": manifest.generation, "vectors": index.ntotal,
            "texts": len(texts), "index": manifest.index, "hubness": bias is not False}


def _token_reranker(model, path: Path | None = None):
    """The reranker (given, else the model's shipped one) when ingest can store its image
    tokens, else None."""
    from ..models.itm import load_reranker

    rr = load_reranker(getattr(model, "name", ""), path)
    return rr if rr is not None and rr.reads_feature_map_of(model) else None


def _ingest_into(store, manifest, model, root, prev, prev_errors, cfg, t0, on_progress) -> IngestSummary:
    from tqdm import tqdm

    root_s = str(root)
    summary = IngestSummary(store.name, manifest.generation)
    entries, scan_problems = scan(root, skip={store.folder.parent})
    summary.scanned = len(entries)

    prev_rows = {r["path"]: r for r in prev.filter(pa.compute.equal(prev["root"], root_s)).to_pylist()} if len(prev) else {}
    other_roots = prev.filter(pa.compute.not_equal(prev["root"], root_s)) if len(prev) else prev

    vectors = store.vectors(model.embed_dim)
    known = vectors.known_ids()
    rows: list[dict] = []
    todo = []
    for e in entries:
        p = prev_rows.get(e.path)
        if p and p["bytes"] == e.size and p["mtime_ns"] == e.mtime_ns and p["id"] in known:
            rows.append(p)
            summary.unchanged += 1
        else:
            todo.append(e)

    errors: list[dict] = [{"path": p, "root": root_s, "reason": r, "bytes": None, "mtime_ns": None} for p, r in scan_problems]
    pending_rows: list[dict] = []
    pending_pix: list[np.ndarray] = []
    encoded_now: set[int] = set()
    new_ids: list[int] = []

    encoder = None
    reranker = _token_reranker(model, cfg.reranker) if cfg.rerank_tokens else None
    tokens = TokenStore(store.folder, reranker.fingerprint) if reranker else None

    def flush() -> None:
        nonlocal encoder
        if not pending_rows:
            return
        encoder = encoder or ImageEncoder(model, cfg.backend if len(todo) >= 256 or cfg.backend != "auto" else "torch",
                                          reranker=reranker)
        vecs, tok = encoder.encode(pending_pix)
        if tokens is not None and tok is not None:  # before the shard: a known id then always has its tokens
            tokens.write_part(np.array([r["id"] for r in pending_rows], dtype=np.int64), tok)
        vectors.write_shard(pending_rows, vecs)
        known.update(r["id"] for r in pending_rows)
        summary.encoded += len(pending_rows)
        pending_rows.clear()
        pending_pix.clear()

    batch_size = cfg.batch_size or (256 if model.device.type == "cuda" else 32)
    bar = tqdm(total=len(todo), unit="img", desc=f"ingest {store.name}", disable=not cfg.progress, smoothing=0.1)
    paths = [root / e.path for e in todo]
    for i, (e, d) in enumerate(zip(todo, iter_decoded(paths, model.preprocess, cfg.workers, known))):
        if d.error:
            errors.append({"path": e.path, "root": root_s, "reason": d.error, "bytes": e.size, "mtime_ns": e.mtime_ns})
        else:
            p = prev_rows.get(e.path)
            if p is None:
                new_ids.append(d.id)
            elif p["id"] != d.id:
                summary.changed += 1
            rows.append({"id": d.id, "path": e.path, "root": root_s, "folder": e.path.rpartition("/")[0],
                         "digest": d.digest, "bytes": e.size, "mtime": _utc(e.mtime_ns), "mtime_ns": e.mtime_ns})
            if d.pixels is not None and d.id not in known and d.id not in encoded_now:
                encoded_now.add(d.id)
                pending_rows.append({"id": d.id, "digest": d.digest, "width": d.width, "height": d.height,
                                     "taken_at": d.taken_at, "camera": d.camera, "orientation": d.orientation})
                pending_pix.append(d.pixels)
                if len(pending_rows) >= batch_size:
                    flush()
        bar.update(1)
        if on_progress:
            on_progress(i + 1, len(todo))
    flush()
    bar.close()

    scanned_paths = {e.path for e in entries}
    # A file at a new path whose content sat at a path that is gone was moved, not added + removed.
    gone = [r["id"] for p, r in prev_rows.items() if p not in scanned_paths]
    gone_left = Counter(gone)
    for i_ in new_ids:
        if gone_left.get(i_, 0) > 0:
            gone_left[i_] -= 1
            summary.moved += 1
    summary.new = len(new_ids) - summary.moved
    summary.removed = len(gone) - summary.moved
    summary.errors = len(errors)
    summary.error_samples = [{"path": e["path"], "reason": e["reason"]} for e in errors[:20]]

    # Join content metadata (pixels, EXIF) from the vector shards onto the file rows.
    live_ids = np.unique(np.array([r["id"] for r in rows] + other_roots.column("id").to_pylist(), dtype=np.int64))
    ids, vecs, meta = vectors.load(live_ids)
    meta_by_id = {m["id"]: m for m in meta.to_pylist()}
    for r in rows:
        m = meta_by_id.get(r["id"], {})
        for f in ("width", "height", "taken_at", "camera", "orientation"):
            r[f] = m.get(f)
    cols = {f.name: [r.get(f.name) for r in rows] for f in IMAGES_SCHEMA}
    table = pa.concat_tables([other_roots, pa.table(cols, schema=IMAGES_SCHEMA)]).sort_by([("root", "ascending"), ("path", "ascending")])
    summary.duplicates = len(table) - len(set(table.column("id").to_pylist()))
    summary.images = len(table)

    if len(table) == 0:
        raise NothingIngestedError(
            f"no image could be ingested from {root} ({len(entries)} image files found, {len(errors)} errors"
            + (f"; first: {errors[0]['path']}: {errors[0]['reason']}" if errors else "") + ")")

    index = VectorIndex.build(ids, vecs, manifest.index.get("type", "auto") if manifest.generation else cfg.index_type,
                              manifest.index.get("params") or None)
    keep_err = prev_errors.filter(pa.compute.not_equal(prev_errors["root"], root_s)) if len(prev_errors) else prev_errors
    err_table = pa.concat_tables([keep_err, pa.Table.from_pylist(errors, schema=ERRORS_SCHEMA)])
    manifest.index = {"type": index.kind, "params": index.params, "requested": cfg.index_type}
    manifest.roots = sorted(set(manifest.roots) | {root_s})
    manifest.counts = {"images": len(table), "vectors": index.ntotal, "errors": len(err_table),
                       "texts": manifest.counts.get("texts", 0)}
    summary.elapsed_s = time.perf_counter() - t0
    manifest.last_ingest = {"at": now_iso(), "root": root_s, **{k: v for k, v in summary.to_json().items() if k != "error_samples"}}
    store.commit(manifest, images=table, errors=err_table, index=index, image_bias=store.bias_table("image_bias", model.hubness, ids, vecs))
    summary.generation = manifest.generation
    try:  # lets later text queries skip importing torch (models/fast_text.py)
        from ..models.onnx_export import export_text_tower

        export_text_tower(model)
    except Exception:  # pragma: no cover - the torch path still serves queries
        pass
    n_shards = len(vectors.shards())
    if n_shards > 64 or (len(live_ids) and len(known) > 1.25 * len(live_ids)):
        vectors.compact(live_ids)
        if tokens is not None:
            tokens.compact(live_ids)
    summary.elapsed_s = time.perf_counter() - t0
    return summary
