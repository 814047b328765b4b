"""The writer transaction: what every writer of a collection goes through — ingest (both
runners), import, reindex, `texts add`, and the repair each starts with — so that they cannot
drift apart:

    lock -> open (the model: the collection's, checked; damaged metadata repaired)
         -> the writer's own work (scan, encode, write shards; read a source; encode texts)
         -> commit (the tables the writer recorded, then every derived step: pipeline/derived)
         -> compact (the vector shards, when due) -> export (the text graph, once per model)

with one clock whose laps add up to the elapsed time.
"""
from __future__ import annotations

import shutil
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pyarrow as pa

from ..errors import CollectionFormatError
from ..models.handle import ModelHandle
from ..models.identity import check_model, require_identified
from ..models.precision import precision_for, precision_of
from ..progress import Reporter
from ..store.collection import CARRY, DROP, CollectionStore
from ..store.manifest import IndexRecord, Manifest
from ..store.tables import ERRORS_SCHEMA, IMAGES_SCHEMA, TEXTS_SCHEMA, int64_column
from .derived import STEPS, Change, Items
from .derived.sources import ShardVectors
from .repair import repair

COMPACT_SHARDS = 64          # more shards than this are merged into one
COMPACT_DEAD_FRACTION = 0.25  # or when over a quarter of the stored vectors are dead


class Clock:
    """Adds wall time to named phases: laps are contiguous from `start`, so the phases add up to
    the elapsed time."""

    def __init__(self, timings: dict[str, float], start: float | None = None):
        self.timings = timings
        self.start = self.t = time.perf_counter() if start is None else start

    def lap(self, phase: str) -> None:
        now = time.perf_counter()
        self.timings[phase] = self.timings.get(phase, 0.0) + now - self.t
        self.t = now

    def elapsed(self) -> float:
        return time.perf_counter() - self.start


@contextmanager
def transaction(store: CollectionStore, clock: Clock | None = None) -> Iterator["Transaction"]:
    """The collection's writer lock, held for one transaction; `clock`: the writer's, when it
    timed phases before taking the lock."""
    with store.lock():
        yield Transaction(store, clock or Clock({}))


