"""The Parquet tables of a collection (their schemas) and torch-free, pandas-free column access."""
from __future__ import annotations

from pathlib import Path
from contextlib import contextmanager
from typing import Iterable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from . import spill

WORD_LIST = pa.list_(pa.string())

# Format 4 (issue 26): the words a photo carries. What its file embeds (XMP, IPTC IIM: title,
# description, keywords, people, places; `keywords` null = never read, content stored by an older
# format or imported, which the next ingest reads) and the text OCR read in it (`ocr` null = not
# looked at; "" = looked, none found). Content data like its EXIF: stored in the vector shards.
WORD_FIELDS = [
    ("title", pa.string()),
    ("description", pa.string()),
    ("keywords", WORD_LIST),
    ("people", WORD_LIST),
    ("places", WORD_LIST),
    ("ocr", pa.string()),
]
WORD_META = tuple(name for name, _ in WORD_FIELDS)
# Format 4 (issue 26): a file's `.xmp` sidecar (null when it has none): what it says and its mtime,
# the scan's way to see it edited. File data: only in the images table.
SIDECAR_TYPE = pa.struct([("mtime_ns", pa.int64()), *[f for f in WORD_FIELDS if f[0] != "ocr"]])

# Content-derived metadata, stored with each vector and joined onto every file row: the one
# definition. Decoding fills these names from what vsearch.imaging reads (pipeline/decode.py), the
# shards, the Ray stages, commits and imports take them from here.
META_FIELDS = [
    ("width", pa.int32()),
    ("height", pa.int32()),
    ("taken_at", pa.timestamp("s")),
    ("camera", pa.string()),
    ("orientation", pa.int16()),
    ("lens", pa.string()),            # format 4: EXIF LensModel (photos, RAWs)
    ("frame_ms", pa.int64()),         # format 4: a video frame's time from the start of the video
    ("duration_ms", pa.int64()),      # format 4: a video's duration
    ("phash", pa.int64()),            # format 4: the picture's 64-bit perceptual hash (imaging/signature.py)
    *WORD_FIELDS,                     # format 4: the words it carries (issue 26)
]
CONTENT_META = tuple(name for name, _ in META_FIELDS)
# Stored with each vector but not joined onto file rows: the picture's 32 x 32 grey thumbnail
# (imaging/signature.py), 1 KB a photo, which only the near-duplicate pairs read. Format 4.
SIGNATURE_FIELDS = [("thumb", pa.binary(1024))]
CONTENT_FIELDS = ("id", "digest", *CONTENT_META, *(name for name, _ in SIGNATURE_FIELDS))  # a shard's row beside its vector

# `path`, `root` and `folder` are always valid UTF-8 (store/names.py); `raw_path` holds a path's
# bytes where they are not (format version 2; null otherwise). One row per (file, vector): a video
# has a row per sampled frame; `media` says what the file is (photo, raw, video; null: photo) and
# `companion` marks a file recorded under another file's picture (a RAW beside its JPEG, a Live
# Photo's video; format version 4, docs/FORMAT.md).
IMAGES_SCHEMA = pa.schema([
    ("id", pa.int64()), ("path", pa.string()), ("root", pa.string()), ("folder", pa.string()),
    ("digest", pa.string()), ("bytes", pa.int64()), ("mtime", pa.timestamp("us", tz="UTC")),
    ("mtime_ns", pa.int64()), *META_FIELDS, ("raw_path", pa.binary()), ("media", pa.string()),
    ("companion", pa.bool_()), ("sidecar", SIDECAR_TYPE),
])
MEDIA = ("photo", "raw", "video")
ERRORS_SCHEMA = pa.schema([("path", pa.string()), ("root", pa.string()), ("reason", pa.string()),
                           ("bytes", pa.int64()), ("mtime_ns", pa.int64())])
TEXTS_SCHEMA = pa.schema([("id", pa.int64()), ("text", pa.string()), ("source", pa.string())])
# Per-item hubness correction (models/hubness.py), added to cosine scores of cross-modal queries.
BIAS_SCHEMA = pa.schema([("id", pa.int64()), ("bias", pa.float32())])
# Near pairs of contents (vsearch/duplicates/pairs.py): id < other, their cosine, pHash bits apart
# (-1: unknown), window match (null: not needed; -1: not measured). The groups are made from them.
DUPLICATES_SCHEMA = pa.schema([("id", pa.int64()), ("other", pa.int64()), ("similarity", pa.float32()),
                               ("hash_bits", pa.int16()), ("window", pa.float32())])


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """`table` with `schema`'s columns in its order: a column an older format did not have is added as
    nulls (a version-1 images table has no `raw_path`), columns it does not know are dropped."""
    if table.schema.names == schema.names:
        return table
    cols = [table.column(f.name) if f.name in table.schema.names else pa.nulls(len(table), f.type) for f in schema]
    return pa.table(cols, schema=schema)


