"""A damaged manifest.json rebuilt from what is intact, without encoding anything (`vsearch reindex`).

Every commit leaves, beside the files of its generation g, `readers-<g>.lock` (the list of those
files, written after all of them) and `manifest-<g>.json` (a copy of the manifest). The rebuild:
1. takes the newest complete generation on disk: the highest g whose readers-<g>.lock lists only
   plain file names that all exist (else the newest copy whose files all exist);
2. takes the model record, the index record, the roots and how videos are sampled (`video`) from
   the newest readable copy of the manifest (for a collection written before the copies existed:
   from `model_record`, the record of the model the user names; its width must be the stored
   vectors'; such a collection's video sampling is then the next --videos run's);
3. names that generation's files, counts its tables' rows and adds the roots its images table
   holds; the damaged manifest.json is set aside in damaged/ and the rebuilt one written atomically.
The command then checks and rebuilds the rest as for any repair (pipeline/repair.py).
"""
from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import pyarrow.parquet as pq

from ..errors import ManifestDamagedError, VsearchError
from ..models.identity import ModelRecord
from .collection import DAMAGED
from .manifest import IndexRecord, Manifest, read_manifest_file, write_manifest
from .manifest_check import is_plain_name
from .names import shown
from .storage import writing

_LOCK = re.compile(r"readers-(\d{6})\.lock")
_COPY = re.compile(r"manifest-(\d{6})\.json")
_KEY = re.compile(r"(.+)-(\d{6})(?:\.parquet|\.faiss)?")
_TABLE_COUNTS = {"images": "images", "errors": "errors", "texts": "texts"}


def _numbered(folder: Path, pattern: re.Pattern) -> list[tuple[int, Path]]:
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := pattern.fullmatch(p.name))]
    return sorted(found, reverse=True)


def _lock_files(path: Path, folder: Path) -> dict[str, str] | None:
    """{key: file name} listed by a readers lock, when every name is plain and exists."""
    try:
        names = json.loads(path.read_bytes()[:1 << 20] or b"null")
    except (OSError, ValueError):
        return None
    if not isinstance(names, list) or not names:
        return None
    files = {}
    for name in names:
        m = _KEY.fullmatch(name) if is_plain_name(name) else None
        if m is None or not (folder / name).exists():
            return None
        files[m.group(1)] = name
    return files if "images" in files else None


def _copies(folder: Path) -> list[Manifest]:
    found = []
    for _, path in _numbered(folder, _COPY):
        try:
            found.append(read_manifest_file(path))
        except (OSError, VsearchError):
            continue
    return found


def rebuilt_manifest(folder: Path, model_record: Callable[[], ModelRecord] | None = None) -> tuple[Manifest, str]:
    """(the manifest of the newest complete generation, where it came from); see the module docstring."""
    copies = _copies(folder)
    newest: tuple[int, dict[str, str]] | None = None
    for gen, lock in _numbered(folder, _LOCK):
        files = _lock_files(lock, folder)
        if files is not None:
            newest = (gen, files)
            break
    usable = [c for c in copies if all((folder / f).exists() for f in c.files.values()) and "images" in c.files]
    if newest is None and not usable:
        raise ManifestDamagedError(f"the manifest of collection {folder.name!r} cannot be rebuilt: no complete generation "
                                   f"is left in {folder}; ingest its folders into a new collection")
    base = copies[0] if copies else None
    if base is None:
        if model_record is None:
            raise ManifestDamagedError(
                f"collection {folder.name!r} was written before vsearch kept copies of its manifest: name the model it "
                f"was built with, `vsearch reindex --collection {folder.name} --model NAME`, to rebuild it")
        base = Manifest(model=model_record(), index=IndexRecord(type="auto"))
    if newest is not None and (not usable or newest[0] > usable[0].generation):
        gen, files = newest
        source = f"the files of generation {gen}" + (f" and the copy of generation {base.generation}'s manifest"
                                                     if copies else "")
    else:
        gen, files = usable[0].generation, dict(usable[0].files)
        source = f"the copy of generation {gen}'s manifest"
    m = Manifest(model=base.model, index=replace(base.index), generation=gen, roots=list(base.roots), files=files,
                 counts=dict(base.counts), last_ingest=dict(base.last_ingest), video=dict(base.video),
                 created=base.created, updated=base.updated)
    for key, count in _TABLE_COUNTS.items():
        m.counts[count] = _rows(folder / files[key]) if key in files else 0
    m.roots = sorted(set(m.roots) | (_roots(folder / files["images"]) - {shown(r) for r in m.roots}))
    return m, source


def _rows(path: Path) -> int:
    try:
        return pq.ParquetFile(path).metadata.num_rows
    except (OSError, ValueError):  # damaged: pipeline/repair.py sets it aside next
        return 0


def _roots(images: Path) -> set[str]:
    """The roots an images table names (absolute folders), beyond those the copy lists."""
    try:
        roots = pq.ParquetFile(images).read(columns=["root"]).column("root").unique().to_pylist()
    except (OSError, ValueError, KeyError):
        return set()
    return {r for r in roots if isinstance(r, str) and r.startswith("/") and "\0" not in r}


def repair_manifest(store, model_record: Callable[[], ModelRecord] | None = None) -> list[str]:
    """Under the writer lock of `store` (a CollectionStore): when manifest.json is damaged, keep it
    in damaged/ and write the rebuilt one; the lines that say so (none when it was sound)."""
    try:
        store.refresh()
        store.manifest  # noqa: B018 - reading it is the check
        return []
    except ManifestDamagedError as e:
        why = getattr(e, "why", "damaged")
    manifest, source = rebuilt_manifest(store.folder, model_record)
    kept = _keep(store.folder)
    write_manifest(store.folder, manifest)  # replaces the damaged one atomically
    store._clear_debris()  # files of generations after the rebuilt one: never committed
    store.refresh()
    return [f"set aside manifest.json ({why}) -> {kept}", f"manifest.json rebuilt from {source} (nothing encoded)"]


def _keep(folder: Path) -> str:
    """A copy of the damaged manifest.json in damaged/ (a link where the file system allows)."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    dest = folder / DAMAGED / f"{stamp}-manifest.json"
    n = 1
    while dest.exists():
        n += 1
        dest = folder / DAMAGED / f"{stamp}-{n}-manifest.json"
    with writing(f"{DAMAGED}/", folder, "nothing was changed"):
        dest.parent.mkdir(exist_ok=True)
        try:
            os.link(folder / "manifest.json", dest)
        except OSError:
            shutil.copyfile(folder / "manifest.json", dest)
    return str(dest.relative_to(folder))
