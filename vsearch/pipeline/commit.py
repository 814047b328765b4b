"""Commit stage: everything read and encoded -> one new generation of the collection, atomically
(images and errors tables, the vector index, hubness biases, manifest), then compaction of the
vector shards when enough of them is dead."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import NothingIngestedError
from ..store.collection import CollectionStore, now_iso
from ..store.index import VectorIndex
from ..store.manifest import Manifest
from ..store.tables import ERRORS_SCHEMA, IMAGES_SCHEMA, int64_column
from .biases import bias_table
from .config import IngestSummary
from .results import Results

CONTENT_META = ("width", "height", "taken_at", "camera", "orientation")
COMPACT_SHARDS = 64          # more shards than this are merged into one
COMPACT_DEAD_FRACTION = 0.25  # or when over a quarter of the stored vectors are dead


def images_table(results: Results, content: dict[int, dict]) -> pa.Table:
    """The new images table: the root's file rows joined with their content metadata (`content`:
    id -> row, for the rows that do not carry it already), beside the other roots' rows, sorted by
    root and path."""
    rows = results.rows
    for r in rows:
        if r["id"] in content:
            m = content[r["id"]]
            for f in CONTENT_META:
                r[f] = m.get(f)
    cols = {f.name: [r.get(f.name) for r in rows] for f in IMAGES_SCHEMA}
    mine = pa.table(cols, schema=IMAGES_SCHEMA)
    return pa.concat_tables([results.plan.other_roots, mine]).sort_by([("root", "ascending"), ("path", "ascending")])


def content_rows(results: Results, vectors, encoded: dict[int, dict] | None = None) -> dict[int, dict]:
    """Content metadata of the rows read this run (the unchanged ones carry theirs): from what
    this run encoded, else from the last generation's rows of the same content (a moved or
    copied file), else from the stored shards (content encoded by an interrupted run). Only the
    shards' small columns are read, and only when needed: the cost follows what changed."""
    fresh = [r["id"] for r in results.rows if not all(f in r for f in CONTENT_META)]
    content = {i: encoded[i] for i in fresh if encoded and i in encoded}
    wanted = {i for i in fresh if i not in content}
    if wanted:
        for r in results.plan.previous.values():
            if r["id"] in wanted:
                content[r["id"]] = r
        wanted -= content.keys()
    for source in ((lambda: results.plan.other_roots), lambda: vectors.read(columns=["id", *CONTENT_META])):
        if not wanted:
            break
        t = source()
        t = t.filter(pc.is_in(t["id"], value_set=pa.array(sorted(wanted), pa.int64())))
        content.update((m["id"], m) for m in t.select(["id", *CONTENT_META]).to_pylist())
        wanted -= content.keys()
    return content


def errors_table(results: Results, previous: pa.Table) -> pa.Table:
    root = results.plan.root_s
    keep = previous.filter(pc.not_equal(previous["root"], root)) if len(previous) else previous
    return pa.concat_tables([keep, pa.Table.from_pylist(results.errors, schema=ERRORS_SCHEMA)])


def commit_ingest(store: CollectionStore, manifest: Manifest, model, results: Results, previous_errors: pa.Table,
                  summary: IngestSummary, index_type: str | None, encoded: dict[int, dict] | None = None,
                  clock=None) -> Manifest:
    """`model`: a ModelHandle or DualEncoder (its embed_dim and hubness); `encoded`: id -> content
    row of what this run encoded; `clock` (pipeline/local.py Clock) times the index build apart."""
    plan = results.plan
    live_ids = np.unique(np.array([r["id"] for r in results.rows], dtype=np.int64).tolist()
                         + int64_column(plan.other_roots, "id").tolist()).astype(np.int64)
    vectors = store.vectors(model.embed_dim)
    table = images_table(results, content_rows(results, vectors, encoded))
    summary.duplicates = len(table) - len(np.unique(int64_column(table, "id")))
    summary.images = len(table)
    if len(table) == 0:
        errors = results.errors
        raise NothingIngestedError(
            f"no image could be ingested from {plan.root} ({len(plan.entries)} image files found, {len(errors)} errors"
            + (f"; first: {errors[0]['path']}: {errors[0]['reason']}" if errors else "") + ")")
    if clock is not None:
        clock.lap("commit")
    ids, vecs, _ = vectors.load(live_ids)
    # The kind the user asked for survives later ingests; a new collection without a request is "auto".
    requested = index_type or manifest.index.get("requested") or "auto"
    same = requested == manifest.index.get("requested") and manifest.generation > 0
    index = VectorIndex.build(ids, vecs, manifest.index.get("type") if same and requested != "auto" else requested,
                              manifest.index.get("params") if same else None)
    if clock is not None:
        clock.lap("index")
    err_table = errors_table(results, previous_errors)
    manifest.index = {"type": index.kind, "params": index.params, "requested": requested}
    manifest.roots = sorted(set(manifest.roots) | {plan.root_s})
    manifest.counts = {"images": len(table), "vectors": index.ntotal, "errors": len(err_table),
                       "texts": manifest.counts.get("texts", 0)}
    manifest.last_ingest = {"at": now_iso(), "root": plan.root_s,
                            **{k: v for k, v in summary.to_json().items() if k not in ("error_samples", "timings")}}
    store.commit(manifest, images=table, errors=err_table, index=index,
                 image_bias=bias_table(store, "image_bias", model.hubness, ids, vecs))
    return manifest


def compact_if_due(store: CollectionStore, live_ids: np.ndarray, stored_ids: int, token_store=None) -> bool:
    """Merge shards (and token parts) into one, dropping dead vectors, when there are many or
    enough of them is dead. Runs after the commit: a crash here loses nothing."""
    vectors = store.vectors()
    if len(vectors.shards()) <= COMPACT_SHARDS and stored_ids <= (1 + COMPACT_DEAD_FRACTION) * max(1, len(live_ids)):
        return False
    vectors.compact(live_ids)
    if token_store is not None:
        token_store.compact(live_ids)
    return True
