"""A collection folder and its generations.

Every commit writes a new generation of files under generation-numbered names
(images-000007.parquet, index-000007/, …), flushes them, then atomically replaces
manifest.json, which names them.

Readers keep the generation they opened, however many commits follow: a reader `pin()`s its
generation by holding a shared lock on `readers-<gen>.lock`, which lists that generation's files,
and a commit removes an old generation's files only when it can take that lock exclusively (no
reader holds them). Files the current and the previous generation name are always kept. This
keeps the readers lazy (a query loads the index on first use, `vsearch info` never does) at the
cost of the disk space of the generations readers still hold.

Writers take `lock()`: one at a time, and the one holding it clears what a killed writer left
(temporary files, files of a generation whose manifest never landed).
"""
from __future__ import annotations

import fcntl
import json
import os
import re
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..atomic import atomic_folder, atomic_write, remove_debris, remove_path
from ..errors import CollectionFormatError, VsearchError
from ..index import VectorIndex, load_index
from ..index.legacy import load_legacy_index
from .manifest import Manifest, read_manifest, write_manifest
from .storage import writing
from .tables import (BIAS_SCHEMA, ERRORS_SCHEMA, IMAGES_SCHEMA, TEXTS_SCHEMA, DamagedTable, batches_checked, read_mapped,
                     int64_column, numpy_column, read_checked)
from .vectors import VectorStore

__all__ = ["CARRY", "DROP", "CollectionStore", "IMAGES_SCHEMA", "ERRORS_SCHEMA", "TEXTS_SCHEMA", "BIAS_SCHEMA",
           "int64_column", "numpy_column", "now_iso", "repair_hint"]

_GEN = re.compile(r"-(\d{6})(?:\.|$)")
LEASE = "readers-{:06d}.lock"
DAMAGED = "damaged"            # files set aside by a repair (pipeline/repair.py): renamed, never deleted
PART_FOLDERS = ("vectors", "rerank-tokens/*")  # writer-only folders whose temporary files the lock clears
# The tables vsearch itself reads by key; a derived table of pipeline/derived names its schema when it reads.
SCHEMAS = {"images": IMAGES_SCHEMA, "errors": ERRORS_SCHEMA, "texts": TEXTS_SCHEMA, "image_bias": BIAS_SCHEMA,
           "text_bias": BIAS_SCHEMA}
CARRY = None   # a part given to commit() as CARRY is the previous generation's
DROP = False   # ... and as DROP is left out of the new generation


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def repair_hint(name: str) -> str:
    return f"repair the collection with `vsearch reindex --collection {name}` (or re-run `vsearch ingest`)"


def _generation(name: str) -> int | None:
    m = _GEN.search(name)
    return int(m.group(1)) if m else None


