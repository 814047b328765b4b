"""The collection's image index at a commit: changed in place where that is enough, built anew
(auto's choice, tuned and measured: vsearch/index/auto.py) where it is not.

Ingest hands over the live vectors; an index of the kind asked for takes the new ones and drops
the removed ones without a rebuild, unless `rebuild_due` says the result would be worse than a
new build (too many removed entries, IVF lists trained for far fewer vectors, or, for an auto
collection, a size at which auto would choose another kind). The manifest's `index` record says
what was chosen, why, and the recall measured against exact search."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import CollectionFormatError
from ..index import VectorIndex, choose_and_build, rebuild_due
from ..store.collection import CollectionStore
from ..store.manifest import Manifest

def requested_kind(manifest: Manifest, index_type: str | None) -> str:
    """What `--index` asked for, else what the collection asked for before, else auto."""
    return index_type or manifest.index.get("requested") or "auto"


def index_for_commit(store: CollectionStore, manifest: Manifest, ids: np.ndarray, vecs: np.ndarray,
                     index_type: str | None = None, max_memory: int | None = None, hubness=None,
                     rebuild: bool = False) -> tuple[VectorIndex | None, dict[str, Any]]:
    """(index over exactly `ids`, the manifest's new `index` record); the index is None when the
    previous generation's serves unchanged (the commit carries it over). `rebuild` forces a new
    build (reindex); otherwise the previous index is updated when it can be. A new build sizes
    the kind's parameters to the vectors and tunes its search knob (nothing is carried over from
    an index built for another size)."""
    requested = requested_kind(manifest, index_type)
    max_memory = max_memory or manifest.index.get("max_memory")
    old = manifest.index
    if not rebuild and manifest.generation > 0 and requested == old.get("requested") and not store.index_is_legacy():
        updated = _updated(store, old, ids, vecs, max_memory)
        if updated is not None:
            return updated
    index, measured = choose_and_build(
        ids, vecs, requested, max_memory=max_memory,
        text_queries=None if hubness is None else hubness.texts,
        image_queries=None if hubness is None else hubness.images)
    return index, {**measured, "type": index.kind, "params": dict(index.params), "requested": requested,
                   "max_memory": max_memory, "updates": 0}


def _updated(store: CollectionStore, old: dict[str, Any], ids: np.ndarray, vecs: np.ndarray,
             max_memory: int | None) -> tuple[VectorIndex | None, dict[str, Any]] | None:
    """The previous index with the removed ids taken out and the new ones added, or None when a
    new build is due (or the previous index cannot be read: the build replaces it)."""
    try:
        index = store.index()
    except CollectionFormatError:
        return None
    present = index.lookup(ids) >= 0
    stored = np.asarray(index.idmap.ids)
    gone = np.setdiff1d(stored[stored >= 0], ids, assume_unique=False)
    if not len(gone) and present.all():
        return None, old
    index.remove(gone)
    if (~present).any():
        index.add(ids[~present], vecs[~present])
    if rebuild_due(index, old, max_memory) is not None:
        return None
    return index, {**old, "type": index.kind, "params": dict(index.params), "updates": old.get("updates", 0) + 1,
                   "live": index.ntotal}
