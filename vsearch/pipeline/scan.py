"""Scan stage: every image file under a root, with its size and mtime (no file is opened)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".jpe", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff", ".heic", ".heif"})


@dataclass(frozen=True)
class FileEntry:
    path: str        # relative to the root, '/'-separated
    size: int
    mtime_ns: int


def scan(root: Path, skip: set[Path] | None = None) -> tuple[list[FileEntry], list[tuple[str, str]]]:
    """(image files sorted by path, [(path, reason)] for entries that could not be read).
    Hidden files and folders, and any folder in `skip` (e.g. the index home), are left out."""
    root = Path(root)
    skip_real = {os.path.realpath(p) for p in (skip or set())}
    files: list[FileEntry] = []
    problems: list[tuple[str, str]] = []

    def onerror(e: OSError) -> None:
        problems.append((os.path.relpath(e.filename, root) if e.filename else ".", f"unreadable folder: {e.strerror}"))

    for dirpath, dirnames, filenames in os.walk(root, onerror=onerror):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".")
                             and os.path.realpath(os.path.join(dirpath, d)) not in skip_real)
        for name in filenames:
            if name.startswith(".") or os.path.splitext(name)[1].lower() not in IMAGE_EXTENSIONS:
                continue
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, root).replace(os.sep, "/")
            try:
                st = os.stat(full)
            except OSError as e:
                problems.append((rel, f"unreadable: {e.strerror}"))
                continue
            files.append(FileEntry(rel, st.st_size, st.st_mtime_ns))
    files.sort(key=lambda f: f.path)
    return files, problems
