"""Which file of a group to keep: the original over its exports, by rules a person can check.

Files are ordered by, in turn (the first that tells two files apart decides):
1. the larger picture (width x height): an export or a crop is smaller than what it came from;
2. more metadata (EXIF capture date, camera): editors and converters drop it, cameras write it;
3. the earlier capture date (EXIF), then 4. the earlier file time: the original came first;
5. the larger file (at the same size in pixels, less compression);
6. the first by folder and name, so the choice never depends on anything but the files.
Nothing is ever deleted or moved: the keeper is a suggestion, with the rule that decided it.
"""
from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..store.tables import int64_column, numpy_column

RULES = ("larger picture", "more metadata", "earlier capture date", "earlier file time", "larger file",
         "first by path")
_LATE = np.iinfo(np.int64).max


def _ints(table: pa.Table, name: str, fill: int) -> np.ndarray:
    col = table.column(name)
    if pa.types.is_timestamp(col.type):
        col = col.cast(pa.timestamp("s")).cast(pa.int64())
    return numpy_column(pa.table({"x": pc.fill_null(col.cast(pa.int64()), fill)}), "x", np.int64)


def _present(table: pa.Table, name: str) -> np.ndarray:
    return numpy_column(pa.table({"x": pc.is_valid(table.column(name)).cast(pa.int8())}), "x", np.int8).astype(np.int64)


def sort_keys(table: pa.Table) -> list[np.ndarray]:
    """One array per rule, smaller is better, in RULES order (rows of an images table)."""
    pixels = _ints(table, "width", 0) * _ints(table, "height", 0)
    metadata = _present(table, "taken_at") + _present(table, "camera")
    by_path = pc.sort_indices(table.select(["root", "path"]), sort_keys=[("root", "ascending"), ("path", "ascending")])
    by_name = np.empty(len(table), np.int64)
    by_name[numpy_column(pa.table({"x": by_path.cast(pa.int64())}), "x", np.int64)] = np.arange(len(table))
    return [-pixels, -metadata, _ints(table, "taken_at", _LATE), _ints(table, "mtime_ns", _LATE),
            -_ints(table, "bytes", 0), by_name]


def file_order(table: pa.Table) -> np.ndarray:
    """Row numbers of the table, the file to keep first."""
    return np.lexsort(sort_keys(table)[::-1])


def id_ranks(table: pa.Table) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ids ascending, each id's rank: the place of its best file in file_order, the row of that
    file). A content's rank is that of its best file, since identical files share one vector."""
    order = file_order(table)
    ids = int64_column(table, "id")[order]
    uniq, first = np.unique(ids, return_index=True)  # first: the place of each id's best file
    return uniq, first.astype(np.int64), order[first]


def deciding_rule(table: pa.Table, keeper: int, other: int) -> tuple[str, str]:
    """(the rule that puts row `keeper` before row `other`, the two values it compared, shown)."""
    rows = table.take(pa.array([keeper, other], pa.int64()))
    keys = sort_keys(rows)
    for rule, key in zip(RULES, keys):
        if key[0] != key[1]:
            return rule, _shown(rule, rows)
    return RULES[-1], ""


def _shown(rule: str, rows: pa.Table) -> str:
    r = rows.to_pylist()
    if rule == "larger picture":
        return " vs ".join(f"{x['width']}x{x['height']}" for x in r)
    if rule == "more metadata":
        return " vs ".join(", ".join(k for k in ("taken_at", "camera") if x.get(k) is not None) or "none" for x in r)
    if rule == "earlier capture date":
        return " vs ".join(str(x["taken_at"]) if x["taken_at"] is not None else "none" for x in r)
    if rule == "earlier file time":
        return " vs ".join(datetime.fromtimestamp(x["mtime_ns"] / 1e9, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
                           for x in r)
    if rule == "larger file":
        return " vs ".join(f"{x['bytes']:,} bytes" for x in r)
    return ""
