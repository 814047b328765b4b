"""Ids and images-table rows of imported embeddings.

Ids. A row whose path is a regular file on this machine gets the file's content id, exactly as
`vsearch ingest` would give it (pipeline/decode.py content_id: a hash of the bytes), so that
- thumbnails and the UI work: they show a file only while its bytes still have the result's id;
- a later `vsearch ingest` of the same folder carries the row over (same size, mtime and a known
  id) or, for a moved or copied file, reuses the imported vector instead of encoding again;
- `vsearch reindex` can find the row again from the file if the images table is ever damaged;
- the same photo at two paths is one vector with two rows, as after an ingest.
The price is one read of each reachable file (hashed at disk speed; nothing is decoded).

A row whose file is not here (the usual case for embeddings made on another machine) gets a
"path id": the same 128-bit hash, masked to a positive int64 like content ids, of a namespace
prefix, the absolute path and the imported fp16 vector. The prefix keeps it out of the space of
file contents (it collides with a content id only as two content ids might: never in practice);
the path keeps distinct photos apart; the vector makes a re-import of the same rows yield the same
ids (idempotent), while a re-import with changed vectors yields new ids, so a stale stored vector is
never kept for a path whose embedding changed. A path id is never equal to the id an ingest gives
the same file, so comparisons between an imported and an ingested collection go by path, not id.
"""
from __future__ import annotations

import os
import stat
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

import numpy as np
import pyarrow as pa
import xxhash

from ..errors import ImageError
from ..imaging import read_file_bytes
from ..store.tables import IMAGES_SCHEMA
from ..times import clamp_ns
from .decode import content_id

PATH_ID_NAMESPACE = b"vsearch:imported-path\0"


def path_id(path: str, vec16: np.ndarray) -> int:
    """The id of an imported row whose file is not readable here (see the module docstring)."""
    h = xxhash.xxh3_128(PATH_ID_NAMESPACE + os.fsencode(path) + b"\0" + np.ascontiguousarray(vec16).tobytes())
    return h.intdigest() & 0x7FFF_FFFF_FFFF_FFFF


def is_regular_file(path: str) -> bool:
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False


def _content(path: str) -> tuple[str, int, int, int] | None:
    """(digest, content id, bytes, mtime_ns) of a readable regular file, else None."""
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            return None
        data = read_file_bytes(path)
    except (OSError, ValueError, ImageError):
        return None
    digest, cid = content_id(data)
    return digest, cid, st.st_size, st.st_mtime_ns  # clamped by Identifier (vsearch/times.py)


class Identifier:
    """Content ids for reachable files (read in a few threads: reading is I/O), path ids for the rest."""

    def __init__(self, threads: int):
        self.pool = ThreadPoolExecutor(threads)
        self.clamped = 0  # files whose date the format cannot hold (vsearch/times.py): clamped

    def close(self) -> None:
        self.pool.shutdown()

    def identify(self, paths: list[str], vec16: np.ndarray) -> tuple[np.ndarray, list, list, list]:
        """(ids, digests, sizes, mtimes_ns) of absolute `paths`; digest, size and mtime are None
        for rows whose file is not readable here."""
        ids = np.empty(len(paths), dtype=np.int64)
        digests, sizes, mtimes = [None] * len(paths), [None] * len(paths), [None] * len(paths)
        for i, found in enumerate(self.pool.map(_content, paths)):
            if found is None:
                ids[i] = path_id(paths[i], vec16[i])
            else:
                digests[i], ids[i], sizes[i], mtime = found
                mtimes[i], clamped = clamp_ns(mtime)
                self.clamped += clamped
        return ids, digests, sizes, mtimes


def rows_table(root: str, rels: list[str], ids: np.ndarray, digests: list, sizes: list, mtimes: list) -> pa.Table:
    """Images-table rows (IMAGES_SCHEMA) of imported paths, relative to `root`: what the file
    says when it is here (size, mtime), null where nothing is known (pixel size, EXIF)."""
    n = len(rels)
    mtime = [None if m is None else datetime.fromtimestamp(m / 1e9, tz=timezone.utc) for m in mtimes]
    cols = {"id": pa.array(ids, pa.int64()), "path": pa.array(rels, pa.string()), "root": pa.array([root] * n, pa.string()),
            "folder": pa.array([r.rpartition("/")[0] for r in rels], pa.string()),
            "digest": pa.array(digests, pa.string()), "bytes": pa.array(sizes, pa.int64()),
            "mtime": pa.array(mtime, pa.timestamp("us", tz="UTC")), "mtime_ns": pa.array(mtimes, pa.int64())}
    return pa.table([cols[f.name] if f.name in cols else pa.nulls(n, f.type) for f in IMAGES_SCHEMA], schema=IMAGES_SCHEMA)
