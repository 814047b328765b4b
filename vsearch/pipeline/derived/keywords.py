"""The keyword index (vsearch/fulltext) as a derived step: `keywords-<gen>/`, one Tantivy index over
each content's words: what the file embeds and its OCR text (the images table's word columns),
its sidecar's (merged in, store/words.py), its folder and file names (imaging/names.py: camera
names say nothing). Only contents whose rows changed are re-indexed: the rows that differ between
the previous and the new images table (path, content or any word) are found with Arrow joins, and
the previous generation's index is updated in a new folder (its segments hard-linked, never
changed). Built from the images table alone: a repair or `vsearch reindex` rebuilds it from the
stored words, never reading a photo."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ...errors import CollectionFormatError
from ...fulltext import KeywordIndex
from ...fulltext.part import WORDS_SCHEMA, KeywordPart, words_parts, words_table
from ...store.collection import CollectionStore, repair_hint
from ...store import spill
from .step import CARRY, DROP, Change, DerivedStep

_ROW = ("root", "path", "id", "title", "description", "keywords", "people", "places", "ocr", "sidecar")


def _touched(now: pa.Table, then: pa.Table) -> pa.Array:
    """Ids of the rows (file, content and words) that one table holds and the other does not.
    Each row is hashed (64 bits: DuckDB's hash of its columns, no string of the row is built) and
    the hashes compared as sets, so two tables of 10M rows cost 160 MB and seconds, where a join
    on the rows' words held gigabytes. Two different rows share a hash with odds of about
    n^2 / 2^64 (1 in 200,000 at 10M rows); the cost of one is a content not re-indexed."""
    ids_now, h_now = _row_hashes(now)
    ids_then, h_then = _row_hashes(then)
    ids = np.concatenate([ids_now[~np.isin(h_now, h_then)], ids_then[~np.isin(h_then, h_now)]])
    return pa.array(np.unique(ids), pa.int64())


def _row_hashes(images: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    import duckdb

    rows = images.select([c for c in _ROW if c in images.column_names])  # noqa: F841 (DuckDB reads it by name)
    con = duckdb.connect()
    try:
        got = con.execute(f"SELECT id, hash({', '.join(rows.column_names)}) AS h FROM rows").fetchnumpy()
    finally:
        con.close()
    return np.asarray(got["id"], np.int64), np.asarray(got["h"], np.uint64)


def _of_ids(images: pa.Table, ids: pa.Array) -> pa.Table:
    return images.filter(pc.is_in(images.column("id"), value_set=ids))


class Keywords(DerivedStep):
    key = "keywords"
    subject = "images"
    what = "the keyword index"
    until = "keyword and hybrid search find nothing until then"

    def derive(self, change: Change):
        images = change.tables["images"]
        previous = None if change.rebuild else self._previous_folder(change.store)
        before = None
        if previous is not None:
            try:
                before = change.store.images()
            except CollectionFormatError:
                previous = None
        if previous is None:
            if not len(images):
                return DROP
            big = len(images) > spill.SPILL_ROWS  # a new index of millions of photos: the words mapped, not held
            words = spill.spilled(words_parts(images), WORDS_SCHEMA, change.store.folder) if big else words_table(images)
            return KeywordPart(words)
        touched = _touched(images, before)
        if not len(touched):
            return CARRY
        part = KeywordPart(words_table(_of_ids(images, touched)), previous, words_table(_of_ids(before, touched)))
        return CARRY if part.unchanged else part

    def _previous_folder(self, store: CollectionStore):
        name = store.manifest.files.get(self.key) if store.exists() else None
        if not name or not (store.folder / name / "meta.json").is_file():
            return None
        try:
            KeywordIndex(store.folder / name)
        except CollectionFormatError:
            return None
        return store.folder / name

    def read(self, store: CollectionStore) -> KeywordIndex:
        """The generation's keyword index, opened and searched once (a damaged one cannot be)."""
        path = store.folder / store.manifest.files.get(self.key, "")
        try:
            index = KeywordIndex(path)
            len(index)  # opens every segment
            return index
        except (CollectionFormatError, OSError, ValueError) as e:
            raise CollectionFormatError(f"{path.name} of collection {store.name!r} is damaged or missing "
                                        f"({e.__cause__ or e}); {repair_hint(store.name)}") from e
