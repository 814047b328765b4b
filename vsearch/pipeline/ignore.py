"""What a scan leaves out, and why, besides the photo, RAW and video files it finds.

- Hidden names (a leading '.'): never scanned.
- What photo systems and operating systems leave beside photos (SYSTEM_IGNORED, matched without
  regard to case): NAS thumbnail and metadata folders, recycle bins, snapshots, trash folders,
  Apple resource forks, Windows thumbnail caches. A Synology share holds a thumbnail of every photo
  in `@eaDir/`: ingested, they would crowd every photo's more-like-this results.
- The user's patterns: `--exclude PATTERN` (this run) and a `.vsearchignore` file at the root
  (every run), both in gitignore syntax (matched by pathspec), relative to the root.
- Files that are no photo, RAW or video (OTHER). RAW and video files are scanned like photos (their
  extensions are imaging/raw.py's and imaging/video.py's); whether they are read is the plan's
  (pipeline/plan.py `not_read`: a RAW without rawpy, a video without --videos or PyAV), and the
  files it does not read are counted in the same `skipped`, so that a folder of them never reads as
  "0 files found" alone.

`Skipped` counts each reason; a folder left out counts once (its files are not walked). `REASONS`
words every reason of the summary's `skipped`, this module's and the plan's, once.
"""
from __future__ import annotations

import os
import stat
from collections import Counter
from pathlib import Path

from pathspec import GitIgnoreSpec

from ..errors import InvalidOptionError
from ..imaging.raw import MISSING as RAW_MISSING
from ..imaging.video import MISSING as VIDEO_MISSING

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
OTHER = "other"                              # a file that is no photo, RAW or video
VIDEOS_NOT_ASKED = "video: run with --videos"  # the plan's (pipeline/plan.py not_read), like RAW_MISSING, VIDEO_MISSING
# reason (a key of the summary's `skipped`) -> how the summary says it
REASONS = {OTHER: "other files", "hidden": "hidden",
           "system": "system folders and files (NAS thumbnails, recycle bins, trash)",
           "excluded": "excluded (--exclude, .vsearchignore)",
           RAW_MISSING: "RAW photos (rawpy not installed: pip install 'vsearch[raw]')",
           VIDEOS_NOT_ASKED: "videos (run with --videos to ingest them)",
           VIDEO_MISSING: "videos (PyAV not installed: pip install 'vsearch[video]')"}

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
        extension is one vsearch reads is the scan's to check)."""
        return self._reason(rel, name, _SYSTEM_FILES)

    def _reason(self, rel: str, name: str, system: GitIgnoreSpec) -> str | None:
        if system.match_file(name.lower()):
            return "system"
        if name.startswith("."):
            return "hidden"
        if self._user is not None and self._user.match_file(rel):
            return "excluded"
        return None


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
    """'16 system folders and files (…), 3 videos (run with --videos …)' for a summary line ('' when
    nothing was skipped)."""
    return ", ".join(f"{n} {REASONS.get(k, k)}" for k, n in skipped.items() if n)


Skipped = Counter
