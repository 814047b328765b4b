"""An append-only store of parts keyed by content id: the shape shared by the vector shards and
the reranker's token parts.

Ingest appends one part per encoded batch as it goes, which is what makes a killed ingest
resumable: every id found in a complete part is already encoded. A part is complete once its
last file is in place (each file is written atomically; the file that marks completion is
written last), so a part cut short by a crash is simply not seen, and `remove_incomplete`
clears it away. Parts are compacted (dead ids dropped, many parts merged into one) by
rewriting the live rows into one new part before deleting the old ones.
"""
from __future__ import annotations

import uuid
from abc import ABC, abstractmethod
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np
import pyarrow as pa

from ..atomic import remove_debris
from ..errors import CollectionFormatError
from .storage import writing


class PartStore(ABC):
    prefix = "part"
    marker = ".ids.npy"  # the file whose presence makes a part complete; written last
    what = "parts"       # what a message calls them

    def __init__(self, folder: Path):
        self.folder = Path(folder)

    # --- what a kind of part defines ------------------------------------------------------------
    @abstractmethod
    def _write_files(self, stem: str, ids: np.ndarray, payload) -> None:
        """Write a part's files atomically, the marker file last."""

    @abstractmethod
    def _read_ids(self, path: Path) -> np.ndarray:
        """The ids of a complete part, from its marker file."""

    @abstractmethod
    def _files(self, marker: Path) -> list[Path]:
        """Every file of the part whose marker is `marker` (the marker included)."""

    @abstractmethod
    def _take(self, ids: np.ndarray):
        """The payload of `ids` (unique, all stored), in that order, ready for `_write_files`."""

    def _verify(self, marker: Path, thorough: bool) -> None:
        """Raise if the part cannot be read (`thorough`: every byte of it, else what is cheap)."""
        self._read_ids(marker)

    # --- shared mechanics -----------------------------------------------------------------------
    def parts(self) -> list[Path]:
        """Marker files of complete parts, in a stable order."""
        return sorted(self.folder.glob(f"{self.prefix}-*{self.marker}")) if self.folder.is_dir() else []

    def write_part(self, ids: np.ndarray, payload) -> Path:
        ids = np.asarray(ids, dtype=np.int64)
        stem = f"{self.prefix}-{uuid.uuid4().hex}"
        with writing(self.what, self.folder, "what was encoded before is kept: running the command again resumes"):
            self.folder.mkdir(parents=True, exist_ok=True)
            self._write_files(stem, ids, payload)
        self._changed()
        return self.folder / f"{stem}{self.marker}"

    def known_ids(self) -> np.ndarray:
        """Every id stored (sorted, unique)."""
        chunks = []
        for p in self.parts():
            with self.reading(p):
                chunks.append(self._read_ids(p))
        return np.unique(np.concatenate(chunks)) if chunks else np.zeros(0, dtype=np.int64)

    def damaged(self, thorough: bool = False) -> list[tuple[Path, str]]:
        """(marker, why) of every complete part that cannot be read."""
        bad = []
        for m in self.parts():
            try:
                self._verify(m, thorough)
            except Exception as e:  # noqa: BLE001 - whatever a damaged file makes a reader raise
                bad.append((m, str(e).splitlines()[0] if str(e) else type(e).__name__))
        return bad

    def files_of(self, marker: Path) -> list[Path]:
        return self._files(marker)

    @contextmanager
    def reading(self, part: Path) -> Iterator[None]:
        """A part that cannot be read is a CollectionFormatError naming the command that repairs it."""
        try:
            yield
        except (OSError, ValueError, pa.ArrowException) as e:
            collection = self._collection()
            name = collection.name
            raise CollectionFormatError(
                f"{part.relative_to(collection)} of collection {name!r} is damaged "
                f"({str(e).splitlines()[0] if str(e) else type(e).__name__}); `vsearch reindex --collection {name}` "
                f"sets it aside and says what was lost") from e

    def _collection(self) -> Path:
        """The collection folder this store lives in."""
        return self.folder.parent

    def remove_incomplete(self) -> int:
        """Delete what a killed writer left behind (only under the collection's writer lock)."""
        n = remove_debris(self.folder)
        if self.folder.is_dir():
            complete = {f for m in self.parts() for f in self._files(m)}
            for p in self.folder.glob(f"{self.prefix}-*"):
                if p not in complete:
                    p.unlink(missing_ok=True)
                    n += 1
        if n:
            self._changed()
        return n

    def compact(self, live_ids: np.ndarray) -> None:
        """Rewrite into one part holding only the live ids that are stored."""
        old = self.parts()
        if not old:
            return
        keep = np.intersect1d(np.asarray(live_ids, dtype=np.int64), self.known_ids())
        new = self.write_part(keep, self._take(keep)) if len(keep) else None
        for marker in old:
            if marker != new:
                for f in self._files(marker):
                    f.unlink(missing_ok=True)
        self._changed()

    def _changed(self) -> None:
        """Hook: a subclass drops what it cached about the parts."""
