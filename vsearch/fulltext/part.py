"""The keyword index as a collection part: what changed between two generations' words, and the
object a commit writes as `keywords-<gen>/` (the previous generation's index updated in a new
folder, or a new one), so that the derived step that owns it stays a few lines.

The change is found in Arrow, not in Python loops: each file row's words are joined into one key,
and a content id is re-indexed when the set of its rows' keys differs (a new or removed file of it,
an edited sidecar, a move to another folder); ids no row holds any more are deleted.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..imaging.words import from_fields, merge, photo_words
from .analysis import FIELDS, documents
from .index import KeywordIndex

_KEY = "_words_key"
CHUNK_ROWS = 65_536  # images rows turned into documents at a time (bounded Python objects at any size)


def _keys(table: pa.Table) -> pa.Table:
    """(id, key) per row: the row's words, fields joined with a separator no text holds."""
    cols = [pc.fill_null(table.column(f), "") if f in table.column_names else pa.array([""] * len(table))
            for f in FIELDS]
    return pa.table({"id": table.column("id"), _KEY: pc.binary_join_element_wise(*cols, "\x1f")})


def changed_ids(before: pa.Table | None, after: pa.Table) -> tuple[set[int], set[int]]:
    """(ids whose words are new or differ, ids that are gone) from `before` to `after`."""
    new = _keys(after)
    if before is None:
        return set(new.column("id").to_pylist()), set()
    old = _keys(before)
    only_new = new.join(old, ["id", _KEY], join_type="left anti")
    only_old = old.join(new, ["id", _KEY], join_type="left anti")
    live = set(new.column("id").to_pylist())
    touched = set(only_new.column("id").to_pylist()) | set(only_old.column("id").to_pylist())
    return touched & live, touched - live


class KeywordPart:
    """A generation's keyword index to be written (`save(folder)`, as store.commit writes parts)."""

    def __init__(self, words: pa.Table, previous: Path | None = None, before: pa.Table | None = None):
        """`words`: the new generation's words table (id + FIELDS, one row per file); `previous`
        and `before`: the last generation's index folder and words table (None: build anew)."""
        self.previous = previous if previous is not None and before is not None else None
        self.words, ids = words, words.column("id").to_numpy()
        if self.previous is None:  # every row, with no set of ids (a new index may have millions)
            wanted, self.gone = np.arange(len(ids)), set()
        else:
            changed, self.gone = changed_ids(before, words)
            wanted = np.flatnonzero(np.isin(ids, np.fromiter(changed, np.int64, len(changed))))
        self.order = wanted[np.argsort(ids[wanted], kind="stable")]  # the rows to index, by id

    @property
    def unchanged(self) -> bool:
        return self.previous is not None and not len(self.order) and not self.gone

    @property
    def rows(self) -> pa.Table:
        return self.words.take(self.order)

    @property
    def docs(self) -> dict[int, dict[str, str]]:
        return dict(self._docs())

    def _docs(self) -> Iterator[tuple[int, dict[str, str]]]:
        """The documents to add, a chunk of rows at a time (rows of one id stay in one chunk)."""
        ids = self.words.column("id").to_numpy()[self.order]
        start = 0
        while start < len(ids):
            end = min(len(ids), start + CHUNK_ROWS)
            end = int(np.searchsorted(ids, ids[end - 1], "right"))  # the last id's rows all in this chunk
            yield from documents(self.words.take(self.order[start:end]).to_pylist()).items()
            start = end

    def save(self, folder: str | Path) -> None:
        folder = Path(folder)
        if self.previous is None:
            KeywordIndex.build(folder, self._docs())
        else:
            KeywordIndex.update(self.previous, folder, self._docs(), self.gone)
        _fsync_all(folder)


def _fsync_all(folder: Path) -> None:
    for p in folder.iterdir():
        if p.is_file():
            fd = os.open(p, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)


WORDS_SCHEMA = pa.schema([("id", pa.int64()), *[(f, pa.string()) for f in FIELDS]])
WORD_COLUMNS = ("id", "path", "title", "description", "keywords", "people", "places", "ocr", "sidecar")


def words_row(row: dict) -> dict:
    """The keyword fields of one images row (`id`, `path` and the word columns, any of them absent):
    its content's words with its sidecar's merged in (the sidecar's title and description win),
    its OCR text, its folder and file-name words."""
    own = merge(from_fields(row.get("sidecar")), from_fields(row))
    return {"id": row["id"], **photo_words(own, row["path"], row.get("ocr") or "")}


def words_parts(images: pa.Table) -> Iterator[pa.Table]:
    """id + the keyword fields (strings, "" when none) of each images row, CHUNK_ROWS rows at a time."""
    images = images.select([c for c in WORD_COLUMNS if c in images.column_names])
    for start in range(0, len(images), CHUNK_ROWS):
        rows = [words_row(r) for r in images.slice(start, CHUNK_ROWS).to_pylist()]
        yield pa.table({"id": pa.array([r["id"] for r in rows], pa.int64()),
                        **{f: pa.array([r[f] for r in rows], pa.string()) for f in FIELDS}}, schema=WORDS_SCHEMA)


def words_table(images: pa.Table) -> pa.Table:
    """words_parts as one table."""
    return pa.concat_tables([WORDS_SCHEMA.empty_table(), *words_parts(images)])
