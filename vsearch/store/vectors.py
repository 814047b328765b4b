"""vectors/: the embeddings, as fp16 Parquet shards keyed by content id — the source of truth.

Ingest appends one shard per encoded batch as it goes (atomic rename), which is what makes a
killed ingest resumable: on restart every id found in a shard is already encoded. Each shard
row also carries the content-derived metadata (size in pixels, EXIF), so a resumed or moved
file never needs decoding again.
"""
from __future__ import annotations

import os
import uuid
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

META_FIELDS = [
    ("width", pa.int32()),
    ("height", pa.int32()),
    ("taken_at", pa.timestamp("s")),
    ("camera", pa.string()),
    ("orientation", pa.int16()),
]


def shard_schema(dim: int) -> pa.Schema:
    return pa.schema([("id", pa.int64()), ("digest", pa.string()), *META_FIELDS,
                      ("vector", pa.binary(dim * 2))])


class VectorStore:
    def __init__(self, folder: Path, dim: int):
        self.folder = Path(folder)
        self.dim = dim

    def shards(self) -> list[Path]:
        return sorted(self.folder.glob("shard-*.parquet")) if self.folder.is_dir() else []

    def write_shard(self, rows: list[dict], vectors: np.ndarray) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        cols = {name: [r.get(name) for r in rows] for name in ["id", "digest"] + [f for f, _ in META_FIELDS]}
        vec16 = np.ascontiguousarray(vectors, dtype=np.float16)
        cols["vector"] = [v.tobytes() for v in vec16]
        table = pa.table(cols, schema=shard_schema(self.dim))
        name = f"shard-{uuid.uuid4().hex}.parquet"
        tmp = self.folder / f".{name}.tmp"
        pq.write_table(table, tmp, compression="zstd")
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, self.folder / name)
        return self.folder / name

    def known_ids(self) -> set[int]:
        ids: set[int] = set()
        for s in self.shards():
            ids.update(pq.read_table(s, columns=["id"]).column("id").to_pylist())
        return ids

    def read(self, columns: list[str] | None = None) -> pa.Table:
        shards = self.shards()
        if not shards:
            return shard_schema(self.dim).empty_table()
        t = pa.concat_tables([pq.read_table(s, columns=columns) for s in shards])
        return t

    def load(self, ids: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, pa.Table]:
        """(ids, float32 vectors, metadata table) — unique by id, optionally only `ids`, in id order."""
        t = self.read()
        all_ids = t.column("id").to_numpy()
        _, first = np.unique(all_ids, return_index=True)
        if ids is not None:
            keep = np.isin(all_ids[first], ids)
            first = first[keep]
        t = t.take(pa.array(first))
        raw = b"".join(t.column("vector").to_pylist()) if len(t) else b""
        vecs = np.frombuffer(raw, dtype=np.float16).reshape(len(t), self.dim).astype(np.float32)
        return t.column("id").to_numpy(), vecs, t.drop_columns(["vector"])

    def compact(self, live_ids: np.ndarray) -> None:
        """Rewrite all shards into one holding only live ids (done when enough is dead)."""
        shards = self.shards()
        if not shards:
            return
        ids, vecs, meta = self.load(live_ids)
        rows = meta.to_pylist()
        new = self.write_shard(rows, vecs) if len(rows) else None
        for s in shards:
            if s != new:
                s.unlink(missing_ok=True)
