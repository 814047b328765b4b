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
import pyarrow as pa
import pyarrow.compute as pc

from ..imaging.names import path_words
from .analysis import FIELDS, documents
from .index import KeywordIndex

_KEY = "_words_key"


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
        changed, self.gone = changed_ids(before if self.previous is not None else None, words)
        rows = words.filter(pc.is_in(words.column("id"), value_set=pa.array(sorted(changed), pa.int64())))
        self.docs = documents(rows.to_pylist())

    @property
    def unchanged(self) -> bool:
        return self.previous is not None and not self.docs and not self.gone

    def save(self, folder: str | Path) -> None:
        folder = Path(folder)
        if self.previous is None:
            KeywordIndex.build(folder, self.docs.items())
        else:
            KeywordIndex.update(self.previous, folder, self.docs.items(), self.gone)
        _fsync_all(folder)


def _fsync_all(folder: Path) -> None:
    for p in folder.iterdir():
        if p.is_file():
            fd = os.open(p, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)


def names_row(row: dict) -> dict:
    """The keyword fields of one images row (`id`, `path`): its folder and file-name words."""
    folder, filename = path_words(row["path"])
    return {"id": row["id"], "folder": folder, "filename": filename}


def names_words(images: pa.Table) -> pa.Table:
    """id + the keyword fields of each images row (`id`, `path`): its folder and file-name words."""
    rows = [names_row(r) for r in images.select(["id", "path"]).to_pylist()]
    cols = {f: pa.nulls(len(rows), pa.string()) for f in FIELDS}
    cols["folder"] = pa.array([r["folder"] for r in rows], pa.string())
    cols["filename"] = pa.array([r["filename"] for r in rows], pa.string())
    return pa.table({"id": images.column("id"), **cols})
