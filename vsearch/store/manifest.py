"""manifest.json: the single entry point of a collection generation. Replaced last, atomically."""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import CollectionFormatError

FORMAT_VERSION = 1


@dataclass
class Manifest:
    model: dict[str, Any]                      # name, config, fingerprint, embed_dim
    index: dict[str, Any]                      # type + parameters
    generation: int = 0
    format_version: int = FORMAT_VERSION
    roots: list[str] = field(default_factory=list)
    files: dict[str, Any] = field(default_factory=dict)   # images, errors, index, texts, texts_index
    counts: dict[str, int] = field(default_factory=dict)
    last_ingest: dict[str, Any] = field(default_factory=dict)
    created: str = ""
    updated: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def write_manifest(folder: Path, m: Manifest) -> None:
    atomic_write_bytes(folder / "manifest.json", json.dumps(m.to_json(), indent=1, sort_keys=True).encode())


def read_manifest(folder: Path) -> Manifest:
    path = folder / "manifest.json"
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        raise
    except (OSError, ValueError) as e:
        raise CollectionFormatError(f"{path} is damaged ({e}); re-run `vsearch ingest` into a new collection") from e
    version = raw.get("format_version")
    if version != FORMAT_VERSION:
        raise CollectionFormatError(
            f"{folder} has format version {version}; this vsearch reads version {FORMAT_VERSION}. "
            f"Re-ingest it with this version, or use the vsearch that wrote it.")
    try:
        return Manifest(**raw)
    except TypeError as e:
        raise CollectionFormatError(f"{path} is not a vsearch manifest ({e})") from e
