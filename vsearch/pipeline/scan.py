"""Scan stage: every photo, RAW and video file under a root, with its size and mtime (no file is
opened). Which of them are read is the plan's to decide (pipeline/plan.py: RAWs need rawpy, videos
--videos, and a file paired with another is its companion).

Names are what os.walk gives: a name that is not valid UTF-8 arrives surrogate-escaped and is kept
that way until it is stored (store/names.py), so the file can always be opened again.

Links, decided here so that everything ingested can also be shown (search/browse.py serves only
files that resolve inside a root):
- a symlink to a file inside the root is followed (the file is ingested under the link's name too);
- a symlink to a file outside the root is refused with a reason: it could never be shown;
- a symlink to a folder is not followed, and recorded: inside the root, its photos are ingested
  where they are (following would store every one twice); outside, its target is a folder of its
  own to ingest; either way following could loop;
- a broken link or a symlink loop is recorded with its reason.
Special files (FIFOs, devices, sockets) named like images are left to the reader, which refuses
them without opening them (vsearch.imaging). What else is left out (hidden names, NAS and OS
folders, --exclude and .vsearchignore, files that are no photo, RAW or video) is
pipeline/ignore.py's, counted by reason in `skipped`. A modification time the format cannot hold
is clamped (vsearch/times.py) and the entry marked.
"""
from __future__ import annotations

import errno
import os
import stat
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from ..imaging.raw import RAW_EXTENSIONS
from ..imaging.video import VIDEO_EXTENSIONS
from ..times import clamp_ns
from .ignore import OTHER, Ignore

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".jpe", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff", ".heic", ".heif",
                              ".avif", ".mpo"})  # every photo format the reader (vsearch.imaging) decodes
SCANNED_EXTENSIONS = IMAGE_EXTENSIONS | RAW_EXTENSIONS | VIDEO_EXTENSIONS

FOLDER_LINK_INSIDE = "folder symlink not followed: its photos are ingested where it points, inside this folder"
FOLDER_LINK_OUTSIDE = "folder symlink not followed: it points outside this folder; ingest its target on its own"
FILE_LINK_OUTSIDE = "symlink to a file outside this folder: not ingested, it could never be shown"
_STAT_REASONS = {errno.ELOOP: "symlink loop", errno.ENOENT: "broken link: its target does not exist",
                 errno.EACCES: "unreadable: permission denied", errno.ENAMETOOLONG: "unreadable: name too long"}


def media_of(path: str) -> str:
    """What a file is by its extension: "raw", "video" or "photo" (store/tables.py MEDIA)."""
    ext = os.path.splitext(path)[1].lower()
    return "raw" if ext in RAW_EXTENSIONS else "video" if ext in VIDEO_EXTENSIONS else "photo"


@dataclass(frozen=True)
class FileEntry:
    path: str        # relative to the root, '/'-separated, as the OS names it (surrogate-escaped bytes)
    size: int
    mtime_ns: int
    clamped: bool = False  # mtime_ns was outside what the format holds (vsearch/times.py)


def _inside(target: str, root: str) -> bool:
    return target == root or target.startswith(root.rstrip(os.sep) + os.sep)


def scan(root: Path, skip: set[Path] | None = None, exclude: tuple[str, ...] = (),
         skipped: Counter | None = None) -> tuple[list[FileEntry], list[tuple[str, str]]]:
    """(photo, RAW and video files sorted by path, [(path, reason)] for entries that are not ingested
    and say why). Any folder in `skip` (e.g. the index home) is left out, and so is what
    pipeline/ignore.py leaves out (`exclude`: this run's --exclude patterns), counted by reason into
    `skipped`, as is every file that is not a photo, RAW or video (OTHER)."""
    root = Path(root)
    rules = Ignore(root, exclude)
    skipped = Counter() if skipped is None else skipped
    real_root = os.path.realpath(root)
    skip_real = {os.path.realpath(p) for p in (skip or set())}
    files: list[FileEntry] = []
    problems: list[tuple[str, str]] = []

    def rel(full: str) -> str:
        return os.path.relpath(full, root).replace(os.sep, "/")

    def onerror(e: OSError) -> None:
        problems.append((rel(e.filename) if e.filename else ".", f"unreadable folder: {(e.strerror or str(e)).lower()}"))

    for dirpath, dirnames, filenames in os.walk(root, onerror=onerror):
        here = rel(dirpath)
        prefix = "" if here == "." else here + "/"
        keep = []
        for d in sorted(dirnames):
            full = os.path.join(dirpath, d)
            why = rules.folder(prefix + d, d)
            if why:
                skipped[why] += 1
                continue
            if os.path.realpath(full) in skip_real:
                continue
            if os.path.islink(full):
                inside = _inside(os.path.realpath(full), real_root)
                problems.append((rel(full), FOLDER_LINK_INSIDE if inside else FOLDER_LINK_OUTSIDE))
                continue
            keep.append(d)
        dirnames[:] = keep
        for name in filenames:
            full = os.path.join(dirpath, name)
            why = rules.file(prefix + name, name) or (None if os.path.splitext(name)[1].lower() in SCANNED_EXTENSIONS
                                                      else OTHER)
            if why:
                skipped[why] += 1
                continue
            try:
                st = os.stat(full)
            except OSError as e:
                problems.append((rel(full), _STAT_REASONS.get(e.errno, f"unreadable: {(e.strerror or str(e)).lower()}")))
                continue
            if os.path.islink(full):
                if stat.S_ISDIR(st.st_mode):  # os.walk lists these as folders; kept for safety
                    continue
                if not _inside(os.path.realpath(full), real_root):
                    problems.append((rel(full), FILE_LINK_OUTSIDE))
                    continue
            files.append(FileEntry(prefix + name, st.st_size, *clamp_ns(st.st_mtime_ns)))
    files.sort(key=lambda f: f.path)
    problems.sort()
    return files, problems
