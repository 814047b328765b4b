"""What reading the planned files found: file rows, errors, new and changed content — and,
once every file is read, the settled counts (moved = a gone path's content at a new path).
Rows and errors hold names in their stored form (store/names.py): valid UTF-8 to show, and the
name's bytes beside it where they differ. A file with a `.xmp` sidecar gets the sidecar's words in
its row (read here, in the main process: XMP is parsed in ~0.2 ms, and only for files read this
run). Words read again for stored content (pipeline/decode.py Reading) are kept in `updates`, for
the shards and every row of that content (runner.py, commit.py)."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone

from ..imaging.words import sidecar_words, word_fields
from ..store.names import shown, stored
from ..store.tables import WORD_META
from ..times import CLAMPED
from .config import IngestSummary
from .decode import Decoded
from .plan import Plan
from .scan import FileEntry


def _utc(ns: int) -> datetime:
    return datetime.fromtimestamp(ns / 1e9, tz=timezone.utc)


@dataclass
class Results:
    plan: Plan
    rows: list[dict] = field(default_factory=list)      # one per readable file of the root
    errors: list[dict] = field(default_factory=list)    # one per file that could not be ingested
    new_ids: list[int] = field(default_factory=list)    # content at paths the last generation did not have
    changed: int = 0
    touched: int = 0                                    # read again (new date or size), same content
    notes: list[dict] = field(default_factory=list)     # ingested files with something to say (path, note)
    updates: dict[int, dict] = field(default_factory=dict)  # stored content id -> its fields read again
    looked: int = 0                                     # contents the OCR gate looked at
    gated: int = 0                                      # ... and passed to the OCR engine

    def __post_init__(self) -> None:
        root = self.plan.root_key
        self.rows = list(self.plan.unchanged)
        self.errors = [{"path": shown(p), "root": root, "reason": r, "bytes": None, "mtime_ns": None}
                       for p, r in self.plan.problems]

    def add(self, entry: FileEntry, d: Decoded) -> bool:
        """Record one read file; True when its content still needs encoding."""
        root = self.plan.root_key
        if d.error:
            self.errors.append({"path": shown(entry.path), "root": root, "reason": d.error, "bytes": entry.size,
                                "mtime_ns": entry.mtime_ns})
            return False
        prev = self.plan.previous.get(entry.path)
        if prev is None:
            self.new_ids.append(d.id)
        elif prev["id"] != d.id:
            self.changed += 1
        else:
            self.touched += 1
        for note in (CLAMPED if entry.clamped else None, getattr(d, "note", None)):
            if note:
                self.notes.append({"path": shown(entry.path), "note": note})
        path, raw = stored(entry.path)
        self.rows.append({"id": d.id, "path": path, "raw_path": raw, "root": root, "folder": path.rpartition("/")[0],
                          "digest": d.digest, "bytes": entry.size, "mtime": _utc(entry.mtime_ns), "mtime_ns": entry.mtime_ns,
                          "sidecar": self._sidecar(entry)})
        if d.pixels is None and d.meta:
            self._read_again(d)
        if d.meta.get("ocr") is not None:
            self.looked += 1
            self.gated += bool(getattr(d, "gated", False))
        return d.pixels is not None

    def _read_again(self, d: Decoded) -> None:
        """Keep the fields read again for stored content (a copy's result, hashed only, has none)."""
        fields = {}
        if d.id in self.plan.unread and d.meta.get("keywords") is not None:
            fields.update({f: d.meta.get(f) for f in WORD_META if f != "ocr"})
        if d.id in self.plan.unlooked and d.meta.get("ocr") is not None:
            fields["ocr"] = d.meta["ocr"]
        if fields:
            self.updates.setdefault(d.id, {}).update(fields)

    def _sidecar(self, entry: FileEntry) -> dict | None:
        if entry.sidecar_ns is None:
            return None
        return {"mtime_ns": entry.sidecar_ns, **word_fields(sidecar_words(self.plan.root / entry.path))}

    def settle(self, summary: IngestSummary) -> None:
        """Counts that need every file read: moves, removals, errors."""
        scanned = {e.path for e in self.plan.entries}
        gone = [r["id"] for p, r in self.plan.previous.items() if p not in scanned]
        gone_left = Counter(gone)
        moved = 0
        for i in self.new_ids:
            if gone_left.get(i, 0) > 0:
                gone_left[i] -= 1
                moved += 1
        summary.scanned = len(self.plan.entries)
        summary.unchanged = len(self.plan.unchanged)
        summary.changed = self.changed
        summary.touched = self.touched
        summary.skipped = dict(sorted(self.plan.skipped.items()))
        summary.noted = len(self.notes)
        summary.notes = self.notes[:20]
        summary.moved = moved
        summary.new = len(self.new_ids) - moved
        summary.removed = len(gone) - moved
        summary.read_again = len(self.updates)
        summary.ocr_looked, summary.ocr_read = self.looked, self.gated
        summary.errors = len(self.errors)
        summary.error_samples = [{"path": e["path"], "reason": e["reason"]} for e in self.errors[:20]]
