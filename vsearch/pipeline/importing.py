"""Import: a collection from embeddings computed elsewhere (clip-retrieval's output, or Parquet of
paths and vectors: pipeline/import_sources.py), searchable like an ingested one.

Two passes over the source, part by part (memory bounded by a batch, not by the source):
1. check (nothing written): every vector finite, non-zero and of the model's width, every path
   non-empty; the folder the paths share; a sample of the files that are on this machine, encoded
   now with the model to check the vectors are its own (pipeline/import_check.py);
2. write, under the collection's lock: ids (pipeline/import_rows.py: content ids for reachable
   files, path ids for the rest), one fp16 vector shard per batch for ids not stored yet, and the
   rows; then one commit as after an ingest (images table, index, hubness biases, manifest).
A refused import writes nothing. A killed one leaves finished shards, which a re-run reuses.

Rows. Only rows inside the folders the user lets the import read are imported (`roots`, --root;
by default the folder holding the source): others, and paths that can never name a file, are
refused and counted with their reason (pipeline/import_roots.py). The root stored for the rows is
the folder their paths share (an existing root of the collection that holds it, when there is one,
so that imports and ingests of one folder share rows); relative paths in the source are relative to
the folder that holds the source. Importing into an existing collection
needs the same model; a row replaces the collection's row of the same file, whichever root named
it, so importing the same rows again changes nothing.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import InvalidOptionError
from ..models.handle import ModelHandle
from ..models.identity import check_model, require_identified
from ..progress import Reporter, report
from ..store.collection import CollectionStore, now_iso
from ..store.home import collection_folder
from ..store.names import shown
from ..store.spill import Spill, taken
from ..store.tables import CONTENT_META, ERRORS_SCHEMA, IMAGES_SCHEMA, int64_column
from ..times import CLAMPED
from .config import IngestConfig
from .derived.sources import ShardVectors
from .known import KnownIds
from .import_check import ModelCheck, Reservoir, check_against_model
from .import_roots import ImportRoots
from .import_rows import Identifier, is_regular_file, rows_table
from .import_sources import EmbeddingSource, ImportSourceError, open_source
from .opening import open_for_ingest
from .repair import HASH_THREADS
from .transaction import Clock, transaction

BATCH_ROWS = 16_384  # rows read, checked and written at a time (one vector shard each)

__all__ = ["ImportSourceError", "ImportSummary", "import_embeddings"]


@dataclass
class ImportSummary:
    collection: str
    generation: int
    source: str
    kind: str                  # clip-retrieval | parquet
    root: str = ""             # the folder the imported rows are relative to (the first, when several)
    roots: list[str] = field(default_factory=list)  # the folders this import could read (--root)
    rows: int = 0              # rows in the source
    refused: int = 0           # rows outside those folders, or whose path can name no file: not imported
    refused_samples: list[dict[str, str]] = field(default_factory=list)  # the first of them: path, reason
    new: int = 0               # paths the collection did not have
    changed: int = 0           # paths it had, with another vector (or content) now
    unchanged: int = 0         # paths it had with the same id (a re-import)
    repeated: int = 0          # rows naming a path an earlier row of the source named (the first is kept)
    reachable: int = 0         # rows whose file was read here (content ids, as ingest gives)
    vectors_written: int = 0   # vectors stored (ids the collection did not store yet)
    images: int = 0            # rows of the collection after the import
    check: dict[str, Any] = field(default_factory=dict)   # the model check (import_check.ModelCheck)
    warnings: list[str] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)     # what a repair of damaged metadata did first
    elapsed_s: float = 0.0
    # seconds per phase, in order: startup (source headers, model), check (first pass), model check
    # (encoding the sample), write (ids, hashing reachable files, shards, rows), index (loading the
    # vectors, building or updating the index), commit (tables, biases, manifest, compaction),
    # export (the text graph, once per model), as an ingest's
    timings: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {**self.__dict__, "elapsed_s": round(self.elapsed_s, 3),
                "timings": {k: round(v, 3) for k, v in self.timings.items()}}


def import_embeddings(source: str | Path, model: str, collection: str | None = None, home: str | Path | None = None,
                      index_type: str | None = None, max_index_memory: int | None = None,
                      progress: Reporter | None = None, roots: list[str | Path] | None = None) -> ImportSummary:
    """Import the embeddings at `source` (see the module docstring) into `collection` (default:
    the source's name) as vectors of `model`, which must be the model that computed them. `roots`:
    the folders the rows may lie in (default: the folder holding `source`)."""
    t0 = time.perf_counter()
    if not model:
        raise InvalidOptionError("name the model that computed the vectors (--model); `vsearch models` lists them")
    location = Path(source).expanduser().absolute()
    name = collection if collection is not None else (location.stem if location.is_file() else location.name)
    # validated before any work; opens the collection as an ingest does (no reranker tokens: no pixels)
    cfg = IngestConfig(root=location, collection=name, home=home, model=model, index_type=index_type,
                       max_index_memory=max_index_memory, rerank_tokens=False)
    allowed = ImportRoots.of(roots, location.parent)
    src = open_source(location)
    handle = ModelHandle.open(model)
    require_identified(handle)
    if src.dim and src.dim != handle.embed_dim:
        raise ImportSourceError(f"the vectors are {src.dim}-d but {handle.name!r} makes {handle.embed_dim}-d vectors: "
                                f"they come from another model")
    store = CollectionStore(collection_folder(home, name))
    if store.exists():
        check_model(store.manifest.model, handle, name)  # refused before reading anything
    summary = ImportSummary(name, 0, str(location), src.kind, roots=allowed.shown)
    clock = Clock(summary.timings, t0)
    clock.lap("startup")

    scan = _check_pass(src, handle.embed_dim, location.parent, allowed, progress, summary)
    clock.lap("check")
    check = check_against_model(handle, scan.sample.items, handle.name) if scan.sample.items else ModelCheck(0, None)
    clock.lap("model check")
    summary.check = check.to_json()
    if check.warning:
        summary.warnings.append(check.warning)

    with transaction(store, clock) as tx:
        vectors = open_for_ingest(tx, cfg, summary, model=handle, progress=progress).vectors
        manifest = tx.manifest
        places = {at: allowed.placement(at, manifest.roots) for at in scan.used}
        summary.root = places[min(places)][0]
        before = vectors.known_ids()
        known = KnownIds(before)
        # no name holds the rows as written: _merged keeps one copy of them at a time
        table = _merged(tx.previous, _write_pass(src, location.parent, allowed, places, vectors, known, progress,
                                                 summary, store.folder), summary, store.folder)
        tx.lap("write")
        stored = ShardVectors(vectors, np.unique(int64_column(table, "id")), name)
        table = _with_content_meta(table, vectors, before)
        manifest.roots = sorted(set(manifest.roots) | {root for root, _, _ in places.values()})
        manifest.last_ingest = {"at": now_iso(), "root": summary.root, "imported_from": str(location), "format": src.kind,
                                **{k: getattr(summary, k) for k in ("rows", "new", "changed", "unchanged", "reachable",
                                                                    "refused")}}
        tx.commit(images=table, errors=None if manifest.generation else ERRORS_SCHEMA.empty_table(), image_vectors=stored,
                  index_type=index_type, max_index_memory=max_index_memory)
        summary.generation, summary.images = manifest.generation, len(table)
        tx.compact(len(known))
        tx.lap("commit")
        tx.export_text()  # lets later text queries skip PyTorch (once per model)
    summary.elapsed_s = clock.elapsed()
    return summary


@dataclass
class _Scan:
    used: set[int]         # the allowed folders (ImportRoots) some row lies in
    sample: Reservoir      # reachable files, for the model check


def _absolute(base: Path, paths: list[str]) -> list[str]:
    """Paths as given, made absolute (relative ones against `base`) and normalised; a name is data,
    never expanded (no ~, no variables)."""
    b = str(base)
    return [os.path.normpath(os.path.join(b, p)) for p in paths]


def _check_pass(src: EmbeddingSource, dim: int, base: Path, allowed: ImportRoots, progress: Reporter | None,
                summary: ImportSummary) -> _Scan:
    """Read everything once, writing nothing: widths, values and paths checked (by the source's
    reader), each row's allowed folder found (refused rows counted), reachable files sampled."""
    task = f"check {src.location.name}"
    used: set[int] = set()
    common: str | None = None  # of every row, refused or not: said when none may be read
    sample = Reservoir()
    done = 0
    report(progress, task, 0, src.rows, "row")
    for b in src.batches(BATCH_ROWS):
        if b.vecs.shape[1] != dim:
            raise ImportSourceError(f"{b.part}: {b.vecs.shape[1]}-d vectors, but the model makes {dim}-d vectors")
        paths = _absolute(base, b.paths)
        for p, v in zip(paths, b.vecs):
            at = allowed.which(p)
            if at is None:
                common = os.path.commonpath([os.path.dirname(p), *([common] if common else [])])
                continue
            used.add(at)
            allowed.note(at, p)
            if is_regular_file(p):
                sample.offer(p, v)
        done += len(paths)
        report(progress, task, done, src.rows, "row")
    if done == 0:
        raise ImportSourceError(f"{src.location} holds no rows to import")
    if not used:
        raise ImportSourceError(allowed.nothing_allowed(done, common))
    summary.rows, summary.refused, summary.refused_samples = done, allowed.refused, list(allowed.samples)
    if allowed.refused:
        summary.warnings.append(f"{allowed.refused} row(s) not imported: {allowed.samples[0]['reason']} "
                                f"(e.g. {allowed.samples[0]['path'][:100]}); all are counted in `refused`")
    return _Scan(used, sample)


def _write_pass(src: EmbeddingSource, base: Path, allowed: ImportRoots, places: dict[int, tuple[str, str, str]],
                vectors, known: KnownIds, progress: Reporter | None, summary: ImportSummary, folder: Path) -> pa.Table:
    """Ids, vector shards (for ids not stored yet) and rows of every batch's rows that may be
    read (`places`: allowed folder -> ImportRoots.placement); the rows, in source order, mapped
    from a file in `folder` (store/spill.py: a batch at a time on the heap)."""
    task = f"import {summary.collection}"
    parts = Spill(folder, IMAGES_SCHEMA)
    done = 0
    identifier = Identifier(HASH_THREADS)
    report(progress, task, 0, summary.rows, "row")
    try:
        for b in src.batches(BATCH_ROWS):
            paths, at = _placed(_absolute(base, b.paths), allowed, places)
            vec16 = b.vecs[[i for i, _ in paths]].astype(np.float16)
            paths = [p for _, p in paths]
            ids, digests, sizes, mtimes = identifier.identify(paths, vec16)
            summary.reachable += sum(d is not None for d in digests)
            fresh = ~known.has(ids)
            _, first = np.unique(ids, return_index=True)
            write = np.sort(first[fresh[first]])
            if len(write):
                rows = [{"id": int(ids[i]), "digest": digests[i]} for i in write]
                vectors.write_shard(rows, vec16[write])
                known.add(ids[write])
                summary.vectors_written += len(rows)
            for a in sorted(set(at)):
                mine = [i for i, x in enumerate(at) if x == a]
                root, prefix, rel_to = places[a]
                rels = [_join(prefix, os.path.relpath(paths[i], rel_to)) for i in mine]
                parts.write(rows_table(shown(root), rels, ids[mine], [digests[i] for i in mine],
                                       [sizes[i] for i in mine], [mtimes[i] for i in mine]))
            done += len(b.paths)
            report(progress, task, done, summary.rows, "row")
    finally:
        identifier.close()
    if identifier.clamped:
        summary.warnings.append(f"{identifier.clamped} file(s) have a date outside what the format holds: {CLAMPED}")
    return parts.table()


def _placed(paths: list[str], allowed: ImportRoots, places: dict) -> tuple[list[tuple[int, str]], list[int]]:
    """([(row in batch, path)], [allowed folder of each]) of the rows that may be imported; checked
    again, as the files may have changed since the check pass (a row then refused is not counted twice)."""
    kept, at = [], []
    refused, samples = allowed.refused, list(allowed.samples)
    for i, p in enumerate(paths):
        a = allowed.which(p)
        if a in places and os.path.relpath(p, places[a][2]).split(os.sep, 1)[0] != "..":
            kept.append((i, p))
            at.append(a)
    allowed.refused, allowed.samples = refused, samples
    return kept, at


def _join(prefix: str, rel: str) -> str:
    rel = rel.replace(os.sep, "/")
    return f"{prefix}/{rel}" if prefix else rel


def _file_keys(t: pa.Table) -> pa.Array:
    """Each row's file as one string (root and path joined), to find the same file under two roots."""
    root = pc.utf8_rtrim(t.column("root"), characters="/")
    return pc.binary_join_element_wise(root, t.column("path"), "/").combine_chunks()


def _with_content_meta(table: pa.Table, vectors, stored_before: np.ndarray) -> pa.Table:
    """Imported rows carry no content metadata (size, capture date, camera, orientation); where the
    shards describe their content (a photo ingested before: its id was stored before this import),
    the rows keep that description, as an ingest's rows do (commit.content_rows). Only those rows'
    metadata is read (no vector), so a first import of N vectors reads none of it."""
    ids = int64_column(table, "id")
    again = np.isin(ids, stored_before)
    if not again.any():
        return table
    meta = vectors.select(ids[again], list(CONTENT_META))
    meta_ids = int64_column(meta, "id")
    order = np.argsort(meta_ids)
    at = pa.array(order[np.searchsorted(meta_ids, ids, sorter=order).clip(0, len(meta_ids) - 1)])
    mask = pa.array(again)
    for f in CONTENT_META:
        i = table.schema.get_field_index(f)
        theirs = pc.if_else(mask, meta.column(f).take(at), pa.nulls(len(table), table.schema.field(f).type))
        table = table.set_column(i, f, pc.coalesce(table.column(f), theirs))
    return table


def _merged(previous: pa.Table, imported: pa.Table, summary: ImportSummary, folder: Path | None = None) -> pa.Table:
    """The collection's rows after the import: one row per imported path (the source's first row
    for it), replacing any row of the same file; every other row kept. Counts new, changed and
    unchanged paths into `summary`. A large result is mapped from a file in `folder` (spill.py)."""
    n = len(imported)
    keys = _file_keys(imported)
    numbered = pa.table({"_key": keys, "_row": pa.array(np.arange(n, dtype=np.int64))})
    firsts = numbered.group_by("_key", use_threads=False).aggregate([("_row", "min")]).column("_row_min")
    del numbered
    summary.repeated = n - len(firsts)
    if summary.repeated:
        imported = taken(imported, np.sort(firsts.to_numpy()), folder)  # sorted below with the rest
        keys = _file_keys(imported)
    if len(previous):
        prev_keys = _file_keys(previous)
        replaced = pc.is_in(prev_keys, value_set=keys)
        old = pa.table({"key": prev_keys.filter(replaced), "old_id": previous.column("id").filter(replaced)})
        del prev_keys
        now = pa.table({"key": keys, "id": imported.column("id")})
        matched = now.join(old, "key", join_type="inner")
        summary.unchanged = int(pc.sum(pc.equal(matched["id"], matched["old_id"])).as_py() or 0)
        summary.changed = len(matched) - summary.unchanged
        if len(old):
            previous = taken(previous, np.flatnonzero(~replaced.to_numpy(zero_copy_only=False)), folder)
    summary.new = len(imported) - summary.changed - summary.unchanged
    both = pa.concat_tables([previous, imported])
    order = pc.sort_indices(both.select(["root", "path"]), sort_keys=[("root", "ascending"), ("path", "ascending")])
    return taken(both, order, folder)
