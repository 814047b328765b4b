"""Plan: scan a root and diff it against the collection, before anything is read.

Every file found under the root is one of:
- unchanged (same path, size and mtime as in the last generation, every content id of it stored:
  a photo's one, a video's frames): its rows are carried over without the file being opened;
- a companion (pipeline/pairs.py: a RAW beside its JPEG, a Live Photo's video): recorded under
  the picture of the still it belongs to once that is read (Results.add_companions), never read;
- seen and not ingested (`not_read`), counted by reason in `skipped` beside what the scan left out
  (pipeline/ignore.py): a RAW without rawpy ("raw: rawpy not installed"), a video without
  --videos ("video: run with --videos") or without PyAV; a file skipped so whose rows are in the
  last generation keeps them while its size and mtime hold;
- to read (`todo`).
Files of other roots are left as they are. Moves, deletions and duplicates are settled after
reading, when content ids are known (pipeline/results.py).

A file is also read again when its `.xmp` sidecar changed (added, edited, removed: the scan's
`sidecar_ns`), or when its content's words were never read (`unread`: content stored by an older
format or imported) or, with `--ocr`, never looked at for text (`unlooked`): such content is read
for that, never encoded again (pipeline/decode.py Reading).

Paths are compared as the OS names them: a stored row's name is its `raw_path` bytes when the name
is not valid UTF-8 (store/names.py), so such a file is recognised as unchanged like any other.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..imaging.raw import MISSING as RAW_MISSING
from ..imaging.raw import raw_available
from ..imaging.video import MISSING as VIDEO_MISSING
from ..imaging.video import video_available
from ..store.names import on_disk, shown
from ..store.spill import taken
from .ignore import VIDEOS_NOT_ASKED
from .known import KnownIds
from .pairs import Sized, companions
from .scan import FileEntry, media_of, scan


@dataclass
class Plan:
    root: Path
    entries: list[FileEntry]                 # every photo, RAW and video file found under the root
    todo: list[FileEntry]                    # to read, hash and (if its content is new) encode
    unchanged: list[dict]                    # rows carried over from the last generation
    previous: dict[str, list[dict]]          # the root's rows in the last generation, by path (a video: one per frame)
    other_roots: pa.Table                    # rows of the collection's other roots, untouched
    known: KnownIds = field(default_factory=KnownIds)  # content ids whose vectors are stored
    problems: list[tuple[str, str]] = field(default_factory=list)  # (path, reason) found while scanning
    companions: list[tuple[FileEntry, str]] = field(default_factory=list)  # (companion, the path of its still)
    # files and folders seen and not ingested, by reason: the scan's (pipeline/ignore.py) and not_read's
    skipped: Counter = field(default_factory=Counter)
    unread: set[int] = field(default_factory=set)    # stored content whose words were never read
    unlooked: set[int] = field(default_factory=set)  # stored content not looked at for text (with --ocr)
    videos: bool = False                     # videos are read (--videos, or the collection's record)
    known_videos: dict[str, list[dict]] = field(default_factory=dict)  # video digest -> its frames' content rows

    def not_read(self, entry: FileEntry) -> str | None:
        """Why a file is seen and not ingested (a reason of `skipped`), or None when it is read."""
        media = media_of(entry.path)
        if media == "raw" and not raw_available():
            return RAW_MISSING
        if media == "video":
            if not self.videos:
                return VIDEOS_NOT_ASKED
            if not video_available():
                return VIDEO_MISSING
        return None

    def again(self, cid: int) -> bool:
        """Whether stored content is read again for its words or its text."""
        return cid in self.unread or cid in self.unlooked

    @property
    def root_s(self) -> str:
        """The root as the OS names it (the manifest's `roots` keeps it so: JSON escapes any byte)."""
        return str(self.root)

    @property
    def root_key(self) -> str:
        """The root as the tables store it (`root` column): always valid UTF-8."""
        return shown(str(self.root))


def make_plan(root: Path, previous_images: pa.Table, known_ids: np.ndarray, skip: set[Path],
              videos: bool = False, exclude: tuple[str, ...] = (), ocr: bool = False,
              spill_to: Path | None = None) -> Plan:
    """What an ingest of `root` must do (`spill_to`: a folder where a large table of the other
    roots' rows is mapped from: store/spill.py)."""
    skipped: Counter = Counter()
    entries, problems = scan(root, skip=skip, exclude=exclude, skipped=skipped)
    if len(previous_images):
        mine = pc.equal(previous_images["root"], shown(str(root)))
        previous: dict[str, list[dict]] = defaultdict(list)
        for r in previous_images.filter(mine).to_pylist():
            previous[on_disk(r)].append(r)
        previous = dict(previous)
        other_roots = taken(previous_images, np.flatnonzero(~mine.to_numpy(zero_copy_only=False)), spill_to)
    else:
        previous, other_roots = {}, previous_images
    plan = Plan(root, entries, [], [], previous, other_roots, KnownIds(known_ids), problems, skipped=skipped, videos=videos)
    unread = _ids_where_null(previous_images, "keywords")
    plan.unread = {i for i in unread if i in plan.known}
    plan.unlooked = {i for i in _ids_where_null(previous_images, "ocr") if i in plan.known} if ocr else set()
    paired = companions([Sized(e.path, e.size) for e in entries])
    for e in entries:
        rows = previous.get(e.path, [])
        same = bool(rows) and all(r["bytes"] == e.size and r["mtime_ns"] == e.mtime_ns for r in rows)
        if e.path in paired:
            plan.companions.append((e, paired[e.path]))
        elif (why := plan.not_read(e)) is not None:
            plan.skipped[why] += 1
            if same:  # still there, only not readable here and now: what was read of it stays
                plan.unchanged.extend(rows)
        elif (same and all(r["id"] in plan.known and not plan.again(r["id"]) for r in rows)
              and not any(r.get("companion") for r in rows)
              and all((r.get("sidecar") or {}).get("mtime_ns") == e.sidecar_ns for r in rows)):
            plan.unchanged.extend(rows)
        else:
            plan.todo.append(e)
    if videos and any(media_of(e.path) == "video" for e in plan.todo):
        plan.known_videos = _frames_by_video(previous_images)
    return plan


def _ids_where_null(images: pa.Table, column: str) -> set[int]:
    """Content ids of the photo rows (of every root) whose `column` is null (a video's frames are
    not read for words or text: its sidecar's words are its own)."""
    if not len(images):
        return set()
    photos = pc.invert(pc.fill_null(pc.equal(images["media"], "video"), False))
    return set(images.filter(pc.and_(pc.is_null(images[column]), photos)).column("id").to_pylist())


def _frames_by_video(images: pa.Table) -> dict[str, list[dict]]:
    """digest -> the content rows of its frames (each id once, in time order), of every root."""
    if not len(images):
        return {}
    from ..store.tables import CONTENT_META

    frames = images.filter(pc.fill_null(pc.equal(images["media"], "video"), False))
    frames = frames.filter(pc.fill_null(pc.invert(frames["companion"]), True)).select(["id", "digest", *CONTENT_META])
    out: dict[str, dict[int, dict]] = defaultdict(dict)
    for r in frames.to_pylist():
        out[r["digest"]].setdefault(r["id"], r)
    return {d: sorted(rows.values(), key=lambda r: r["frame_ms"] or 0) for d, rows in out.items()}