class CollectionStore:
    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self._manifest: Manifest | None = None
        self._tables: dict[str, pa.Table] = {}   # by file name: a generation's files never change
        self._lease: IO[bytes] | None = None
        self._pinned = False

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
            self._set_manifest(read_manifest(self.folder))
        return self._manifest

    def _set_manifest(self, m: Manifest) -> None:
        self._manifest = m
        live = set(m.files.values())
        self._tables = {k: v for k, v in self._tables.items() if k in live}

    def refresh(self) -> bool:
        """Re-read the manifest (and re-pin, for a pinned reader); True if a newer generation was committed."""
        old = self._manifest.generation if self._manifest else -1
        if self._pinned:
            self.pin()
        else:
            self._manifest = None
        return self.manifest.generation != old

    # --- readers: keep the generation that was opened -------------------------------------------
    def pin(self) -> Manifest:
        """Read the current manifest and keep its generation's files from being removed until the
        next pin() or unpin(). On a read-only collection nothing can be removed: no lease is needed."""
        self._pinned = True
        for _ in range(100):
            self._manifest = None
            m = self.manifest
            lease = self._open_lease(m.generation)
            if lease is None:
                self._swap_lease(None)
                return m
            fcntl.flock(lease, fcntl.LOCK_SH)  # waits only while a writer is removing this generation
            gone = os.fstat(lease.fileno()).st_nlink == 0
            if not gone and not all((self.folder / f).exists() for f in m.files.values()):
                gone = read_manifest(self.folder).generation != m.generation  # removed after we read it
            if not gone:
                self._swap_lease(lease)
                return m
            lease.close()
        raise CollectionFormatError(f"{self.folder}: could not open a generation (commits follow each other too fast)")

    def unpin(self) -> None:
        self._pinned = False
        self._swap_lease(None)

    def _swap_lease(self, lease: IO[bytes] | None) -> None:
        old, self._lease = self._lease, lease
        if old is not None:
            old.close()

    def _open_lease(self, gen: int) -> IO[bytes] | None:
        path = self.folder / LEASE.format(gen)
        try:
            return open(path, "rb")
        except FileNotFoundError:
            pass  # a collection of format 1, or the generation was just removed (pin() finds out)
        except OSError:
            return None
        try:
            return os.fdopen(os.open(path, os.O_RDWR | os.O_CREAT, 0o666), "rb")
        except OSError:  # read-only: no writer can remove anything either
            return None

    # --- tables and indexes -----------------------------------------------------------------------
    def vectors(self, dim: int | None = None) -> VectorStore:
        return VectorStore(self.folder / "vectors", dim or self.manifest.model.embed_dim)

    def _file(self, key: str) -> Path | None:
        name = self.manifest.files.get(key)
        return self.folder / name if name else None

    def read_table(self, key: str, schema: pa.Schema | None = None) -> pa.Table:
        """The generation's `key` table, checked against `schema` (default: SCHEMAS[key]); empty when
        it has none. A damaged or missing file is a CollectionFormatError that says how to repair it."""
        schema = schema or SCHEMAS[key]
        path = self._file(key)
        if path is None:
            return schema.empty_table()
        if path.name not in self._tables:
            try:
                self._tables[path.name] = read_mapped(path, schema, self.folder, conformed=True) if key == "images" \
                    else read_checked(path, schema)
            except DamagedTable as e:
                raise CollectionFormatError(f"{path.name} of collection {self.name!r} is damaged or missing ({e}); "
                                            f"{repair_hint(self.name)}") from e
        return self._tables[path.name]

    def table_batches(self, key: str, schema: pa.Schema | None = None) -> Iterator[pa.RecordBatch]:
        """The generation's `key` table a batch of rows at a time, each checked (a derived table
        of any size read with bounded memory); none when it has no such table."""
        path = self._file(key)
        if path is None:
            return
        try:
            yield from batches_checked(path, schema or SCHEMAS[key])
        except DamagedTable as e:
            raise CollectionFormatError(f"{path.name} of collection {self.name!r} is damaged or missing ({e}); "
                                        f"{repair_hint(self.name)}") from e

    def damaged_tables(self, schemas: dict[str, pa.Schema]) -> dict[str, str]:
        """{key: why} for every table of `schemas` this generation names that cannot be read. The
        images table is read (every writer uses it whole); the others, if not read yet, are checked
        a batch at a time and not kept."""
        found = {}
        for key, schema in schemas.items():
            try:
                path = self._file(key)
                if path is None or path.name in self._tables:
                    continue
                if key == "images":
                    self.read_table(key, schema)
                else:
                    for _ in self.table_batches(key, schema):
                        pass
            except CollectionFormatError as e:
                found[key] = str(e.__cause__)
        return found

    def images(self) -> pa.Table:
        return self.read_table("images")

    def errors(self) -> pa.Table:
        return self.read_table("errors")

    def texts(self) -> pa.Table:
        return self.read_table("texts")

    def bias_arrays(self, key: str, signature: str | None = None) -> tuple[np.ndarray, np.ndarray] | None:
        """`image_bias` or `text_bias` as (ids ascending, float32 biases); None when the collection
        has none, or when `signature` is given and they were made by another correction."""
        if not self.exists() or not self.manifest.files.get(key):
            return None
        t = self.read_table(key)
        if signature is not None and (t.schema.metadata or {}).get(b"hubness") != signature.encode():
            return None
        ids, bias = int64_column(t, "id"), numpy_column(t, "bias", np.float32)
        order = np.argsort(ids)
        return ids[order], bias[order]

    def bias(self, key: str, signature: str | None = None) -> dict[int, float]:
        """The same as a dict id -> bias ({} when there are none), for inspection."""
        arrays = self.bias_arrays(key, signature)
        return dict(zip(arrays[0].tolist(), arrays[1].tolist())) if arrays else {}

    def _load_index(self, key: str) -> VectorIndex:
        """Memory-mapped where the kind allows (a reader pages in what its queries touch; a
        writer's first change reads it into memory). A format-2 single file is read by
        index/legacy.py until the next commit writes a folder."""
        path = self._file(key)
        if path is not None and path.is_file() and path.suffix == ".faiss":
            return load_legacy_index(path)
        if path is None or not path.is_dir():
            raise CollectionFormatError(f"{self.folder}: the {key} is missing; " + _rebuild_hint(key, self.name))
        return load_index(path, mmap=True)

    def index(self) -> VectorIndex:
        return self._load_index("index")

    def texts_index(self) -> VectorIndex:
        return self._load_index("texts_index")

    def index_is_legacy(self) -> bool:
        """Whether the image index is a format-2 single file (served exactly until rewritten)."""
        path = self._file("index")
        return path is not None and path.suffix == ".faiss"

    # --- writers ------------------------------------------------------------------------------------
    @contextmanager
    def lock(self) -> Iterator[None]:
        """One writer at a time per collection."""
        with writing("the collection's lock file", self.folder, "nothing was changed"):
            self.folder.mkdir(parents=True, exist_ok=True)
            f = open(self.folder / ".lock", "w")
        with f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as e:
                raise VsearchError(f"another vsearch process is writing {self.folder}; wait for it to finish") from e
            try:
                self._clear_debris()
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def _clear_debris(self) -> None:
        """What a killed writer left: temporary files, and the files of a generation it never
        committed (only the lock holder may clear them)."""
        remove_debris(self.folder)
        for pattern in PART_FOLDERS:
            for sub in self.folder.glob(pattern):
                remove_debris(sub)
        if not self.exists():
            return
        try:
            current = read_manifest(self.folder).generation
        except (OSError, VsearchError):
            return
        for p in self.folder.iterdir():
            g = _generation(p.name)
            if g is not None and g > current:
                remove_path(p)

    def set_aside(self, path: Path) -> Path:
        """Move a damaged file into damaged/ (renamed, never deleted); returns its new path."""
        path = Path(path)
        rel = path.relative_to(self.folder).as_posix().replace("/", "~")
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
        dest = self.folder / DAMAGED / f"{stamp}-{rel}"
        n = 1
        while dest.exists():
            n += 1
            dest = self.folder / DAMAGED / f"{stamp}-{n}-{rel}"
        with writing(f"{DAMAGED}/", self.folder, "nothing was removed"):
            dest.parent.mkdir(exist_ok=True)
            os.replace(path, dest)
        self._tables.pop(path.name, None)
        return dest

    def commit(self, manifest: Manifest, **parts: pa.Table | VectorIndex | None | bool) -> Manifest:
        """Write the given parts as a new generation, in the order given: a table (or anything with
        `write_parquet(path)`) as `<key>-<gen>.parquet`, an index (anything with `save(folder)`) as the folder `<key>-<gen>/`.
        A part given as CARRY carries over from the last generation; as DROP, it is left out."""
        gen = manifest.generation + 1
        previous = set(manifest.files.values())
        files = dict(manifest.files)
        kept = "the collection is unchanged (its previous generation is still the one in use)"
        with writing("a new generation of the collection", self.folder, kept):
            self.folder.mkdir(parents=True, exist_ok=True)
            for key, part in parts.items():
                if part is DROP:
                    files.pop(key, None)
                elif isinstance(part, pa.Table):
                    files[key] = f"{key}-{gen:06d}.parquet"
                    atomic_write(self.folder / files[key], lambda p, t=part: pq.write_table(t, p, compression="zstd"),
                                 point=f"commit:{key}")
                elif hasattr(part, "write_parquet"):  # a table too large to hold, written as it streams
                    files[key] = f"{key}-{gen:06d}.parquet"
                    atomic_write(self.folder / files[key], part.write_parquet, point=f"commit:{key}")
                elif part is not CARRY:
                    files[key] = f"{key}-{gen:06d}"
                    atomic_folder(self.folder / files[key], part.save, point=f"commit:{key}")
            # The lease readers of this generation will hold lists what it names (see pin()).
            atomic_write(self.folder / LEASE.format(gen), json.dumps(sorted(files.values())).encode(),
                         point="commit:readers", durable=False)
            manifest.generation = gen
            manifest.files = files
            manifest.updated = now_iso()
            manifest.created = manifest.created or manifest.updated
            write_manifest(self.folder, manifest)
        self._set_manifest(manifest)
        self._remove_old_generations(keep_from=gen - 1, keep=previous)
        return manifest

    def _remove_old_generations(self, keep_from: int, keep: set[str]) -> None:
        """Remove files of generations before `keep_from` that neither the current generation, nor
        `keep` (the previous one's), nor any generation a reader holds still names."""
        keep = keep | set(self.manifest.files.values())
        free: list[tuple[Path, IO[bytes]]] = []
        unknown = False
        try:
            for lease_path in self.folder.glob("readers-*.lock"):
                g = _generation(lease_path.name)
                try:
                    f = open(lease_path, "rb")
                except OSError:
                    continue
                if g is not None and g >= keep_from:
                    keep |= _lease_files(f) or set()
                    f.close()
                    continue
                try:
                    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:  # a reader holds this generation
                    names = _lease_files(f)
                    unknown |= names is None
                    keep |= names or set()
                    f.close()
                    continue
                free.append((lease_path, f))
            if unknown:  # a reader holds a generation whose files are not listed (format 1): remove nothing
                return
            for p in self.folder.iterdir():
                g = _generation(p.name)
                if g is not None and g < keep_from and p.name not in keep and not p.name.startswith("readers-"):
                    remove_path(p)
            for lease_path, _ in free:
                lease_path.unlink(missing_ok=True)
        except OSError:
            pass  # clean-up only: the next commit tries again
        finally:
            for _, f in free:
                f.close()

    def disk_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.folder.rglob("*") if p.is_file())


def _lease_files(f: IO[bytes]) -> set[str] | None:
    try:
        f.seek(0)
        names = json.loads(f.read() or b"null")
    except (OSError, ValueError):
        return None
    return set(names) if isinstance(names, list) else None


def _rebuild_hint(key: str, name: str) -> str:
    what = "the stored texts" if key == "texts_index" else "the stored vectors"
    return f"rebuild it from {what} with `vsearch reindex --collection {name}`"
