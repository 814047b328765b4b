"""manifest.json: the single entry point of a collection generation. Replaced last, atomically.

The format carries a version. A collection written by an older vsearch is brought up to date
by the migration ladder: one function per step (version N -> N+1) that rewrites the manifest
dict (and, where a step needs it, derived files); `read_manifest` climbs it rung by rung, and the
next commit stores the new version. A newer version than this vsearch reads is refused.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Callable

from ..atomic import atomic_write
from ..errors import CollectionFormatError
from ..models.identity import ModelRecord

FORMAT_VERSION = 3


def _v1_to_v2(raw: dict[str, Any], folder: Path) -> dict[str, Any]:
    """Version 2 stores file names that are not valid UTF-8 (the images table's `raw_path`), lists
    each generation's files in `readers-<gen>.lock` for the readers that hold it, and sets damaged
    files aside in `damaged/`. Nothing of a version-1 collection needs rewriting: version 1 could not
    store such names, so its images table reads with `raw_path` null (tables.conform); its
    generations get their reader locks from the readers that open them; it has nothing set aside."""
    return raw


def _v2_to_v3(raw: dict[str, Any], folder: Path) -> dict[str, Any]:
    """Version 3 writes indexes as folders (`index-<gen>/`: vsearch/index's format, memory-mapped
    where the kind allows) and records in `index` what auto chose and the recall it measured.
    A version-2 single-file index (`index-<gen>.faiss`) is read as it is (index/legacy.py) until
    the next commit writes a folder; its record keeps type and params."""
    return raw


# version N -> function(raw manifest dict, collection folder) -> raw manifest dict of version N+1
MIGRATIONS: dict[int, Callable[[dict[str, Any], Path], dict[str, Any]]] = {1: _v1_to_v2, 2: _v2_to_v3}


@dataclass
class IndexRecord:
    """The manifest's `index` (docs/FORMAT.md): what the code reads, typed; what the last build
    measured (vsearch/index/auto.py's record: why it chose, recall, latency, memory) rides along."""
    type: str = "auto"
    params: dict[str, Any] = field(default_factory=dict)
    requested: str | None = None       # what --index asked for, kept by later ingests
    max_memory: int | None = None      # the --max-index-memory given (bytes), kept likewise
    updates: int = 0                   # commits that changed the index in place since its last build
    live: int | None = None            # entries after the last in-place change
    measured: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> "IndexRecord":
        typed = {f.name for f in fields(cls)} - {"measured"}
        return cls(**{k: raw[k] for k in typed if k in raw}, measured={k: v for k, v in raw.items() if k not in typed})

    def to_json(self) -> dict[str, Any]:
        out = {**self.measured, "type": self.type, "params": self.params, "requested": self.requested,
               "max_memory": self.max_memory, "updates": self.updates}
        return out if self.live is None else {**out, "live": self.live}


@dataclass
class Manifest:
    model: ModelRecord
    index: IndexRecord
    generation: int = 0
    format_version: int = FORMAT_VERSION
    roots: list[str] = field(default_factory=list)
    files: dict[str, Any] = field(default_factory=dict)   # each part's file: images, errors, index, texts, ...
    counts: dict[str, int] = field(default_factory=dict)
    last_ingest: dict[str, Any] = field(default_factory=dict)
    created: str = ""
    updated: str = ""

    def to_json(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        return {**out, "model": self.model.to_json(), "index": self.index.to_json()}

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> "Manifest":
        return cls(**{**raw, "model": ModelRecord.from_json(raw["model"]), "index": IndexRecord.from_json(raw["index"])})


def write_manifest(folder: Path, m: Manifest) -> None:
    m.format_version = FORMAT_VERSION
    atomic_write(folder / "manifest.json", json.dumps(m.to_json(), indent=1, sort_keys=True).encode(), point="manifest")


def migrate(raw: dict[str, Any], folder: Path) -> dict[str, Any]:
    version = raw.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION or version < 1:
        raise CollectionFormatError(
            f"{folder} has format version {version}; this vsearch reads versions 1 to {FORMAT_VERSION}. "
            f"Use the vsearch that wrote it, or re-ingest it into a new collection.")
    while raw["format_version"] < FORMAT_VERSION:
        step = MIGRATIONS[raw["format_version"]]
        raw = {**step(raw, folder), "format_version": raw["format_version"] + 1}
    return raw


def read_manifest(folder: Path) -> Manifest:
    path = folder / "manifest.json"
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise
    except (OSError, ValueError) as e:
        raise CollectionFormatError(f"{path} is damaged ({e}); re-run `vsearch ingest` into a new collection") from e
    if not isinstance(raw, dict):
        raise CollectionFormatError(f"{path} is not a vsearch manifest")
    raw = migrate(raw, folder)
    try:
        return Manifest.from_json(raw)
    except (TypeError, KeyError, ValueError) as e:
        raise CollectionFormatError(f"{path} is not a vsearch manifest ({e})") from e
