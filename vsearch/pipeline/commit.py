"""What an ingest records at its commit: the images table (the root's file rows with their content
metadata, beside the other roots' rows) and the errors table. The writer transaction commits them
with every derived part (pipeline/transaction.py); a repair rebuilds the images table with them."""
from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from ..store.spill import taken
from ..store.tables import CONTENT_META, ERRORS_SCHEMA, IMAGES_SCHEMA
from .results import Results


def images_table(results: Results, vectors, encoded: dict[int, dict] | None = None,
                 previous: pa.Table | None = None, folder: Path | None = None) -> pa.Table:
    """The new images table: the root's file rows with their content metadata, beside the other
    roots' rows, sorted by root and path. Rows carried over unchanged are taken as they are from
    `previous` (the last generation's table, in Arrow); only the rows read this run are built
    from Python and joined with their metadata, so the cost follows what changed. A large table
    is mapped from a file in `folder` (store/spill.py)."""
    plan = results.plan
    unchanged = {id(r) for r in plan.unchanged} if previous is not None else set()
    carried = [r for r in results.rows if id(r) in unchanged]
    fresh = [r for r in results.rows if id(r) not in unchanged]
    content = content_rows(results, fresh, vectors, encoded)
    for r in fresh:
        m = content.get(r["id"], {})
        for f in CONTENT_META:
            r[f] = m.get(f)
    parts = [plan.other_roots, pa.table({f.name: [r.get(f.name) for r in fresh] for f in IMAGES_SCHEMA},
                                        schema=IMAGES_SCHEMA)]
    if carried:
        kept = previous.filter(pc.equal(previous["root"], plan.root_key))  # tables hold the shown form
        parts.append(kept.filter(pc.is_in(kept["path"], value_set=pa.array([r["path"] for r in carried], pa.string())))
                     .cast(IMAGES_SCHEMA))
    table = with_updates(pa.concat_tables(parts), results.updates)
    return taken(table, pc.sort_indices(table.select(["root", "path"]),
                                        sort_keys=[("root", "ascending"), ("path", "ascending")]), folder)


def with_updates(table: pa.Table, updates: dict[int, dict]) -> pa.Table:
    """Every row of a content read again (its words, its text) given those fields, in any root."""
    if not updates or not len(table):
        return table
    hit = pc.is_in(table["id"], value_set=pa.array(sorted(updates), pa.int64()))
    if not pc.any(hit).as_py():
        return table
    rows = table.filter(hit).to_pylist()
    for r in rows:
        r.update(updates[r["id"]])
    return pa.concat_tables([table.filter(pc.invert(hit)), pa.Table.from_pylist(rows, schema=IMAGES_SCHEMA)])


def content_rows(results: Results, fresh: list[dict], vectors, encoded: dict[int, dict] | None = None) -> dict[int, dict]:
    """Content metadata (id -> row) of the `fresh` rows: from what this run encoded, else from the
    last generation's rows of the same content (a moved or copied file, in this root or another),
    else from the stored shards (content encoded by an interrupted run: only their small columns
    are read, and only then)."""
    content = {r["id"]: encoded[r["id"]] for r in fresh if encoded and r["id"] in encoded}
    wanted = {r["id"] for r in fresh} - content.keys()
    if wanted:
        content.update((r["id"], r) for rows in results.plan.previous.values() for r in rows if r["id"] in wanted)
        wanted -= content.keys()
    for source in ((lambda: results.plan.other_roots), lambda: vectors.read(columns=["id", *CONTENT_META])):
        if not wanted:
            break
        t = source()
        t = t.filter(pc.is_in(t["id"], value_set=pa.array(sorted(wanted), pa.int64())))
        content.update((m["id"], m) for m in t.select(["id", *CONTENT_META]).to_pylist())
        wanted -= content.keys()
    return content


def errors_table(results: Results, previous: pa.Table) -> pa.Table:
    root = results.plan.root_key
    keep = previous.filter(pc.not_equal(previous["root"], root)) if len(previous) else previous
    return pa.concat_tables([keep, pa.Table.from_pylist(results.errors, schema=ERRORS_SCHEMA)])
