"""The Parquet tables of a collection (their schemas) and torch-free, pandas-free column access."""
from __future__ import annotations

import numpy as np
import pyarrow as pa

# Content-derived metadata, stored with each vector and joined onto every file row.
META_FIELDS = [
    ("width", pa.int32()),
    ("height", pa.int32()),
    ("taken_at", pa.timestamp("s")),
    ("camera", pa.string()),
    ("orientation", pa.int16()),
]

IMAGES_SCHEMA = pa.schema([
    ("id", pa.int64()), ("path", pa.string()), ("root", pa.string()), ("folder", pa.string()),
    ("digest", pa.string()), ("bytes", pa.int64()), ("mtime", pa.timestamp("us", tz="UTC")),
    ("mtime_ns", pa.int64()), *META_FIELDS,
])
ERRORS_SCHEMA = pa.schema([("path", pa.string()), ("root", pa.string()), ("reason", pa.string()),
                           ("bytes", pa.int64()), ("mtime_ns", pa.int64())])
TEXTS_SCHEMA = pa.schema([("id", pa.int64()), ("text", pa.string()), ("source", pa.string())])
# Per-item hubness correction (models/hubness.py), added to cosine scores of cross-modal queries.
BIAS_SCHEMA = pa.schema([("id", pa.int64()), ("bias", pa.float32())])


def numpy_column(table: pa.Table, name: str, dtype) -> np.ndarray:
    """A null-free fixed-width column as numpy, without pyarrow's to_numpy (which imports pandas,
    ~0.4 s of every cold query)."""
    c = table.column(name).combine_chunks()
    if len(c) == 0:
        return np.zeros(0, dtype=dtype)
    return np.frombuffer(c.buffers()[1], dtype=dtype, count=len(c) + c.offset)[c.offset:].copy()


def int64_column(table: pa.Table, name: str) -> np.ndarray:
    return numpy_column(table, name, np.int64)
