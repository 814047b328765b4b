"""A file's words as search and filters read them: what its content says (the images table's word
columns, stored with the vectors: store/tables.py WORD_FIELDS) with its `.xmp` sidecar's merged in.
The sidecar's title and description win (a catalogue writes later edits there); keywords, people
and places are the content's followed by the sidecar's. Column-wise, in Arrow: the filter view of
a million rows is made without a Python loop."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .tables import WORD_FIELDS

SIDECAR = "sidecar"
MERGED = tuple(name for name, _ in WORD_FIELDS if name != "ocr")   # the fields a sidecar also holds


def merged_words(images: pa.Table) -> pa.Table:
    """`images` (row order kept) with each word column merged with its sidecar's, and the sidecar
    column itself left out: the table `--where` reads (`list_contains(keywords, 'beach')`)."""
    if SIDECAR not in images.column_names:
        return images
    side = images.column(SIDECAR)
    rest = images.drop_columns([SIDECAR])
    if side.null_count == len(side) or not all(n in images.column_names for n in MERGED):
        return rest
    side = side.combine_chunks()
    for name in MERGED:
        own = images.column(name).combine_chunks()
        theirs = pc.struct_field(side, name)  # null where the row has no sidecar
        value = pc.coalesce(theirs, own) if pa.types.is_string(own.type) else _union(own, theirs)
        rest = rest.set_column(rest.schema.get_field_index(name), rest.schema.field(name), value)
    return rest


def _union(a: pa.Array, b: pa.Array) -> pa.Array:
    """Each row's list `a` followed by its list `b` (null only where both are)."""
    if b.null_count == len(b):
        return a
    parents = np.concatenate([pc.list_parent_indices(a).to_numpy(), pc.list_parent_indices(b).to_numpy()])
    values = pa.concat_arrays([pc.list_flatten(a), pc.list_flatten(b)])
    order = np.argsort(parents, kind="stable")
    offsets = np.zeros(len(a) + 1, dtype=np.int32)
    np.cumsum(np.bincount(parents, minlength=len(a)), out=offsets[1:])
    missing = pc.and_(pc.is_null(a), pc.is_null(b))
    return pa.ListArray.from_arrays(pa.array(offsets), values.take(pa.array(order)), type=a.type, mask=missing)


def merged_row(row: dict) -> dict:
    """One images row (a dict) as `merged_words` makes it: its words merged with its sidecar's, and
    `sidecar` saying whether it has one."""
    side = row.get(SIDECAR)
    out = {k: v for k, v in row.items() if k != SIDECAR}
    if side:
        for name in MERGED:
            mine, theirs = row.get(name), side.get(name)
            if isinstance(theirs, list):
                seen = {v.casefold() for v in mine or []}
                out[name] = list(mine or []) + [v for v in theirs if v.casefold() not in seen]
            elif theirs:
                out[name] = theirs
    if SIDECAR in row:
        out[SIDECAR] = bool(side)
    return out


def word_counts(images: pa.Table) -> dict[str, int]:
    """How many files have words (`vsearch info`): described by their owner (a title, description
    or keywords, their sidecar's included), with a sidecar, never read (stored before format 4 or
    imported: the next ingest reads them), looked at by OCR, and with text found."""
    if "keywords" not in images.column_names or not len(images):
        return {}
    m = merged_words(images)
    described = pc.or_kleene(pc.or_kleene(pc.is_valid(m["title"]), pc.is_valid(m["description"])),
                              pc.greater(pc.fill_null(pc.list_value_length(m["keywords"]), 0), 0))
    ocr = images["ocr"]
    return {"described": int(pc.sum(pc.fill_null(described, False)).as_py() or 0),
            "sidecars": len(images) - images[SIDECAR].null_count,
            "unread": images["keywords"].null_count,
            "ocr_looked": len(images) - ocr.null_count,
            "with_text": int(pc.sum(pc.greater(pc.fill_null(pc.utf8_length(ocr), 0), 0)).as_py() or 0)}
