"""Where the derived steps get vectors (step.py VectorSource): the images' from the vector shards,
the texts' from memory (a corpus is encoded by its writer)."""
from __future__ import annotations

from typing import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ...errors import CollectionFormatError
from ...store.tables import int64_column
from ...store.vectors import VectorStore
from .step import CHUNK


class ShardVectors:
    """The live images' vectors in the shards. `load` reads them once for the whole commit (the
    steps of one commit share it); `chunks` streams them shard by shard instead."""

    def __init__(self, shards: VectorStore, live: np.ndarray, collection: str):
        self.shards = shards
        self.live = live
        self.collection = collection
        self._loaded: tuple[np.ndarray, np.ndarray, pa.Table] | None = None

    def loaded(self) -> tuple[np.ndarray, np.ndarray, pa.Table]:
        """(ids, vectors, content metadata) of every live id, read now if they were not."""
        if self._loaded is None:
            ids, vecs, meta = self.shards.load(self.live, signatures=False)
            if len(ids) != len(self.live):
                raise CollectionFormatError(f"{len(self.live) - len(ids)} rows of {self.collection!r} have no stored vector; "
                                            f"`vsearch reindex --collection {self.collection}` repairs the collection")
            self._loaded = ids, vecs, meta
        return self._loaded

    def load(self, ids: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        all_ids, vecs, _ = self.loaded()
        if ids is None:
            return all_ids, vecs
        return ids, vecs[np.searchsorted(all_ids, ids)]

    def chunks(self, ids: np.ndarray | None = None, size: int = CHUNK) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        if self._loaded is not None:
            wanted = self.live if ids is None else np.asarray(ids, dtype=np.int64)
            for i in range(0, len(wanted), size):
                yield self.load(wanted[i:i + size])
            return
        for got, vecs, _ in self.rows((), ids, size):
            yield got, vecs

    def rows(self, columns: tuple[str, ...], ids: np.ndarray | None = None,
             size: int = CHUNK) -> Iterator[tuple[np.ndarray, np.ndarray, pa.Table]]:
        """The same streamed from the shards with more of their `columns`: (ids, vectors, columns)."""
        wanted = self.live if ids is None else np.asarray(ids, dtype=np.int64)
        seen = np.zeros(len(wanted), dtype=bool)  # an id stored in two shards is given once
        for t in self.shards.tables(["id", "vector", *columns]):
            t = t.filter(pc.is_in(t["id"], value_set=pa.array(wanted, pa.int64())))
            if not len(t):
                continue
            got = int64_column(t, "id")
            uniq, first = np.unique(got, return_index=True)
            first = np.sort(first[~seen[np.searchsorted(wanted, uniq)]])
            seen[np.searchsorted(wanted, got[first])] = True
            t, got = t.take(pa.array(first)), got[first]
            for i in range(0, len(t), size):
                part = t.slice(i, size)
                yield got[i:i + size], self.shards.vectors_of(part), part.select(list(columns))
        if not seen.all():
            raise CollectionFormatError(f"{int((~seen).sum())} rows of {self.collection!r} have no stored vector; "
                                        f"`vsearch reindex --collection {self.collection}` repairs the collection")


class ArrayVectors:
    """Vectors held in memory (a text corpus, encoded by the writer)."""

    def __init__(self, ids: np.ndarray, vecs: np.ndarray):
        order = np.argsort(ids)
        self.ids, self.vecs = np.asarray(ids, dtype=np.int64)[order], np.asarray(vecs, dtype=np.float32)[order]

    def load(self, ids: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        if ids is None:
            return self.ids, self.vecs
        return ids, self.vecs[np.searchsorted(self.ids, ids)]

    def chunks(self, ids: np.ndarray | None = None, size: int = CHUNK) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        wanted = self.ids if ids is None else ids
        for i in range(0, len(wanted), size):
            yield self.load(wanted[i:i + size])
