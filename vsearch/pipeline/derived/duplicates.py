"""The near-duplicate pairs as a derived table (`duplicates-<gen>.parquet`, store/tables.py
DUPLICATES_SCHEMA): every pair of contents that a rule of vsearch/duplicates may call the same photo,
with what each signal says of it. The groups are made from them when read (search/duplicates.py),
at whatever threshold is asked.

An ingest searches only the photos it adds (their vectors in the new index, their hashes among all
the collection's) and drops the pairs of the photos it removes, streaming the stored pairs into
the new table (an update costs what its photos cost, not what the collection holds); a new collection, an ingest that
more than doubles one, and `vsearch reindex` find them all, streaming the shards (bounded memory:
vsearch/duplicates/rows.py) and writing the pairs a block of photos at a time.
"""
from __future__ import annotations

from typing import Callable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ...duplicates import Batch, find_new_pairs
from ...duplicates.find import pair_blocks
from ...duplicates.pairs import Pairs, StreamedPairs, WrittenPairs, from_table, write_blocks
from ...duplicates.pixels import seen_shapes
from ...imaging.signature import SIDE
from ...store.tables import DUPLICATES_SCHEMA, int64_column, numpy_column
from ..decode import video_id
from .index import ImageIndex
from .sources import ShardVectors
from .step import CARRY, Change, DerivedStep

SIGNATURE_COLUMNS = ("thumb", "width", "height", "orientation", "digest", "frame_ms")
REBUILD_SHARE = 0.5  # more new photos than this share of the collection: all pairs are found anew


class Duplicates(DerivedStep):
    key = "duplicates"
    subject = "images"
    schema = DUPLICATES_SCHEMA
    phase = "duplicates"
    what = "the near-duplicate pairs"

    def derive(self, change: Change) -> WrittenPairs | StreamedPairs | None:
        items = change.items["images"]
        stored = self._stored(change)
        if stored is not None and not items.changed:
            return CARRY
        dim = change.model.embed_dim
        shards = ShardVectors(change.store.vectors(dim), items.live, change.store.name)
        if stored is None or len(items.added) > REBUILD_SHARE * len(items.live):
            batches = (as_batch(ids, vecs, cols) for ids, vecs, cols in shards.rows(SIGNATURE_COLUMNS))
            work = change.scratch("pairs")
            work.mkdir()
            return write_blocks(pair_blocks(batches, len(items.live), dim, workdir=change.store.folder),
                                work / "pairs.parquet")
        new = Pairs.empty()
        if len(items.added):
            index = change.part(ImageIndex())
            ids, hashes, valid = _hashes(change.tables["images"])

            def lookup(wanted: np.ndarray) -> Batch:
                return _stored(change, items.vectors, wanted)

            def touching(photos: np.ndarray) -> Pairs:
                return Pairs.concat_all([p.touching(photos) for p in stored()])

            new = find_new_pairs(lookup(items.added), index.search, ids, hashes, valid, lookup, stored=touching,
                                 workdir=change.store.folder)
        return StreamedPairs(stored, new)  # each new pair holds an added photo, which no stored one does

    def _stored(self, change: Change) -> Callable[[], Iterator[Pairs]] | None:
        """The previous generation's pairs, those of removed photos left out, a batch at a time (None
        when it has none, or `vsearch reindex` finds them anew)."""
        if change.rebuild or not change.store.exists() or not change.store.manifest.files.get(self.key):
            return None
        removed = change.items["images"].removed

        def batches() -> Iterator[Pairs]:
            for b in change.store.table_batches(self.key, self.schema):
                yield from_table(pa.Table.from_batches([b])).without(removed)
        return batches


def as_batch(ids: np.ndarray, vecs: np.ndarray, cols: pa.Table) -> Batch:
    """A Batch from shard rows: the thumbnails (null: a photo stored before signatures) and shapes."""
    thumb = cols.column("thumb").combine_chunks()
    has = numpy_column(pa.table({"x": pc.is_valid(thumb).cast(pa.int8())}), "x", np.int8).astype(bool)
    raw = np.frombuffer(thumb.buffers()[1], np.uint8, count=(len(thumb) + thumb.offset) * SIDE * SIDE) \
        if thumb.buffers()[1] is not None else np.zeros((len(thumb) + thumb.offset) * SIDE * SIDE, np.uint8)
    thumbs = raw[thumb.offset * SIDE * SIDE:].reshape(len(thumb), SIDE, SIDE)
    size = {c: numpy_column(pa.table({"x": pc.fill_null(cols.column(c).cast(pa.float64()), 0.0)}), "x", np.float64)
            for c in ("width", "height", "orientation")}
    return Batch(ids, vecs, thumbs, seen_shapes(size["width"], size["height"], size["orientation"]), has,
                 _sources(ids, cols))


def _sources(ids: np.ndarray, cols: pa.Table) -> np.ndarray:
    """Each row's source (duplicates/rows.py): a video's frame (it has a time) that of its video,
    by the digest all its frames share; any other picture its own id."""
    source = np.asarray(ids, np.int64).copy()
    frames = np.flatnonzero(pc.is_valid(cols.column("frame_ms")).to_numpy(zero_copy_only=False))
    if len(frames):
        digests = cols.column("digest").take(pa.array(frames)).to_pylist()
        source[frames] = [video_id(d) for d in digests]
    return source


def _stored(change: Change, vectors, ids: np.ndarray) -> Batch:
    """The Batch of stored photos `ids`: vectors from the commit's source, signatures from the shards."""
    ids = np.unique(np.asarray(ids, np.int64))
    _, vecs = vectors.load(ids)
    cols = change.store.vectors(change.model.embed_dim).select(ids, list(SIGNATURE_COLUMNS))
    order = np.argsort(int64_column(cols, "id"))
    return as_batch(ids, vecs, cols.take(pa.array(order)))


def _hashes(images: pa.Table) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(every content id, its pHash, whether it has one): from the images table."""
    ids = int64_column(images, "id")
    uniq, first = np.unique(ids, return_index=True)
    col = images.column("phash").take(pa.array(first))
    valid = numpy_column(pa.table({"x": pc.is_valid(col).cast(pa.int8())}), "x", np.int8).astype(bool)
    return uniq, numpy_column(pa.table({"x": pc.fill_null(col, 0)}), "x", np.int64), valid
