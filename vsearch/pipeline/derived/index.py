"""The collection's indexes as derived steps: the image index (changed in place where that is
enough, built anew — auto's choice, tuned and measured: vsearch/index/auto.py — where it is not)
and the texts index (a flat index over the corpus).

A commit hands over the live ids; an image index of the kind asked for takes the new ones and
drops the removed ones without a rebuild, unless `rebuild_due` says the result would be worse than
a new build (too many removed entries, IVF lists trained for far fewer vectors, or, for an auto
collection, a size at which auto would choose another kind). The manifest's `index` record says
what was chosen, why, and the recall measured against exact search."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ...errors import CollectionFormatError
from ...index import KINDS, VectorIndex, build_index, choose_and_build, choose_and_build_chunks, load_index, rebuild_due
from ...index.auto import rebuild_due_at
from ...index.build import build_from_chunks
from ...index.ivf import IVFIndex
from ...index.ivfupdate import update_into
from ...store.collection import CollectionStore
from ...store.manifest import IndexRecord, Manifest
from .sources import ShardVectors
from .step import CARRY, DROP, Change, DerivedStep, Items


def requested_kind(manifest: Manifest, index_type: str | None) -> str:
    """What `--index` asked for, else what the collection asked for before, else auto."""
    return index_type or manifest.index.requested or "auto"


class ImageIndex(DerivedStep):
    key = "index"
    subject = "images"
    phase = "index"

    def derive(self, change: Change) -> VectorIndex | None:
        index, change.manifest.index = index_for_commit(
            change.store, change.manifest, change.items["images"], change.options.get("index_type"),
            change.options.get("max_index_memory"), change.model.hubness, rebuild=change.rebuild,
            scratch=change.scratch("index"), build=change.options.get("index_build"))
        return CARRY if index is None else mapped(index, change)

    def read(self, store: CollectionStore) -> VectorIndex:
        return store.index()


class TextsIndex(DerivedStep):
    key = "texts_index"
    subject = "texts"

    def derive(self, change: Change) -> VectorIndex | bool:
        items = change.items["texts"]
        if not len(items.live):
            return DROP
        return build_index("flat", *items.vectors.load())

    def read(self, store: CollectionStore) -> VectorIndex:
        return store.texts_index()


MAP_FROM_BYTES = 64 << 20  # an index built in memory larger than this is saved and mapped at once


def mapped(index: VectorIndex, change: Change) -> VectorIndex:
    """The index saved in a work folder and mapped back (the commit hard-links its files into
    place), so that the steps after this one do not hold it in memory beside their own work; a
    small or already mapped index as it is."""
    if index.mmapped or index.memory_bytes() < MAP_FROM_BYTES:
        return index
    folder = change.scratch("index-built")
    index.save(folder)
    return load_index(folder, mmap=True)


def index_for_commit(store: CollectionStore, manifest: Manifest, items: Items, index_type: str | None = None,
                     max_memory: int | None = None, hubness=None, rebuild: bool = False,
                     scratch: Path | None = None, build=None) -> tuple[VectorIndex | None, IndexRecord]:
    """(index over exactly the live ids, the manifest's new `index` record); the index is None when
    the previous generation's serves unchanged (the commit carries it over). `rebuild` forces a new
    build (reindex); otherwise the previous index is updated when it can be. A new build sizes the
    kind's parameters to the vectors and tunes its search knob (nothing is carried over from an
    index built for another size). Shard vectors are streamed into the build; `scratch`: a folder
    on the collection's filesystem where a large IVF index is built in parts merged on disk (the
    commit hard-links the result into place; the writer removes the folder after it). `build`:
    another builder of choose_and_build_chunks' (pipeline/ray_index.py RayBuild: on a cluster)."""
    requested = requested_kind(manifest, index_type)
    max_memory = max_memory or manifest.index.max_memory
    old = manifest.index
    if not rebuild and manifest.generation > 0 and requested == old.requested and not store.index_is_legacy():
        updated = _updated(store, old, items, max_memory, scratch)
        if updated is not None:
            return updated
    queries = {"text_queries": None if hubness is None else hubness.texts,
               "image_queries": None if hubness is None else hubness.images}
    if isinstance(items.vectors, ShardVectors):  # streamed: memory holds the index and one chunk
        index, measured = choose_and_build_chunks(items.vectors.as_chunks(), requested, max_memory=max_memory,
                                                  workdir=scratch, build=build or build_from_chunks, **queries)
    else:
        index, measured = choose_and_build(*items.vectors.load(), requested, max_memory=max_memory, **queries)
    return index, IndexRecord.from_json({**measured, "type": index.kind, "params": dict(index.params),
                                         "requested": requested, "max_memory": max_memory, "updates": 0})


def _updated(store: CollectionStore, old: IndexRecord, items: Items, max_memory: int | None,
             scratch: Path | None = None) -> tuple[VectorIndex | None, IndexRecord] | None:
    """The previous index with the removed ids taken out and the new ones added (only their
    vectors are read), or None when a new build is due (or the previous index cannot be read:
    the build replaces it). A large mapped IVF index is updated into a new folder in `scratch`
    without being read into memory (index/ivfupdate.py)."""
    ids = items.live
    dim = old.measured.get("dim")
    if old.type in KINDS and dim and rebuild_due_at(old.type, len(ids), dim, old.to_json(), max_memory):
        return None  # decided before the old index is read or changed (a 2M graph is 2.7 GB in memory)
    try:
        index = store.index()
    except CollectionFormatError:
        return None
    gone, new = differences(index, ids)
    if not len(gone) and not len(new):
        return None, old
    if scratch is not None and isinstance(index, IVFIndex) and index.mmapped and index.memory_bytes() >= MAP_FROM_BYTES:
        index = update_into(index, scratch / "updated", gone, new, items.vectors.chunks(new) if len(new) else ())
    else:
        index.remove(gone)
        if len(new):
            index.add(*items.vectors.load(new))
    if rebuild_due(index, old.to_json(), max_memory) is not None:
        return None
    return index, IndexRecord.from_json({**old.to_json(), "type": index.kind, "params": dict(index.params),
                                         "updates": old.updates + 1, "live": index.ntotal})


DIFF_BLOCK = 1 << 20  # ids compared at a time: the temporaries of a 10M comparison stay ~30 MB


def differences(index: VectorIndex, live: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(ids the index holds that are not live, live ids it does not hold), compared a block at a
    time (`live` ascending and unique), so that a commit on 10M vectors holds no 10M temporary."""
    new = [block[index.lookup(block) < 0] for block in _blocks(live)]
    gone = []
    for block in _blocks(np.asarray(index.idmap.ids)):
        held = block[block >= 0]
        at = np.minimum(np.searchsorted(live, held), max(len(live) - 1, 0))
        gone.append(held if not len(live) else held[live[at] != held])
    return (np.sort(np.concatenate(gone)) if gone else np.zeros(0, np.int64),
            np.concatenate(new) if new else np.zeros(0, np.int64))


def _blocks(a: np.ndarray):
    for start in range(0, len(a), DIFF_BLOCK):
        yield a[start:start + DIFF_BLOCK]
