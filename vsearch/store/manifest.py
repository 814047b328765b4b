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
from ..errors import CollectionFormatError, ManifestDamagedError
from ..models.identity import ModelRecord
from .manifest_check import MAX_MANIFEST, manifest_problem

FORMAT_VERSION = 4


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


def _v3_to_v4(raw: dict[str, Any], folder: Path) -> dict[str, Any]:
    """Version 4 holds RAW files, videos and each picture's pixel signature (one version 4 for both):
    - the images table is one row per (file, vector) (a video has a row per sampled frame) with
      `media` and `companion` columns; the manifest records how videos are sampled (`video`);
    - the content metadata gains `lens`, `frame_ms`, `duration_ms` and `phash` (the picture's 64-bit
      perceptual hash), and the vector shards a 32 x 32 grey thumbnail (`thumb`, imaging/signature.py);
    - the near-duplicate pairs are a derived part (`duplicates-<gen>.parquet`).
    Nothing of a version-3 collection needs rewriting: its tables and shards read with the new
    columns null (a photo, not a companion, without a pixel signature: grouped by its vectors alone),
    which is what they hold; it has no `video` record until an ingest with --videos writes one, and
    the next commit finds its near-duplicate pairs. Version 4 is a bump because a reader of version 3
    would show each frame of a video as a photo it cannot decode."""
    return raw


# version N -> function(raw manifest dict, collection folder) -> raw manifest dict of version N+1
MIGRATIONS: dict[int, Callable[[dict[str, Any], Path], dict[str, Any]]] = {1: _v1_to_v2, 2: _v2_to_v3, 3: _v3_to_v4}


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
    video: dict[str, Any] = field(default_factory=dict)   # how videos are sampled (imaging/video.py Sampling), once set
    created: str = ""
    updated: str = ""

    def to_json(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        return {**out, "model": self.model.to_json(), "index": self.index.to_json()}

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> "Manifest":
        return cls(**{**raw, "model": ModelRecord.from_json(raw["model"]), "index": IndexRecord.from_json(raw["index"])})


SNAPSHOT = "manifest-{:06d}.json"  # each generation's manifest, kept beside it: what a repair rebuilds from


def write_manifest(folder: Path, m: Manifest) -> None:
    m.format_version = FORMAT_VERSION
    data = json.dumps(m.to_json(), indent=1, sort_keys=True).encode()
    # The copy goes first: whenever manifest.json names generation g, manifest-<g>.json was written
    # (not fsynced: it is needed only if manifest.json is damaged, and is checked when it is read).
    atomic_write(folder / SNAPSHOT.format(m.generation), data, point="commit:snapshot", durable=False)
    atomic_write(folder / "manifest.json", data, point="manifest")


def migrate(raw: dict[str, Any], folder: Path) -> dict[str, Any]:
    version = raw.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise damaged(folder / "manifest.json", f"format_version {str(version)[:20]!r} is not a version number")
    if version > FORMAT_VERSION:
        raise CollectionFormatError(
            f"{folder} has format version {version}; this vsearch reads versions 1 to {FORMAT_VERSION}. "
            f"Use the vsearch that wrote it, or re-ingest it into a new collection.")
    while raw["format_version"] < FORMAT_VERSION:
        step = MIGRATIONS[raw["format_version"]]
        raw = {**step(raw, folder), "format_version": raw["format_version"] + 1}
    return raw


def damaged(path: Path, why: str) -> ManifestDamagedError:
    name = path.parent.name
    e = ManifestDamagedError(f"{path.name} of collection {name!r} is damaged ({why}); rebuild it with "
                             f"`vsearch reindex --collection {name}` (from the files of its newest generation; "
                             f"nothing is encoded again)")
    e.why = why
    return e


def read_manifest(folder: Path) -> Manifest:
    return read_manifest_file(folder / "manifest.json")


def read_manifest_file(path: Path) -> Manifest:
    """A manifest (manifest.json or a generation's copy) read, brought up to date and checked
    (store/manifest_check.py): a ManifestDamagedError when it cannot be used."""
    try:
        if path.stat().st_size > MAX_MANIFEST:
            raise damaged(path, f"larger than {MAX_MANIFEST >> 20} MB")
        raw = json.loads(path.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        raise
    except (OSError, ValueError, RecursionError) as e:
        raise damaged(path, str(e).splitlines()[0][:200] if str(e) else type(e).__name__) from e
    if not isinstance(raw, dict):
        raise damaged(path, "it is not a JSON object")
    raw = migrate(raw, path.parent)
    why = manifest_problem(raw)
    if why is not None:
        raise damaged(path, why)
    try:
        return Manifest.from_json(raw)
    except (TypeError, KeyError, ValueError) as e:
        raise damaged(path, f"{type(e).__name__}: {e}"[:200]) from e
