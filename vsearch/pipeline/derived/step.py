"""What a derived-data step is: one part of a collection (a Parquet table or a folder such as an
index) computed from what the collection records — its items' ids and their vectors — and
written under each generation's name.

Every writer's commit runs the list of steps (pipeline/derived/__init__.py STEPS) through the
writer transaction (pipeline/transaction.py), and so does a repair (pipeline/repair.py): a new
derived file is one module with its step plus one entry in that list; the crash and repair
suites iterate the list.

A step's `derive(change)` gets the previous generation (to read its own previous part), what the
commit changes (ids live now, added, removed) and the items' vectors, which it may load or stream
in chunks (bounded memory, whatever the collection's size); it returns the new part, CARRY (the
previous part serves unchanged) or DROP (the generation has none).
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from functools import cached_property
from typing import TYPE_CHECKING, Any, Iterator, Protocol

import numpy as np
import pyarrow as pa

from ...atomic import TMP_PREFIX
from ...errors import CollectionFormatError
from ...store.collection import CARRY, DROP, CollectionStore
from ...store.manifest import Manifest

if TYPE_CHECKING:
    from ...models.handle import ModelHandle

__all__ = ["CARRY", "DROP", "Change", "DerivedStep", "Items", "VectorSource"]

CHUNK = 65_536  # vectors a chunk holds when a step streams them


class VectorSource(Protocol):
    """The vectors of a subject's live items."""

    def load(self, ids: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(ids ascending, float32 [n, d]) of `ids` (all stored, unique), default every live id."""

    def chunks(self, ids: np.ndarray | None = None, size: int = CHUNK) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """The same, streamed: at most `size` vectors at a time, each id once."""


@dataclass
class Items:
    """One subject's items at a commit: image content ids (vectors in the shards) or corpus text ids."""
    live: np.ndarray                   # ids live after the commit, ascending, unique
    before: np.ndarray                 # ids the previous generation's table held, ascending, unique
    vectors: VectorSource | None       # None: not at hand in this commit (texts an ingest does not touch)

    @cached_property
    def added(self) -> np.ndarray:
        return np.setdiff1d(self.live, self.before, assume_unique=True)

    @cached_property
    def removed(self) -> np.ndarray:
        return np.setdiff1d(self.before, self.live, assume_unique=True)

    @property
    def changed(self) -> bool:
        return bool(len(self.added) or len(self.removed))


@dataclass
class Change:
    """What a step derives from: the previous generation, the new one's items and recorded
    tables, the parts the steps before it derived in this commit, the model."""
    store: CollectionStore             # reads the previous generation's parts
    manifest: Manifest                 # the new generation's (a step may update its own record in it)
    model: ModelHandle                 # embed_dim, the hubness correction
    items: dict[str, Items]            # by subject: "images", "texts"
    tables: dict[str, pa.Table]        # the new generation's recorded tables: images, errors, texts
    rebuild: bool = False              # build every part anew from the items (vsearch reindex)
    options: dict[str, Any] = field(default_factory=dict)  # the writer's options (index_type, max_index_memory)
    derived: dict[str, Any] = field(default_factory=dict)  # key -> what each earlier step returned
    scratches: list[Path] = field(default_factory=list)     # work folders the writer removes after the commit

    def scratch(self, what: str) -> Path:
        """A new work folder name in the collection's folder (its filesystem: a part built there
        is hard-linked into the generation), removed by the writer once the commit is done; a
        crash leaves it as debris the next repair removes (its name starts with TMP_PREFIX)."""
        path = self.store.folder / f"{TMP_PREFIX}{what}-{uuid.uuid4().hex[:8]}"
        self.scratches.append(path)
        return path

    def part(self, step: "DerivedStep") -> Any | None:
        """The new generation's part of an earlier step (say the image index, for a step that
        looks up neighbours): the one it derived now, else the one it carries over; None if none."""
        new = self.derived.get(step.key)
        if new is DROP:
            return None
        if new is not CARRY:
            return new
        return step.previous(replace(self, rebuild=False))


class DerivedStep:
    """One derived part. Subclasses set `key` and `subject` and implement `derive`."""
    key: str = ""                      # its file's key in the manifest; `commit:<key>` is its write's crash point
    subject: str = "images"            # whose ids and vectors it derives from
    schema: pa.Schema | None = None    # a table's columns (checked when read, and by repair); None: a folder
    phase: str = "commit"              # the timing its work is counted under (IngestSummary.timings)
    what: str = ""                     # what it holds, as a repair's note names it (default: its key)
    until: str = ""                    # what goes without it until it is rebuilt, if anything

    def lost_note(self) -> str:
        """A repair's note when its damaged part was set aside: who rebuilds it (a commit whose
        items' vectors are at hand; the texts' are encoded only by `vsearch reindex`)."""
        what = self.what or f"the {self.key} part"
        by = "from the vectors by this command's commit" if self.subject == "images" else "by `vsearch reindex`"
        return f"{what} is rebuilt {by}" + (f" ({self.until})" if self.until else "")

    def derive(self, change: Change) -> Any:
        """The part of the new generation, CARRY or DROP."""
        raise NotImplementedError

    def previous(self, change: Change) -> Any | None:
        """The previous generation's part, or None when it has none, it cannot be read, or
        `change.rebuild` asks for a new one."""
        if change.rebuild or not change.store.exists() or not change.store.manifest.files.get(self.key):
            return None
        try:
            return self.read(change.store)
        except CollectionFormatError:
            return None

    def read(self, store: CollectionStore) -> Any:
        """The current generation's part, checked (a CollectionFormatError names the repair)."""
        if self.schema is None:
            raise NotImplementedError(f"the {self.key} step reads its folder itself")
        return store.read_table(self.key, self.schema)
