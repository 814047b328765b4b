"""A collection's near-duplicate groups as its readers see them: made from the stored pairs
(pipeline/derived/duplicates.py) and the images table when first asked, per generation, at the
default rule or any threshold; and search results collapsed to one hit per group.

Nothing here deletes or moves a file: a group names its keeper and the rule that chose it.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import pyarrow as pa
import pyarrow.compute as pc

from ..duplicates import THRESHOLD, Group, Pairs, Rule, duplicate_groups
from ..duplicates.pairs import from_table
from ..errors import CollectionFormatError
from ..store.collection import CollectionStore
from ..store.tables import DUPLICATES_SCHEMA, int64_column
from .hits import Hit

MAX_FETCH = 16_384  # hits looked at, at most, to fill k collapsed ones
DUPLICATE_THRESHOLD = THRESHOLD  # the default rule's (`vsearch duplicates --threshold`)


@dataclass
class Member:
    id: int                    # content id
    path: str                  # absolute
    relpath: str               # relative to its ingested folder
    root: str                  # the ingested folder
    bytes: int | None
    width: int | None
    height: int | None
    date: str | None           # EXIF capture time, else the file's time (ISO 8601)
    similarity: float          # cosine to the keeper's vector (1.0: the keeper, an identical file)
    how: str                   # "keeper", "identical", or what matched the keeper: "vectors", "pixels", "crop"
    moment_s: float | None = None  # a video's: the time of the frame that is the near duplicate

    @property
    def keeper(self) -> bool:
        return self.how == "keeper"


@dataclass
class DuplicateGroup:
    members: list[Member]      # the keeper first
    rule: str                  # the keeper rule that decided (duplicates/keeper.py RULES)
    compared: str              # the values it compared, keeper first
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def keeper(self) -> Member:
        return self.members[0]

    def to_dict(self) -> dict[str, Any]:
        return {"keeper": self.keeper.path, "rule": self.rule, "compared": self.compared,
                "members": [{**asdict(m), "keeper": m.keeper} for m in self.members]}


class DuplicateView:
    """The groups of one generation (`images`: its images table)."""

    def __init__(self, store: CollectionStore, images: pa.Table):
        self.store, self.images = store, without_companions(images)
        self._pairs: Pairs | None = None
        self._default: list[Group] | None = None
        self._group_of: dict[int, int] | None = None

    def pairs(self) -> Pairs:
        if self._pairs is None:
            if not self.store.manifest.files.get("duplicates"):
                raise CollectionFormatError(f"collection {self.store.name!r} has no near-duplicate pairs yet (made before "
                                            f"vsearch found them); `vsearch reindex --collection {self.store.name}` finds them")
            self._pairs = from_table(self.store.read_table("duplicates", DUPLICATES_SCHEMA))
        return self._pairs

    def raw_groups(self, threshold: float | None = None) -> list[Group]:
        if threshold is None:
            if self._default is None:
                self._default = duplicate_groups(self.pairs(), self.images, Rule())
            return self._default
        return duplicate_groups(self.pairs(), self.images, Rule(threshold))

    def groups(self, threshold: float | None = None, offset: int = 0, limit: int | None = None) -> list[DuplicateGroup]:
        """The groups (`limit` of them from `offset`: a page costs its own groups' rows only)."""
        rows = self.images.drop_columns([c for c in ("mtime",) if c in self.images.column_names])  # no pandas
        page = self.raw_groups(threshold)[offset:None if limit is None else offset + limit]
        return [DuplicateGroup([_member(rows.slice(r, 1).to_pylist()[0], s, h) for r, s, h in zip(g.rows, g.similarity, g.how)],
                               g.rule, g.compared) for g in page]

    def group_of(self) -> dict[int, int]:
        """content id -> its group at the default rule (an index into raw_groups())."""
        if self._group_of is None:
            ids = int64_column(self.images, "id")
            self._group_of = {int(ids[r]): i for i, g in enumerate(self.raw_groups()) for r in g.rows}
        return self._group_of

    def collapse(self, search: Callable[[int], list[Hit]], k: int, hit_of: Callable[[int, float], Hit | None],
                 every_moment: bool = False) -> list[Hit]:
        """The top k hits with each group once, at its best hit's place, shown as its keeper
        (`hit_of(id, score)`: the keeper's hit, None when a filter leaves it out: the best hit is
        shown then), the group's other files listed on it. `search(n)`: the top n hits, each video
        already once at its best moment (search/moments.py) unless `every_moment`. A video is shown
        once here too: a group whose keeper is a moment of a video already shown (or the reverse)
        does not show it again."""
        group_of, groups = self.group_of(), self.raw_groups()
        paths = self.images.column("path").to_pylist()
        roots = self.images.column("root").to_pylist()
        ids = int64_column(self.images, "id")
        n = 2 * k
        while True:
            hits = search(n)
            out, seen, shown_files = [], set(), set()
            for h in hits:
                g = group_of.get(h.id)
                if g is not None and g in seen:
                    continue
                shown = h
                if g is not None:
                    seen.add(g)
                    keeper = int(ids[groups[g].keeper])
                    shown = (hit_of(keeper, h.score) if keeper != h.id else h) or h
                    files = [str(Path(roots[r]) / paths[r]) for r in groups[g].rows]
                    shown.near_duplicates = list(dict.fromkeys(
                        f for f in files if f != shown.path and f not in shown.duplicates))
                file = shown.id if every_moment or shown.media != "video" else shown.path
                if file in shown_files:
                    continue
                shown_files.add(file)
                out.append(shown)
                if len(out) == k:
                    return out
            if len(hits) < n or n >= MAX_FETCH:
                return out
            n *= 4


def without_companions(images: pa.Table) -> pa.Table:
    """The images table without its companion rows (a RAW beside its JPEG, a Live Photo's video:
    recorded under their still's picture, never members of a group of their own)."""
    if "companion" not in images.column_names:
        return images
    companion = pc.fill_null(images.column("companion"), False)
    return images.filter(pc.invert(companion)) if pc.any(companion).as_py() else images


def _member(row: dict, similarity: float, how: str) -> Member:
    taken, mtime_ns = row.get("taken_at"), row.get("mtime_ns")
    date = taken.isoformat() if taken else (
        datetime.fromtimestamp(mtime_ns / 1e9, tz=timezone.utc).isoformat(timespec="seconds") if mtime_ns is not None else None)
    return Member(id=int(row["id"]), path=str(Path(row["root"]) / row["path"]), relpath=row["path"], root=row["root"],
                  bytes=row.get("bytes"), width=row.get("width"),
                  height=row.get("height"), date=date, similarity=round(min(float(similarity), 1.0), 4), how=how,
                  moment_s=None if row.get("frame_ms") is None else row["frame_ms"] / 1000)
