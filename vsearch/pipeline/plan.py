"""Plan: scan a root and diff it against the collection, before anything is read.

Every image file under the root is either unchanged (same path, size and mtime as in the last
generation, its vector stored: carried over without being opened) or to be read. Files of other
roots are left as they are. Moves, deletions and duplicates are settled after reading, when
content ids are known (pipeline/results.py).

A file is also read again when its `.xmp` sidecar changed (added, edited, removed: the scan's
`sidecar_ns`), or when its content's words were never read (`unread`: content stored by an older
format or imported) or, with `--ocr`, never looked at for text (`unlooked`): such content is read
for that, never encoded again (pipeline/decode.py Reading).

Paths are compared as the OS names them: a stored row's name is its `raw_path` bytes when the name
is not valid UTF-8 (store/names.py), so such a file is recognised as unchanged like any other.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..store.names import on_disk, shown
from .scan import FileEntry, scan


@dataclass
class Plan:
    root: Path
    entries: list[FileEntry]                 # every image file found under the root
    todo: list[FileEntry]                    # to read, hash and (if its content is new) encode
    unchanged: list[dict]                    # rows carried over from the last generation
    previous: dict[str, dict]                # the root's rows in the last generation, by path
    other_roots: pa.Table                    # rows of the collection's other roots, untouched
    known: set[int] = field(default_factory=set)  # content ids whose vectors are stored
    problems: list[tuple[str, str]] = field(default_factory=list)  # (path, reason) found while scanning
    skipped: Counter = field(default_factory=Counter)  # entries the scan left out, by reason (pipeline/ignore.py)
    unread: set[int] = field(default_factory=set)    # stored content whose words were never read
    unlooked: set[int] = field(default_factory=set)  # stored content not looked at for text (with --ocr)

    @property
    def root_s(self) -> str:
        """The root as the OS names it (the manifest's `roots` keeps it so: JSON escapes any byte)."""
        return str(self.root)

    @property
    def root_key(self) -> str:
        """The root as the tables store it (`root` column): always valid UTF-8."""
        return shown(str(self.root))


def make_plan(root: Path, previous_images: pa.Table, known_ids: np.ndarray, skip: set[Path],
              exclude: tuple[str, ...] = (), ocr: bool = False) -> Plan:
    skipped: Counter = Counter()
    entries, problems = scan(root, skip=skip, exclude=exclude, skipped=skipped)
    if len(previous_images):
        mine = pc.equal(previous_images["root"], shown(str(root)))
        previous = {on_disk(r): r for r in previous_images.filter(mine).to_pylist()}
        other_roots = previous_images.filter(pc.invert(mine))
    else:
        previous, other_roots = {}, previous_images
    known = set(known_ids.tolist())
    unread = _ids_where_null(previous_images, "keywords") & known
    unlooked = _ids_where_null(previous_images, "ocr") & known if ocr else set()
    todo, unchanged = [], []
    for e in entries:
        p = previous.get(e.path)
        if (p and p["bytes"] == e.size and p["mtime_ns"] == e.mtime_ns and p["id"] in known
                and (p.get("sidecar") or {}).get("mtime_ns") == e.sidecar_ns
                and p["id"] not in unread and p["id"] not in unlooked):
            unchanged.append(p)
        else:
            todo.append(e)
    return Plan(root, entries, todo, unchanged, previous, other_roots, known, problems, skipped, unread, unlooked)


def _ids_where_null(images: pa.Table, column: str) -> set[int]:
    """Content ids of the rows (of every root) whose `column` is null."""
    if not len(images):
        return set()
    return set(images.filter(pc.is_null(images[column])).column("id").to_pylist())
