"""Commit stage: everything read and encoded -> one new generation of the collection, atomically
(images and errors tables, the vector index, hubness biases, manifest), then compaction of the
vector shards when enough of them is dead."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import NothingIngestedError
from ..store.collection import CollectionStore, now_iso
from ..store.manifest import Manifest
from ..store.tables import ERRORS_SCHEMA, IMAGES_SCHEMA, int64_column
from .biases import bias_table
from .config import IngestSummary
from .ignore import describe
from .indexing import index_for_commit
from .results import Results

CONTENT_META = ("width", "height", "taken_at", "camera", "orientation")
COMPACT_SHARDS = 64          # more shards than this are merged into one
COMPACT_DEAD_FRACTION = 0.25  # or when over a quarter of the stored vectors are dead


def images_table(results: Results, vectors, encoded: dict[int, dict] | None = None,
                 previous: pa.Table | None = None) -> pa.Table:
    """The new images table: the root's file rows with their content metadata, beside the other
    roots' rows, sorted by root and path. Rows carried over unchanged are taken as they are from
    `previous` (the last generation's table, in Arrow); only the rows read this run are built
    from Python and joined with their metadata, so the cost follows what changed."""
    plan = results.plan
    unchanged = {id(r) for r in plan.unchanged} if previous is not None else set()
    carried = [r for r in results.rows if id(r) in unchanged]
    fresh = [r for r in results.rows if id(r) not in unchanged]
    content = content_rows(results, fresh, vectors, encoded)
    for r in fresh:
        m = content.get(r["id"], {})
        for f in CONTENT_META:
            r[f] = m.get(f)
    parts = [plan.other_roots, pa.table({f.name: [r.get(f.name) for r in fresh] for f in IMAGES_SCHEMA},
                                        schema=IMAGES_SCHEMA)]
    if carried:
        kept = previous.filter(pc.equal(previous["root"], plan.root_key))  # tables hold the shown form
        parts.append(kept.filter(pc.is_in(kept["path"], value_set=pa.array([r["path"] for r in carried], pa.string())))
                     .cast(IMAGES_SCHEMA))
    return pa.concat_tables(parts).sort_by([("root", "ascending"), ("path", "ascending")])


def content_rows(results: Results, fresh: list[dict], vectors, encoded: dict[int, dict] | None = None) -> dict[int, dict]:
    """Content metadata (id -> row) of the `fresh` rows: from what this run encoded, else from the
    last generation's rows of the same content (a moved or copied file, in this root or another),
    else from the stored shards (content encoded by an interrupted run: only their small columns
    are read, and only then)."""
    content = {r["id"]: encoded[r["id"]] for r in fresh if encoded and r["id"] in encoded}
    wanted = {r["id"] for r in fresh} - content.keys()
    if wanted:
        content.update((r["id"], r) for r in results.plan.previous.values() if r["id"] in wanted)
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
    root = results.plan.root_key
    keep = previous.filter(pc.not_equal(previous["root"], root)) if len(previous) else previous
    return pa.concat_tables([keep, pa.Table.from_pylist(results.errors, schema=ERRORS_SCHEMA)])


def commit_ingest(store: CollectionStore, manifest: Manifest, model, results: Results, previous_errors: pa.Table,
                  summary: IngestSummary, index_type: str | None, encoded: dict[int, dict] | None = None,
                  clock=None, previous: pa.Table | None = None, max_index_memory: int | None = None) -> Manifest:
    """`model`: a ModelHandle or DualEncoder (its embed_dim and hubness); `encoded`: id -> content
    row of what this run encoded; `previous`: the last generation's images table (its unchanged
    rows are carried over in Arrow); `clock` (pipeline/local.py Clock) times the index apart."""
    plan = results.plan
    vectors = store.vectors(model.embed_dim)
    table = images_table(results, vectors, encoded, previous)
    live_ids = np.unique(int64_column(table, "id"))
    summary.duplicates = len(table) - len(live_ids)
    summary.images = len(table)
    if len(table) == 0:
        errors = results.errors
        raise NothingIngestedError(
            f"no image could be ingested from {plan.root} ({len(plan.entries)} image files found, {len(errors)} errors"
            + (f"; first: {errors[0]['path']}: {errors[0]['reason']}" if errors else "")
            + (f"; not ingested: {describe(plan.skipped)}" if any(plan.skipped.values()) else "") + ")")
    if clock is not None:
        clock.lap("commit")
    ids, vecs, _ = vectors.load(live_ids)
    # The kind the user asked for survives later ingests; a new collection without a request is "auto".
    index, manifest.index = index_for_commit(store, manifest, ids, vecs, index_type, max_index_memory, model.hubness)
    if clock is not None:
        clock.lap("index")
    err_table = errors_table(results, previous_errors)
    manifest.roots = sorted(set(manifest.roots) | {plan.root_s})
    manifest.counts = {"images": len(table), "vectors": len(ids), "errors": len(err_table),
                       "texts": manifest.counts.get("texts", 0)}
    manifest.last_ingest = {"at": now_iso(), "root": plan.root_s,
                            **{k: v for k, v in summary.to_json().items() if k not in ("error_samples", "timings")}}
    store.commit(manifest, images=table, errors=err_table, index=index,
                 image_bias=bias_table(store, "image_bias", model.hubness, ids, vecs))
    return manifest


def _reachable(root: str) -> bool:
    try:
        return Path(root).is_dir()  # manifest roots are the OS's names (surrogate escapes for odd bytes)
    except (OSError, ValueError):
        return False


def finish_ingest(store: CollectionStore, opened, results: Results, summary: IngestSummary, cfg, clock,
                  encoded: dict[int, dict], stored: int) -> Manifest:
    """What every runner does after its stages, under the lock: settle the results, commit (the
    unchanged rows carried over in Arrow, content rows from this run's `encoded`), then compact
    when due. `opened`: pipeline/opening.py's Opened; `stored`: vector rows now in the shards."""
    results.settle(summary)
    clock.lap("commit")
    manifest = commit_ingest(store, opened.manifest, opened.handle, results, opened.previous_errors, summary,
                             cfg.index_type, encoded=encoded, clock=clock, previous=opened.previous,
                             max_index_memory=cfg.max_index_memory)
    summary.generation = manifest.generation
    rows = results.rows
    live = np.unique(np.concatenate([np.fromiter((r["id"] for r in rows), np.int64, len(rows)),
                                     int64_column(results.plan.other_roots, "id")]))
    compact_if_due(store, live, stored, opened.tokens)
    clock.lap("commit")
    return manifest


def compact_if_due(store: CollectionStore, live_ids: np.ndarray, stored_ids: int, token_store=None) -> bool:
    """Merge shards (and token parts) into one, dropping dead vectors, when there are many or
    enough of them is dead. Runs after the commit: a crash here loses nothing. Skipped while a
    root is unreachable: a repair that ran without it left its photos out of the images table
    but kept their vectors, which a compaction would drop (pipeline/repair.py)."""
    vectors = store.vectors()
    if len(vectors.shards()) <= COMPACT_SHARDS and stored_ids <= (1 + COMPACT_DEAD_FRACTION) * max(1, len(live_ids)):
        return False
    if any(not _reachable(root) for root in store.manifest.roots):
        return False
    vectors.compact(live_ids)
    if token_store is not None:
        token_store.compact(live_ids)
    return True