class Transaction:
    """One writer's transaction (made by `transaction()`, under the lock)."""

    def __init__(self, store: CollectionStore, clock: Clock):
        self.store = store
        self.clock = clock
        self.model: ModelHandle | None = None
        self.manifest: Manifest | None = None
        self.previous: pa.Table = IMAGES_SCHEMA.empty_table()        # the images table as it was
        self.previous_errors: pa.Table = ERRORS_SCHEMA.empty_table()  # the errors table as it was
        self.live: np.ndarray = np.zeros(0, np.int64)                 # image ids of the last commit

    def lap(self, phase: str) -> None:
        self.clock.lap(phase)

    # --- open --------------------------------------------------------------------------------------
    def open(self, model=None, *, device: str | None = None, precision: str | None = None,
             index_type: str | None = None, thorough: bool = False, derive: bool = True,
             progress: Reporter | None = None) -> list[str]:
        """The model — a name, a loaded model or a handle; by default the collection's — checked
        against the collection's record; damaged metadata set aside and rebuilt (pipeline/repair.py:
        `thorough` reads every byte; `derive=False` leaves the derived parts it would change to the
        caller's commit). A new collection gets `model` (it must be identified) at `precision`,
        and `index_type`. Returns what the repair did, as lines."""
        store = self.store
        if not store.exists():
            self.model = ModelHandle.open(model, device=device, precision=precision_for(None, precision, store.name))
            require_identified(self.model)
            self.manifest = Manifest(model=self.model.record, index=IndexRecord(type=index_type or "auto"))
            return []
        record = store.manifest.model
        self.model = ModelHandle.open(model if model is not None else record.name, device=device,
                                      precision=precision_of(record))
        check_model(record, self.model, store.name)
        precision_for(record, precision, store.name)  # another precision than the collection's is refused
        self.manifest = store.manifest
        done = repair(self, thorough=thorough, derive=derive, progress=progress)
        self.manifest = store.manifest
        self.previous, self.previous_errors = store.images().cast(IMAGES_SCHEMA), store.errors().cast(ERRORS_SCHEMA)
        return done.lines()

    # --- commit ------------------------------------------------------------------------------------
    def commit(self, *, images: pa.Table | None = None, errors: pa.Table | None = None, texts: Any = CARRY,
               text_vectors=None, image_vectors: ShardVectors | None = None, rebuild: bool = False,
               drop: tuple[str, ...] = (), defer: bool = False, **options: Any) -> Manifest:
        """A new generation: the recorded tables given (None / CARRY: as they were; `texts` may be
        DROP), then every derived step in order. `text_vectors`: the corpus's vectors (a
        VectorSource), when the texts changed or are derived anew; without them the text parts are
        carried. `image_vectors`: a source the writer already loaded. `rebuild`: every derived
        part built anew (reindex). A repair's commit names what it set aside (`drop`) and, with
        `defer`, leaves every derived part that would change to the command's own commit.
        `options`: the writer's, for the steps (index_type, max_index_memory)."""
        if isinstance(texts, pa.Table) and text_vectors is None:
            raise ValueError("a commit that records a new corpus gives its vectors (text_vectors)")
        store, manifest = self.store, self.manifest
        table = self.previous if images is None else images
        self.live = np.unique(int64_column(table, "id"))
        corpus = self._texts_before() if texts is CARRY else TEXTS_SCHEMA.empty_table() if texts is DROP else texts
        items = {
            "images": Items(self.live, np.unique(int64_column(self.previous, "id")), image_vectors or
                            ShardVectors(store.vectors(self.model.embed_dim), self.live, store.name)),
            "texts": Items(int64_column(corpus, "id"), int64_column(self._texts_before(), "id"), text_vectors),
        }
        recorded = {"images": images, "errors": errors, "texts": texts}
        errors_now = self.previous_errors if errors is None else errors
        change = Change(store, manifest, self.model, items, {"images": table, "errors": errors_now, "texts": corpus},
                        rebuild, options)
        try:
            for step in STEPS:
                subject = items[step.subject]
                if step.key in drop or recorded[step.subject] is DROP or (defer and (rebuild or subject.changed)):
                    change.derived[step.key] = DROP
                elif subject.vectors is None:
                    change.derived[step.key] = CARRY
                else:
                    change.derived[step.key] = step.derive(change)
                self.lap(step.phase)
            manifest.counts = {"images": len(table), "vectors": len(self.live), "errors": len(errors_now),
                               "texts": len(corpus)}
            store.commit(manifest, **recorded, **change.derived)
        finally:
            change.derived.clear()  # a part mapped from a work folder lets go of its files first
            for path in change.scratches:
                shutil.rmtree(path, ignore_errors=True)
        self.manifest = manifest
        self.previous = table
        if errors is not None:
            self.previous_errors = errors
        return manifest

    def _texts_before(self) -> pa.Table:
        """The corpus as it was (none when a repair found it damaged)."""
        try:
            return self.store.texts() if self.store.exists() else TEXTS_SCHEMA.empty_table()
        except CollectionFormatError:
            return TEXTS_SCHEMA.empty_table()

    # --- after the commit ---------------------------------------------------------------------------
    def compact(self, stored_ids: int, token_store=None) -> bool:
        """Merge shards (and token parts) into one, dropping dead vectors, when there are many or
        enough of them is dead (`stored_ids`: vector rows now in the shards). After the commit: a
        crash here loses nothing. Skipped while a root is unreachable: a repair that ran without it
        left its photos out of the images table but kept their vectors, which a compaction would
        drop (pipeline/repair.py)."""
        return compact_if_due(self.store, self.live, stored_ids, token_store)

    def export_text(self) -> None:
        """Export the text tower once per model, so later text queries skip PyTorch; a failure only
        means they keep using PyTorch."""
        exports = self.model.exports
        if not exports.text_ready():
            try:
                exports.export_text()
            except Exception:  # pragma: no cover - the PyTorch path still serves text queries
                pass
        self.lap("export")


def compact_if_due(store: CollectionStore, live_ids: np.ndarray, stored_ids: int, token_store=None) -> bool:
    """See Transaction.compact."""
    vectors = store.vectors()
    if len(vectors.shards()) <= COMPACT_SHARDS and stored_ids <= (1 + COMPACT_DEAD_FRACTION) * max(1, len(live_ids)):
        return False
    if any(not _reachable(root) for root in store.manifest.roots):
        return False
    vectors.compact(live_ids)
    if token_store is not None:
        token_store.compact(live_ids)
    return True


def _reachable(root: str) -> bool:
    try:
        return Path(root).is_dir()  # manifest roots are the OS's names (surrogate escapes for odd bytes)
    except (OSError, ValueError):
        return False
