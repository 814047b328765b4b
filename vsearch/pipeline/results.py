"""What reading the planned files found: file rows, errors, new and changed content — and,
once every file is read, the settled counts (moved = a gone path's content at a new path).
Rows and errors hold names in their stored form (store/names.py): valid UTF-8 to show, and the
name's bytes beside it where they differ."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone

from ..store.names import shown, stored
from ..times import CLAMPED
from .config import IngestSummary
from .decode import Decoded
from .plan import Plan
from .scan import FileEntry, media_of


def _key(row: dict):
    """What a file's content is known by: a video's digest (its frames share it), else its id."""
    return row["digest"] if row.get("media") == "video" else row["id"]


def _utc(ns: int) -> datetime:
    return datetime.fromtimestamp(ns / 1e9, tz=timezone.utc)


@dataclass
class Results:
    plan: Plan
    rows: list[dict] = field(default_factory=list)      # one per readable file of the root
    errors: list[dict] = field(default_factory=list)    # one per file that could not be ingested
    new_ids: list = field(default_factory=list)         # content at paths the last generation did not have (ids, video digests)
    changed: int = 0
    companions: int = 0                                 # files recorded under their still's picture
    touched: int = 0                                    # read again (new date or size), same content
    notes: list[dict] = field(default_factory=list)     # ingested files with something to say (path, note)

    def __post_init__(self) -> None:
        root = self.plan.root_key
        self.rows = list(self.plan.unchanged)
        self.errors = [{"path": shown(p), "root": root, "reason": r, "bytes": None, "mtime_ns": None}
                       for p, r in self.plan.problems]

    def add(self, entry: FileEntry, d: Decoded) -> list[Decoded]:
        """Record one read file (a video: a row per frame); returns what of it still needs encoding."""
        root = self.plan.root_key
        if d.error:
            self.errors.append({"path": shown(entry.path), "root": root, "reason": d.error, "bytes": entry.size,
                                "mtime_ns": entry.mtime_ns})
            return []
        prev = self.plan.previous.get(entry.path)
        key = d.digest if d.frames is not None else d.id  # a video is known by its digest, a photo by its id
        if not prev or prev[0].get("companion"):
            self.new_ids.append(key)
        elif _key(prev[0]) != key:
            self.changed += 1
        else:
            self.touched += 1
        self._note(entry, d.note)
        items = d.frames if d.frames is not None else [d]
        for item in items:
            self.rows.append(self._row(entry, item.id, item.digest, media_of(entry.path), False))
        return [item for item in items if item.pixels is not None]

    def _note(self, entry: FileEntry, note: str | None = None) -> None:
        """Record what there is to say of an ingested file: a date clamped at the scan, the decoder's note."""
        for n in (CLAMPED if entry.clamped else None, note):
            if n:
                self.notes.append({"path": shown(entry.path), "note": n})

    def _row(self, entry: FileEntry, id_: int, digest: str | None, media: str, companion: bool) -> dict:
        path, raw = stored(entry.path)
        return {"id": id_, "path": path, "raw_path": raw, "root": self.plan.root_key, "folder": path.rpartition("/")[0],
                "digest": digest, "bytes": entry.size, "mtime": _utc(entry.mtime_ns), "mtime_ns": entry.mtime_ns,
                "media": media, "companion": companion}

    def add_companions(self) -> list[FileEntry]:
        """Record each companion under its still's picture (its id; its own size and time; no digest:
        it is never read). Returns the companions whose still could not be read: they are read on
        their own (or counted as not ingested, plan.not_read)."""
        id_of: dict[str, int] = {}
        for r in self.rows:
            if not r.get("companion"):
                id_of.setdefault(r["path"], r["id"])
        orphans = []
        for entry, still in self.plan.companions:
            id_ = id_of.get(stored(still)[0])
            if id_ is None:
                orphans.append(entry)
            else:
                self.rows.append(self._row(entry, id_, None, media_of(entry.path), True))
                self._note(entry)
        self.companions = len(self.plan.companions) - len(orphans)
        return orphans

    def settle(self, summary: IngestSummary) -> None:
        """Counts that need every file read: moves, removals, errors, skips and notes."""
        scanned = {e.path for e in self.plan.entries}
        gone = [_key(rows[0]) for p, rows in self.plan.previous.items() if p not in scanned and not rows[0].get("companion")]
        gone_left = Counter(gone)
        moved = 0
        for i in self.new_ids:
            if gone_left.get(i, 0) > 0:
                gone_left[i] -= 1
                moved += 1
        summary.scanned = len(self.plan.entries)
        summary.unchanged = len({r["path"] for r in self.plan.unchanged})
        summary.changed = self.changed
        summary.touched = self.touched
        summary.skipped = dict(sorted(self.plan.skipped.items()))
        summary.noted = len(self.notes)
        summary.notes = self.notes[:20]
        summary.moved = moved
        summary.new = len(self.new_ids) - moved
        summary.removed = len(gone) - moved
        summary.errors = len(self.errors)
        summary.error_samples = [{"path": e["path"], "reason": e["reason"]} for e in self.errors[:20]]
        summary.companions = self.companions
