"""Vectors handed to an index a chunk at a time, so that building, tuning and measuring an index
never needs every vector in memory at once.

A `VectorChunks` knows how many vectors it holds and their width, yields (ids, float32 vectors)
chunks in a fixed order, and draws a uniform random sample (the training set of IVF kinds).
`ArrayChunks` wraps arrays already in memory; a collection's vector shards provide their own
(store/vectors.py `ShardChunks`), which read one row group at a time.
"""
from __future__ import annotations

from typing import Iterator, Protocol

import numpy as np

CHUNK_ROWS = 65_536  # rows per chunk: 64 MB of float32 at d = 256


class VectorChunks(Protocol):
    n: int      # vectors in all
    dim: int

    def chunks(self, rows: int = CHUNK_ROWS) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(int64 ids [m], float32 vectors [m, dim]) of at most `rows` each, every vector once."""
        ...


class ArrayChunks:
    """Chunks of arrays held in memory (any float dtype: converted a chunk at a time)."""

    def __init__(self, ids: np.ndarray, vecs: np.ndarray):
        self.ids, self.vecs = np.asarray(ids, np.int64), vecs
        self.n, self.dim = vecs.shape

    def chunks(self, rows: int = CHUNK_ROWS) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for start in range(0, self.n, rows):
            yield self.ids[start:start + rows], np.ascontiguousarray(self.vecs[start:start + rows], dtype=np.float32)


def sample_rows(n: int, size: int, seed: int = 0) -> np.ndarray:
    """`size` distinct row numbers of n, ascending (all of them when size >= n): the same rows
    for the same (n, size, seed), whichever source holds the vectors."""
    if size >= n:
        return np.arange(n, dtype=np.int64)
    return np.sort(np.random.default_rng(seed).choice(n, size, replace=False)).astype(np.int64)


def sample(source: VectorChunks, size: int, seed: int = 0, rows: int = CHUNK_ROWS) -> np.ndarray:
    """float32 [min(size, n), dim]: the vectors at `sample_rows` of the chunks' order (one pass)."""
    want = sample_rows(source.n, size, seed)
    out = np.empty((len(want), source.dim), np.float32)
    got = start = 0
    for _, vecs in source.chunks(rows):
        end = start + len(vecs)
        take = want[np.searchsorted(want, start):np.searchsorted(want, end)]
        out[got:got + len(take)] = vecs[take - start]
        got += len(take)
        start = end
        if got == len(want):
            break
    if got != len(want):
        raise ValueError(f"the chunks held {start} vectors, not the {source.n} they declared")
    return out


def collect(source: VectorChunks, rows: int = CHUNK_ROWS) -> tuple[np.ndarray, np.ndarray]:
    """Every (id, vector), in memory: for small sources only (tests, tiny collections)."""
    ids = np.empty(source.n, np.int64)
    vecs = np.empty((source.n, source.dim), np.float32)
    at = 0
    for i, v in source.chunks(rows):
        ids[at:at + len(i)], vecs[at:at + len(i)] = i, v
        at += len(i)
    return ids[:at], vecs[:at]
