"""vectors/: the embeddings, as fp16 Parquet shards keyed by content id — the source of truth.

One shard per encoded batch (store/parts.py explains why): a single Parquet file, atomically
renamed into place, so the shard file is its own completion marker. Each row also carries the
content-derived metadata (size in pixels, EXIF), so a resumed or moved file never needs
decoding again.

Reading is by row group, never a whole collection at once: `chunks(live_ids)` hands the live
vectors to an index build (index/chunks.py) a block at a time, and `compact` rewrites shards as a
stream. Only the id column of every shard is read whole (8 bytes a vector).
"""
from __future__ import annotations

import uuid
from pathlib import Path
from typing import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..atomic import atomic_write
from ..index.chunks import CHUNK_ROWS
from .parts import PartStore
from .storage import writing
from .tables import CONTENT_FIELDS, META_FIELDS, ROW_GROUP, SIGNATURE_FIELDS, conform, int64_column, write_row_groups


def shard_schema(dim: int) -> pa.Schema:
    return pa.schema([("id", pa.int64()), ("digest", pa.string()), *META_FIELDS, *SIGNATURE_FIELDS,
                      ("vector", pa.binary(dim * 2))])


class VectorStore(PartStore):
    prefix = "shard"
    marker = ".parquet"
    what = "vector shards"

    def __init__(self, folder: Path, dim: int):
        super().__init__(folder)
        self.dim = dim

    def shards(self) -> list[Path]:
        return self.parts()

    def write_shard(self, rows: list[dict], vectors: np.ndarray) -> Path:
        """Rows: id, digest and the content metadata of each vector."""
        return self.write_part(np.array([r["id"] for r in rows], dtype=np.int64), (rows, vectors))

    def _write_files(self, stem: str, ids: np.ndarray, payload) -> None:
        if isinstance(payload, pa.Table):  # rows of shards already written (update_content)
            table = payload
        else:
            rows, vectors = payload
            cols = {name: [r.get(name) for r in rows] for name in CONTENT_FIELDS}
            vec16 = np.ascontiguousarray(vectors, dtype=np.float16)
            cols["vector"] = pa.FixedSizeBinaryArray.from_buffers(pa.binary(self.dim * 2), len(vec16),
                                                                  [None, pa.py_buffer(vec16.tobytes())])
            table = pa.table(cols, schema=shard_schema(self.dim))
        atomic_write(self.folder / f"{stem}{self.marker}", lambda tmp: pq.write_table(table, tmp, compression="zstd"),
                     point="shard")

    def _read_ids(self, path: Path) -> np.ndarray:
        t = pq.ParquetFile(path).read(columns=["id"])
        if not t.schema.field("id").type.equals(pa.int64()) or t.column("id").null_count:
            raise ValueError("its id column is not int64 without nulls")
        return int64_column(t, "id")

    def _verify(self, marker: Path, thorough: bool) -> None:
        """Cheap: the footer (a truncated file has none) and the ids. Thorough: every column, with
        vectors of this collection's width."""
        if not thorough:
            self._read_ids(marker)
            return
        t = self._read_shard(marker)
        t.validate(full=True)
        want = shard_schema(self.dim)
        if (t.schema.names != want.names or not t.schema.field("vector").type.equals(want.field("vector").type)
                or not t.schema.field("id").type.equals(pa.int64()) or t.column("id").null_count
                or t.column("vector").null_count):
            raise ValueError("its columns are not those of a vector shard")

    def _files(self, marker: Path) -> list[Path]:
        return [marker]

    def _take(self, ids: np.ndarray):
        got, vecs, meta = self.load(ids)
        return meta.to_pylist(), vecs

    def _read_shard(self, path: Path, columns: list[str] | None = None) -> pa.Table:
        """A shard's rows (or `columns` of them) in this format's schema: content columns a shard of an
        older format lacks read as nulls (format 4 added lens, frame_ms, duration_ms, phash, thumb and the
        words: title … ocr, never read;
        a version-3 shard's photos have no pixel signature), and a column stored in other units (a
        timestamp rewritten in ms) is cast."""
        f = pq.ParquetFile(path)
        have = set(f.schema_arrow.names)
        wanted = shard_schema(self.dim) if columns is None else pa.schema([shard_schema(self.dim).field(c) for c in columns])
        t = f.read(columns=[c for c in wanted.names if c in have])
        if t.schema.equals(wanted):
            return t
        return conform(t.cast(pa.schema([wanted.field(c) for c in t.schema.names])), wanted)

    def update_content(self, content: dict[int, dict]) -> int:
        """Store new content fields of stored ids (`content`: id -> {field: value}, e.g. the words
        read for content an older format stored without them): every shard holding one of them is
        written anew with those fields changed, then the old one removed (a crash in between leaves
        both, which `load` reads as one). Returns the shards rewritten."""
        if not content:
            return 0
        wanted = np.fromiter(content, dtype=np.int64, count=len(content))
        rewritten = 0
        for marker in self.shards():
            with self.reading(marker):
                ids = self._read_ids(marker)
                if not np.isin(ids, wanted).any():
                    continue
                t = self._read_shard(marker)
            fields = sorted({k for i in ids.tolist() if i in content for k in content[i]})
            for name in fields:
                values = [content[i][name] if i in content and name in content[i] else old
                          for i, old in zip(ids.tolist(), t.column(name).to_pylist())]
                t = t.set_column(t.schema.get_field_index(name), t.schema.field(name),
                                 pa.array(values, t.schema.field(name).type))
            self.write_part(ids, t)
            for f in self._files(marker):
                f.unlink(missing_ok=True)
            rewritten += 1
        self._changed()
        return rewritten

    def tables(self, columns: list[str] | None = None) -> Iterator[pa.Table]:
        """Each shard's rows (or `columns` of them), one shard at a time."""
        for s in self.shards():
            with self.reading(s):
                yield self._read_shard(s, columns)

    def read(self, columns: list[str] | None = None) -> pa.Table:
        tables = list(self.tables(columns))
        if not tables:
            return shard_schema(self.dim).empty_table()
        with self.reading(self.shards()[0]):
            return pa.concat_tables(tables)

    def load(self, ids: np.ndarray | None = None, signatures: bool = True) -> tuple[np.ndarray, np.ndarray, pa.Table]:
        """(ids, float32 vectors, metadata table) — unique by id, optionally only `ids`, in id order;
        without `signatures`, the metadata leaves out the thumbnails (1 KB a photo)."""
        t = self.read(None if signatures else [n for n in shard_schema(self.dim).names if n not in dict(SIGNATURE_FIELDS)])
        all_ids = int64_column(t, "id")
        _, first = np.unique(all_ids, return_index=True)
        if ids is not None:
            first = first[np.isin(all_ids[first], ids)]
        t = t.take(pa.array(first))
        return int64_column(t, "id"), self.vectors_of(t), t.drop_columns(["vector"])

    def select(self, ids: np.ndarray, columns: list[str]) -> pa.Table:
        """`columns` of the rows of `ids` (each once, in no set order), reading only the shards that
        hold some of them (their id column first): a few photos' thumbnails cost a few shards."""
        wanted = np.unique(np.asarray(ids, np.int64))
        found = [shard_schema(self.dim).empty_table().select(["id", *columns])]
        for s in self.shards():
            with self.reading(s):
                if not np.isin(self._read_ids(s), wanted).any():
                    continue
                t = self._read_shard(s, ["id", *columns])
            found.append(t.filter(pc.is_in(t["id"], value_set=pa.array(wanted))))
        t = pa.concat_tables(found)
        _, first = np.unique(int64_column(t, "id"), return_index=True)
        return t.take(pa.array(first))

    def vectors_of(self, t: pa.Table) -> np.ndarray:
        """A shard table's `vector` column as float32 [rows, dim]."""
        vec = t.column("vector").combine_chunks()
        raw = np.frombuffer(vec.buffers()[1], dtype=np.float16, count=(len(vec) + vec.offset) * self.dim)
        return raw[vec.offset * self.dim:].reshape(len(t), self.dim).astype(np.float32)

    # --- streamed reading ------------------------------------------------------------------------
    def live_rows(self, live_ids: np.ndarray | None = None) -> list[tuple[Path, np.ndarray]]:
        """(shard, bool mask of its rows) for the first stored row of each id (of `live_ids`
        only, when given): the rows `load` would return, found from the id columns alone."""
        shards = self.shards()
        per = []
        for s in shards:
            with self.reading(s):
                per.append(self._read_ids(s))
        if not per:
            return []
        all_ids = np.concatenate(per)
        _, first = np.unique(all_ids, return_index=True)
        if live_ids is not None:
            first = first[np.isin(all_ids[first], np.asarray(live_ids, np.int64))]
        keep = np.zeros(len(all_ids), bool)
        keep[first] = True
        bounds = np.cumsum([0] + [len(i) for i in per])
        return [(s, keep[a:b]) for s, a, b in zip(shards, bounds[:-1], bounds[1:])]

    def batches(self, live_rows: list[tuple[Path, np.ndarray]], columns: list[str] | None = None,
                rows: int = CHUNK_ROWS) -> Iterator[pa.Table]:
        """The kept rows of every shard, a row group at a time (at most `rows` rows each), in this
        format's schema (a shard of an older format conformed as `_read_shard` does)."""
        full = shard_schema(self.dim)
        wanted = full if columns is None else pa.schema([full.field(c) for c in columns])
        for shard, mask in live_rows:
            if not mask.any():
                continue
            with self.reading(shard):
                f = pq.ParquetFile(shard)
                have = [c for c in wanted.names if c in set(f.schema_arrow.names)]
                at = 0
                for g in range(f.num_row_groups):  # a row group without a kept row is not read
                    n = f.metadata.row_group(g).num_rows
                    keep, at = mask[at:at + n], at + n
                    if not keep.any():
                        continue
                    group = f.read_row_group(g, columns=have)
                    for start in range(0, n, rows):
                        take = keep[start:start + rows]
                        if not take.any():
                            continue
                        t = group.slice(start, rows).filter(pa.array(take))
                        yield t if t.schema.equals(wanted) else conform(
                            t.cast(pa.schema([wanted.field(c) for c in t.schema.names])), wanted)

    def chunks(self, live_ids: np.ndarray | None = None) -> "ShardChunks":
        return ShardChunks(self, self.live_rows(live_ids))

    def compact(self, live_ids: np.ndarray) -> None:
        """Rewrite every shard into one holding only the live ids, streamed a row group at a time."""
        old = self.shards()
        if not old:
            return
        plan = self.live_rows(live_ids)
        kept = int(sum(m.sum() for _, m in plan))
        new = None
        if kept:
            stem = f"{self.prefix}-{uuid.uuid4().hex}"

            def write(tmp: Path) -> None:
                write_row_groups(tmp, shard_schema(self.dim), self.batches(plan, rows=ROW_GROUP), ROW_GROUP)

            with writing(self.what, self.folder, "the shards are unchanged"):
                atomic_write(self.folder / f"{stem}{self.marker}", write, point="shard")
            new = self.folder / f"{stem}{self.marker}"
        for marker in old:
            if marker != new:
                marker.unlink(missing_ok=True)
        self._changed()


class ShardChunks:
    """The live vectors of a collection's shards as `VectorChunks` (index/chunks.py): the shards'
    rows in a fixed order, a row group at a time; `ids()` without reading any vector."""

    def __init__(self, store: VectorStore, live_rows: list[tuple[Path, np.ndarray]]):
        self.store, self.plan = store, live_rows
        self.n = int(sum(m.sum() for _, m in live_rows))
        self.dim = store.dim

    def chunks(self, rows: int = CHUNK_ROWS) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for t in self.store.batches(self.plan, ["id", "vector"], rows):
            yield int64_column(t, "id"), self.store.vectors_of(t)

    def ids(self) -> np.ndarray:
        return np.concatenate([int64_column(t, "id") for t in self.store.batches(self.plan, ["id"])] or
                              [np.zeros(0, np.int64)])
