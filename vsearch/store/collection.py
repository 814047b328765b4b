"""A collection folder and its generations.

Every commit writes a new generation of files under generation-numbered names
(images-000007.parquet, images-000007.faiss, …), flushes them, then atomically replaces
manifest.json, which names them. A reader that opened generation N keeps reading N's files even
while N+1 is committed; files two generations old are removed.
"""
from __future__ import annotations

import fcntl
import re
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..atomic import atomic_write, remove_debris
from ..errors import CollectionFormatError, VsearchError
from .index import VectorIndex
from .manifest import Manifest, read_manifest, write_manifest
from .tables import BIAS_SCHEMA, ERRORS_SCHEMA, IMAGES_SCHEMA, TEXTS_SCHEMA, int64_column, numpy_column
from .vectors import VectorStore

__all__ = ["CollectionStore", "IMAGES_SCHEMA", "ERRORS_SCHEMA", "TEXTS_SCHEMA", "BIAS_SCHEMA", "int64_column",
           "numpy_column", "now_iso"]

_GEN = re.compile(r"-(\d{6})\.")


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class CollectionStore:
    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self._manifest: Manifest | None = None

    @property
    def name(self) -> str:
        return self.folder.name

    def exists(self) -> bool:
        return (self.folder / "manifest.json").is_file()

    @property
    def manifest(self) -> Manifest:
        if self._manifest is None:
            if not self.exists():
                raise VsearchError(f"{self.folder} is not a collection (no manifest.json)")
            self._manifest = read_manifest(self.folder)
        return self._manifest

    def refresh(self) -> bool:
        """Re-read the manifest; True if a newer generation was committed."""
        old = self._manifest.generation if self._manifest else -1
        self._manifest = None
        return self.manifest.generation != old

    def vectors(self, dim: int | None = None) -> VectorStore:
        return VectorStore(self.folder / "vectors", dim or self.manifest.model["embed_dim"])

    def _file(self, key: str) -> Path | None:
        name = self.manifest.files.get(key)
        return self.folder / name if name else None

    def _read_table(self, key: str, schema: pa.Schema) -> pa.Table:
        path = self._file(key)
        if path is None:
            return schema.empty_table()
        try:
            return pq.ParquetFile(path).read()  # pq.read_table would import pyarrow.dataset + pandas (~0.4 s)
        except (OSError, pa.ArrowInvalid) as e:
            raise CollectionFormatError(f"{path} is missing or damaged ({e}); re-run `vsearch ingest` to rebuild the collection") from e

    def images(self) -> pa.Table:
        return self._read_table("images", IMAGES_SCHEMA)

    def errors(self) -> pa.Table:
        return self._read_table("errors", ERRORS_SCHEMA)

    def texts(self) -> pa.Table:
        return self._read_table("texts", TEXTS_SCHEMA)

    def bias_arrays(self, key: str, signature: str | None = None) -> tuple[np.ndarray, np.ndarray] | None:
        """`image_bias` or `text_bias` as (ids ascending, float32 biases); None when the collection
        has none, or when `signature` is given and they were made by another correction."""
        if not self.exists() or not self.manifest.files.get(key):
            return None
        t = self._read_table(key, BIAS_SCHEMA)
        if signature is not None and (t.schema.metadata or {}).get(b"hubness") != signature.encode():
            return None
        ids, bias = int64_column(t, "id"), numpy_column(t, "bias", np.float32)
        order = np.argsort(ids)
        return ids[order], bias[order]

    def bias(self, key: str, signature: str | None = None) -> dict[int, float]:
        """The same as a dict id -> bias ({} when there are none), for inspection."""
        arrays = self.bias_arrays(key, signature)
        return dict(zip(arrays[0].tolist(), arrays[1].tolist())) if arrays else {}

    def _load_index(self, key: str, kind: str, params: dict) -> VectorIndex:
        path = self._file(key)
        if path is None or not path.is_file():
            raise CollectionFormatError(f"{self.folder}: index file for {key} is missing; " + _rebuild_hint(key, self.name))
        return VectorIndex.load(path, kind, params)

    def index(self) -> VectorIndex:
        idx = self.manifest.index
        return self._load_index("index", idx["type"], idx.get("params", {}))

    def texts_index(self) -> VectorIndex:
        return self._load_index("texts_index", "flat", {})

    @contextmanager
    def lock(self) -> Iterator[None]:
        """One writer at a time per collection."""
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / ".lock", "w") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as e:
                raise VsearchError(f"another vsearch process is writing {self.folder}; wait for it to finish") from e
            try:
                remove_debris(self.folder)  # what a killed writer left: only the lock holder may clear it
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def commit(self, manifest: Manifest, images: pa.Table | None = None, errors: pa.Table | None = None,
               index: VectorIndex | None = None, texts: pa.Table | None = None,
               texts_index: VectorIndex | None = None, image_bias: pa.Table | None | bool = None,
               text_bias: pa.Table | None | bool = None) -> Manifest:
        """Write the given parts as a new generation; parts left None carry over from the last one
        (a bias given as False is dropped)."""
        gen = manifest.generation + 1
        files = dict(manifest.files)
        self.folder.mkdir(parents=True, exist_ok=True)

        def put(key: str, suffix: str, writer) -> None:
            name = f"{key}-{gen:06d}.{suffix}"
            atomic_write(self.folder / name, writer, point=f"commit:{key}")
            files[key] = name

        if images is not None:
            put("images", "parquet", lambda p: pq.write_table(images, p, compression="zstd"))
        if errors is not None:
            put("errors", "parquet", lambda p: pq.write_table(errors, p, compression="zstd"))
        if index is not None:
            put("index", "faiss", index.save)
        if texts is not None:
            put("texts", "parquet", lambda p: pq.write_table(texts, p, compression="zstd"))
        if texts_index is not None:
            put("texts_index", "faiss", texts_index.save)
        for key, table in (("image_bias", image_bias), ("text_bias", text_bias)):
            if table is False:
                files.pop(key, None)
            elif table is not None:
                put(key, "parquet", lambda p, t=table: pq.write_table(t, p, compression="zstd"))
        manifest.generation = gen
        manifest.files = files
        manifest.updated = now_iso()
        manifest.created = manifest.created or manifest.updated
        write_manifest(self.folder, manifest)
        self._manifest = manifest
        self._remove_old_generations(keep_from=gen - 1)
        return manifest

    def _remove_old_generations(self, keep_from: int) -> None:
        live = set(self.manifest.files.values())
        for p in self.folder.iterdir():
            m = _GEN.search(p.name)
            if m and p.name not in live and int(m.group(1)) < keep_from:
                p.unlink(missing_ok=True)

    def disk_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.folder.rglob("*") if p.is_file())


def _rebuild_hint(key: str, name: str) -> str:
    what = "the stored texts" if key == "texts_index" else "the stored vectors"
    return f"rebuild it from {what} with `vsearch reindex --collection {name}`"
