"""What a scan leaves out, and why, besides the image files it ingests.

- Hidden names (a leading '.'): never scanned.
- What photo systems and operating systems leave beside photos (SYSTEM_IGNORED, matched without
  regard to case): NAS thumbnail and metadata folders, recycle bins, snapshots, trash folders,
  Apple resource forks, Windows thumbnail caches. A Synology share holds a thumbnail of every photo
  in `@eaDir/`: ingested, they would crowd every photo's more-like-this results.
- The user's patterns: `--exclude PATTERN` (this run) and a `.vsearchignore` file at the root
  (every run), both in gitignore syntax (matched by pathspec), relative to the root.
- Files that are not images vsearch reads: RAW photos and videos are counted apart, so that a folder
  of them never reads as "0 image files found".

`Skipped` counts each reason; a folder left out counts once (its files are not walked).
"""
from __future__ import annotations

import os
import stat
from collections import Counter
from pathlib import Path

from pathspec import GitIgnoreSpec

from ..errors import InvalidOptionError

IGNORE_FILE = ".vsearchignore"
MAX_IGNORE_FILE = 1 << 20   # bytes of .vsearchignore read
MAX_PATTERN = 1_000         # characters of one pattern

SYSTEM_IGNORED = (
    "@eaDir/", "#recycle/", "#snapshot/", "@tmp/", "@sharebin/",              # Synology
    ".@__thumb/", "@Recycle/", "@Recently-Snapshot/", ".@__qini/",           # QNAP
    "$RECYCLE.BIN/", "RECYCLER/", "System Volume Information/", "Thumbs.db", "ehthumbs.db",
    "desktop.ini",                                                            # Windows
    ".Trash-*/", ".Trashes/", ".Trash/", "lost+found/",                      # Linux, USB drives
    ".AppleDouble/", "._*", ".DS_Store", ".Spotlight-V100/", ".fseventsd/",  # macOS
    ".thumbnails/", ".picasaoriginals/", "SYNOPHOTO_THUMB_*",                 # thumbnail caches
)
RAW_EXTENSIONS = frozenset({".dng", ".cr2", ".cr3", ".crw", ".nef", ".nrw", ".arw", ".srf", ".sr2", ".raf", ".orf",
                            ".rw2", ".rwl", ".pef", ".srw", ".x3f", ".3fr", ".iiq", ".erf", ".kdc", ".dcr", ".mrw",
                            ".mos", ".raw"})
VIDEO_EXTENSIONS = frozenset({".mp4", ".mov", ".m4v", ".avi", ".mkv", ".mts", ".m2ts", ".3gp", ".wmv", ".webm",
                              ".mpg", ".mpeg", ".flv", ".insv", ".lrv"})
# reason -> how the summary says it
REASONS = {"raw": "RAW photos", "video": "videos", "other": "other files", "hidden": "hidden",
           "system": "system folders and files (NAS thumbnails, recycle bins, trash)",
           "excluded": "excluded (--exclude, .vsearchignore)"}

# Every system pattern names one folder or file: matched against the name alone (lower-cased), a
# folder's only where it is met (the scan never enters an ignored one).
def _line(name: str) -> str:
    """A name as a gitignore line: a leading '#' would make it a comment, a leading '!' a negation."""
    return "\\" + name if name[:1] in "#!" else name


_SYSTEM_FOLDERS = GitIgnoreSpec.from_lines(_line(p.lower().rstrip("/")) for p in SYSTEM_IGNORED if p.endswith("/"))
_SYSTEM_FILES = GitIgnoreSpec.from_lines(_line(p.lower()) for p in SYSTEM_IGNORED if not p.endswith("/"))


def check_patterns(patterns: tuple[str, ...]) -> None:
    """Before any work: every --exclude pattern is a line of text of a sane length."""
    for p in patterns:
        if not isinstance(p, str) or not p.strip() or len(p) > MAX_PATTERN or "\n" in p or "\0" in p:
            shown = repr(p)[:60]
            raise InvalidOptionError(f"--exclude {shown} is not a pattern: give one gitignore-style line, "
                                     f"e.g. 'drafts/' or '*.png'")


class Ignore:
    """The rules of one root: the system list, --exclude patterns and the root's .vsearchignore."""

    def __init__(self, root: Path, exclude: tuple[str, ...] = ()):
        lines = list(exclude) + _ignore_file(Path(root) / IGNORE_FILE)
        self._user = GitIgnoreSpec.from_lines(lines) if lines else None

    def folder(self, rel: str, name: str) -> str | None:
        """Why the folder `name` at `rel` ('/'-separated, relative to the root) is not walked, or None."""
        return self._reason(rel + "/", name, _SYSTEM_FOLDERS)

    def file(self, rel: str, name: str) -> str | None:
        """Why the file `name` at `rel` is left out by a rule of this module, or None (whether its
        extension is an image's is the scan's to check)."""
        return self._reason(rel, name, _SYSTEM_FILES)

    def _reason(self, rel: str, name: str, system: GitIgnoreSpec) -> str | None:
        if system.match_file(name.lower()):
            return "system"
        if name.startswith("."):
            return "hidden"
        if self._user is not None and self._user.match_file(rel):
            return "excluded"
        return None


def kind_of_other(name: str) -> str:
    """The skip reason of a file whose extension is not an image vsearch reads."""
    ext = name[name.rfind("."):].lower() if "." in name else ""
    return "raw" if ext in RAW_EXTENSIONS else "video" if ext in VIDEO_EXTENSIONS else "other"


def _ignore_file(path: Path) -> list[str]:
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):  # a FIFO named so would block the scan
            return []
        with open(path, "rb") as f:
            data = f.read(MAX_IGNORE_FILE)
    except (OSError, ValueError):
        return []
    return [line for line in data.decode("utf-8", "replace").splitlines() if len(line) <= MAX_PATTERN]


def describe(skipped: dict[str, int]) -> str:
    """'3 RAW photos, 1 videos, …' for a summary line ('' when nothing was skipped)."""
    return ", ".join(f"{n} {REASONS.get(k, k)}" for k, n in skipped.items() if n)


Skipped = Counter
