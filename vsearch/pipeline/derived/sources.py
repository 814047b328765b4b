"""Where the derived steps get vectors (step.py VectorSource): the images' from the vector shards,
the texts' from memory (a corpus is encoded by its writer)."""
from __future__ import annotations

from typing import Iterator

import numpy as np
import pyarrow as pa

from ...errors import CollectionFormatError
from ...store.tables import int64_column
from ...store.vectors import ShardChunks, VectorStore
from .step import CHUNK


class ShardVectors:
    """The live images' vectors in the shards, read a row group at a time: `load(ids)` and
    `chunks(ids)` read only the shards' rows of those ids, `as_chunks()` hands every live vector to
    an index build (index/chunks.py) without holding them all, so a commit's memory is bounded by
    what it adds and one chunk, not by the collection. `load()` of every live id is for small
    collections (tests) only."""

    def __init__(self, shards: VectorStore, live: np.ndarray, collection: str):
        self.shards = shards
        self.live = live
        self.collection = collection

    def _missing(self, missing: int) -> CollectionFormatError:
        return CollectionFormatError(f"{missing} rows of {self.collection!r} have no stored vector; "
                                     f"`vsearch reindex --collection {self.collection}` repairs the collection")

    def as_chunks(self) -> ShardChunks:
        """Every live vector as VectorChunks (refused when a live id has no stored vector)."""
        source = self.shards.chunks(self.live)
        if source.n != len(self.live):
            raise self._missing(len(self.live) - source.n)
        return source

    def load(self, ids: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        wanted = self.live if ids is None else np.asarray(ids, dtype=np.int64)
        got = list(self.chunks(wanted))
        if not got:
            return np.zeros(0, np.int64), np.zeros((0, self.shards.dim), np.float32)
        all_ids, vecs = np.concatenate([g[0] for g in got]), np.concatenate([g[1] for g in got])
        order = np.argsort(all_ids, kind="stable")
        return all_ids[order], vecs[order]

    def chunks(self, ids: np.ndarray | None = None, size: int = CHUNK) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        wanted = self.live if ids is None else np.asarray(ids, dtype=np.int64)
        source = self.shards.chunks(wanted)
        if source.n != len(np.unique(wanted)):
            raise self._missing(len(np.unique(wanted)) - source.n)
        yield from source.chunks(size)

    def rows(self, columns: tuple[str, ...], ids: np.ndarray | None = None,
             size: int = CHUNK) -> Iterator[tuple[np.ndarray, np.ndarray, pa.Table]]:
        """The same as `chunks` with more of the shards' `columns`: (ids, vectors, columns)."""
        wanted = self.live if ids is None else np.asarray(ids, dtype=np.int64)
        source = self.shards.chunks(wanted)
        if source.n != len(np.unique(wanted)):
            raise self._missing(len(np.unique(wanted)) - source.n)
        for t in self.shards.batches(source.plan, ["id", "vector", *columns], size):
            yield int64_column(t, "id"), self.shards.vectors_of(t), t.select(list(columns))


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
