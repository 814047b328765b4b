"""Near pairs: two stored photos (content ids) close enough that they may be the same photo, with
what each signal says about them. The groups are made from them at any threshold, so the pairs
are what a collection keeps (pipeline/derived), and what an ingest updates.

A pair is kept when either signal finds it: the vectors (cosine >= PAIR_FLOOR, among each photo's
K nearest) or the perceptual hashes (at most HASH_BITS bits apart). The values below were chosen on
Flickr8k dev and train photos (benchmarks/duplicates.py); test photos only report them. For each kept pair:
`similarity` (the cosine of the two vectors), `hash_bits` (how many of the 64 pHash bits differ;
-1 when a photo has no pixel signature) and `window` (the best NCC of one thumbnail as a window of
the other, duplicates/pixels.py; NaN where no rule needs it: the hashes already agree, the cosine
is under PAIR_FLOOR, or a photo has no thumbnail; NOT_MEASURED where it was needed but the pair is
not among either photo's WINDOW_NEIGHBOURS nearest such pairs, which bounds the matching to a few
a photo however crowded its neighbourhood: such a pair is not the same photo unless its hashes
agree). Pairs that no rule can call the same photo are not kept: a window match under
KEEP_WINDOW (or not measured) with hashes that do not agree; so what a collection stores grows with
its near copies, not with how crowded its photos' neighbourhoods are.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from itertools import chain
from typing import Callable, Iterable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..store.tables import DUPLICATES_SCHEMA, numpy_column

K = 16              # a photo's nearest vectors looked at: more near copies than this of one photo are found in part
PAIR_FLOOR = 0.75   # the lowest cosine a pair is kept at (the lowest threshold one may ask for) and a crop looked for at
HASH_BITS = 8       # pHashes this close say "the same picture" (re-saved, resized, re-toned, blurred)
HASH_GATE = 0.30    # ... when the vectors do not disagree outright (two flat pictures hash alike)
CROP_MATCH = 0.89   # a window match this good (and a cosine of PAIR_FLOOR) says "a crop of the same picture"
WINDOW_NEIGHBOURS = 4   # window matches a photo asks for at most: with its nearest photos that need one
NOT_MEASURED = -1.0
KEEP_WINDOW = 0.60  # the lowest window match any rule may ask for (groups.Rule's alike and crop_match)


@dataclass
class Pairs:
    a: np.ndarray            # int64 content ids, a < b
    b: np.ndarray
    similarity: np.ndarray   # float32 cosine
    hash_bits: np.ndarray    # int16, -1: unknown
    window: np.ndarray       # float32, NaN: not measured

    @classmethod
    def empty(cls) -> "Pairs":
        return cls(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32),
                   np.zeros(0, np.int16), np.zeros(0, np.float32))

    @classmethod
    def of(cls, a, b, similarity, hash_bits=None, window=None, unique: bool = False) -> "Pairs":
        """Pairs in either order, each once (the first of repeats is kept), sorted by (a, b).
        `unique`: the caller knows each pair comes once (and never a photo with itself), so
        only the sort is done, one column at a time (a collection's pairs may be many)."""
        a, b = np.asarray(a, np.int64), np.asarray(b, np.int64)
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        n = len(lo)
        bits = np.full(n, -1, np.int16) if hash_bits is None else np.asarray(hash_bits, np.int16)
        win = np.full(n, np.nan, np.float32) if window is None else np.asarray(window, np.float32)
        sim = np.asarray(similarity, np.float32)
        if unique:
            order = np.lexsort((hi, lo))
            lo, hi, sim, bits, win = lo[order], hi[order], sim[order], bits[order], win[order]
            return cls(lo, hi, sim, bits, win)
        keep = lo != hi
        out = cls(lo[keep], hi[keep], sim[keep], bits[keep], win[keep])
        return out._unique()

    @classmethod
    def concat_all(cls, parts: list["Pairs"]) -> "Pairs":
        """Sets with no pair in common, as one (sorted)."""
        if not parts:
            return cls.empty()
        return cls.of(*(np.concatenate([getattr(p, f) for p in parts]) for f in FIELDS), unique=True)

    def __len__(self) -> int:
        return len(self.a)

    def _unique(self) -> "Pairs":
        order = np.lexsort((self.b, self.a))
        a, b = self.a[order], self.b[order]
        first = np.ones(len(a), bool)
        first[1:] = (a[1:] != a[:-1]) | (b[1:] != b[:-1])
        return self.take(order[first])

    def take(self, rows: np.ndarray) -> "Pairs":
        return Pairs(self.a[rows], self.b[rows], self.similarity[rows], self.hash_bits[rows], self.window[rows])

    def concat(self, other: "Pairs") -> "Pairs":
        """Both sets, a pair in both once (this one's values kept)."""
        return Pairs.of(*(np.concatenate([getattr(self, f), getattr(other, f)]) for f in FIELDS))

    def without(self, ids: np.ndarray) -> "Pairs":
        """The pairs whose photos are both absent from `ids`."""
        if not len(ids) or not len(self):
            return self
        ids = np.asarray(ids, np.int64)
        return self.take(np.flatnonzero(~(np.isin(self.a, ids) | np.isin(self.b, ids))))

    def touching(self, ids: np.ndarray) -> "Pairs":
        """The pairs holding a photo of `ids`."""
        ids = np.asarray(ids, np.int64)
        return self.take(np.flatnonzero(np.isin(self.a, ids) | np.isin(self.b, ids)))

    def ids(self) -> np.ndarray:
        return np.unique(np.concatenate([self.a, self.b]))


FIELDS = ("a", "b", "similarity", "hash_bits", "window")


def to_table(pairs: Pairs) -> pa.Table:
    """The stored form (store/tables.py DUPLICATES_SCHEMA): a pair's ids as `id` and `other`, a
    window match that no rule needed as null."""
    cols = [getattr(pairs, f) for f in FIELDS]
    cols[-1] = pa.array(pairs.window, mask=np.isnan(pairs.window))
    return pa.table(cols, schema=DUPLICATES_SCHEMA)


class StreamedPairs:
    """A collection's pairs after an update, as a commit part written a batch at a time: the stored
    ones (`stored()`: their batches, those of removed photos left out) and then the `new` ones,
    each batch sorted. Never all in memory, so an update's cost is that of the photos it adds."""

    def __init__(self, stored: Callable[[], Iterator[Pairs]], new: Pairs):
        self.stored, self.new = stored, new

    def write_parquet(self, path) -> None:
        _write(chain(self.stored(), [self.new]), path)


class WrittenPairs:
    """A collection's pairs already written to a work file on the collection's filesystem (a
    full search writes each block as it comes), as a commit part: moved into place."""

    def __init__(self, path):
        self.path = path

    def write_parquet(self, path) -> None:
        os.replace(self.path, path)


def write_blocks(blocks: Iterable[Pairs], path) -> WrittenPairs:
    """Pairs handed over a block at a time, written to `path` as they come."""
    _write(blocks, path)
    return WrittenPairs(path)


def _write(parts: Iterable[Pairs], path) -> None:
    with pq.ParquetWriter(path, DUPLICATES_SCHEMA, compression="zstd") as out:
        for part in parts:
            if len(part):
                out.write_table(to_table(part))


def from_table(table: pa.Table) -> Pairs:
    cols = [numpy_column(table, f.name, f.type.to_pandas_dtype()) for f in list(DUPLICATES_SCHEMA)[:-1]]
    window = pa.table({"w": pc.fill_null(table.column("window"), np.nan)})
    return Pairs(*cols, numpy_column(window, "w", np.float32))