def images_table(columns: dict) -> pa.Table:
    """An images table from the given columns in IMAGES_SCHEMA's types; every column not given is
    null (so code that builds rows names only what it knows, whatever the format adds later)."""
    n = len(next(iter(columns.values())))
    return pa.table([pa.array(columns[f.name], f.type) if f.name in columns else pa.nulls(n, f.type)
                     for f in IMAGES_SCHEMA], schema=IMAGES_SCHEMA)


class DamagedTable(Exception):
    """Why a table file cannot be used."""


def read_checked(path: Path, schema: pa.Schema, conformed: bool = False) -> pa.Table:
    """A table file read and checked against `schema` (every value valid, every column there);
    `conformed`: brought to the schema's columns first (an older format's table)."""
    with _damage():
        t = pq.ParquetFile(path).read()  # pq.read_table would import pyarrow.dataset + pandas (~0.4 s)
        t = conform(t, schema) if conformed else t
        t.validate(full=True)
    _check_columns(t.schema, schema)
    return t


def read_mapped(path: Path, schema: pa.Schema, folder: Path, conformed: bool = False) -> pa.Table:
    """read_checked, but a table of over SPILL_ROWS rows is read a row group at a time into a file
    in `folder` and mapped (store/spill.py): the heap holds one row group, not the table."""
    with _damage():
        pf = pq.ParquetFile(path)
        if pf.metadata.num_rows <= spill.SPILL_ROWS:
            return read_checked(path, schema, conformed)
        first = pf.schema_arrow.empty_table()
        shape = (conform(first, schema) if conformed else first).schema
        _check_columns(shape, schema)

        def parts() -> Iterator[pa.Table]:
            for b in pf.iter_batches(batch_size=ROW_GROUP):
                t = pa.Table.from_batches([b])
                t = conform(t, schema) if conformed else t
                t.validate(full=True)
                yield t
        return spill.spilled(parts(), shape, folder)


BATCH_ROWS = 1 << 20  # rows a derived table is streamed in


def batches_checked(path: Path, schema: pa.Schema, rows: int | None = None) -> Iterable[pa.RecordBatch]:
    """A table file's rows, `rows` at a time, each batch checked as read_checked checks a table
    (a table of any size is checked, or streamed, holding one batch)."""
    with _damage():
        pf = pq.ParquetFile(path)
        _check_columns(pf.schema_arrow, schema)
        for b in pf.iter_batches(batch_size=rows or BATCH_ROWS):
            b.validate(full=True)
            yield b


@contextmanager
def _damage() -> Iterator[None]:
    """Reading errors as DamagedTable, with their first line."""
    try:
        yield
    except (OSError, pa.ArrowException, ValueError) as e:
        raise DamagedTable(str(e).splitlines()[0] if str(e) else type(e).__name__) from e


def _check_columns(found: pa.Schema, schema: pa.Schema) -> None:
    for f in schema:
        if f.name not in found.names or not _compatible(found.field(f.name).type, f.type):
            raise DamagedTable(f"column {f.name!r} is missing or of the wrong type")


def _compatible(found: pa.DataType, wanted: pa.DataType) -> bool:
    """Parquet stores timestamps in its own units (a second-resolution column reads back in ms)."""
    return found.equals(wanted) or (pa.types.is_timestamp(found) and pa.types.is_timestamp(wanted))


def numpy_column(table: pa.Table, name: str, dtype) -> np.ndarray:
    """A null-free fixed-width column as numpy, without pyarrow's to_numpy (which imports pandas,
    ~0.4 s of every cold query)."""
    c = table.column(name).combine_chunks()
    if len(c) == 0:
        return np.zeros(0, dtype=dtype)
    return np.frombuffer(c.buffers()[1], dtype=dtype, count=len(c) + c.offset)[c.offset:].copy()


def int64_column(table: pa.Table, name: str) -> np.ndarray:
    return numpy_column(table, name, np.int64)


def rows_at(table: pa.Table, numbers: list[int]) -> list[dict]:
    """Rows of `table` by number as dicts, every column converted once for all of them."""
    if not numbers:
        return []
    at = np.asarray(numbers, dtype=np.int64)
    # from_buffers, not pa.array(): that imports pandas (~0.3 s of a cold query)
    index = pa.Array.from_buffers(pa.int64(), len(at), [None, pa.py_buffer(at)])
    columns = [c.take(index).to_pylist() for c in table.columns]
    return [dict(zip(table.column_names, values)) for values in zip(*columns)]


ROW_GROUP = 65_536  # rows per row group of a table written as a stream


def write_row_groups(path: Path, schema: pa.Schema, parts: Iterable[pa.Table], rows: int = ROW_GROUP) -> int:
    """Write tables that arrive one after another as one Parquet file of row groups of at most
    `rows` rows (a reader can then take it a row group at a time); returns the rows written.
    Memory: one part."""
    n = 0
    with pq.ParquetWriter(path, schema, compression="zstd") as w:
        for t in parts:
            if len(t):
                w.write_table(t.select(schema.names).cast(schema), row_group_size=rows)
                n += len(t)
    return n
