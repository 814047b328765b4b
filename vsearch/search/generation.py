"""One committed generation of a collection, as a reader holds it: the store pinned to that
generation, its images table, and the parts that load on first use (the index, the filter's
row positions, the text corpus, the hubness corrections); and the vector search over them.

A `Generation` never changes what it reads: `Collection` swaps in a new one on reload and lets
the old one go when the last request that took it is done (its files stay pinned until then).
Parts load once, under the generation's lock, however many threads ask at the same time.
"""
from __future__ import annotations

import os
import threading
import weakref
from pathlib import Path
from typing import Any, Callable, Hashable

import numpy as np
import pyarrow as pa

from ..errors import QueryError, VsearchError
from ..escape import valid_utf8
from ..filters import Filter
from ..index import default_memory_budget
from ..models.hubness import lookup
from ..store.collection import CollectionStore
from ..store.manifest import Manifest
from ..store.metadata_filter import MetadataFilter
from ..store.names import shown
from ..store.tables import int64_column, rows_at
from ..store.words import merged_words, word_counts
from .browse import Browser
from .dedupe import near_duplicates
from .duplicates import DuplicateView
from .hits import Hit, hit_from_rows
from .hybrid import WordsSearch
from .moments import MAX_MOMENTS, VideoFrames, best_moments

HUBNESS_POOL = 200  # extra cosine candidates re-ranked by the hubness correction (|bias| < ~0.15)


class Rows:
    """Rows of an images table by content id (several rows for duplicates)."""

    def __init__(self, images: pa.Table):
        # Hits are built from this view: converting the tz-aware `mtime` would import pandas.
        self.view = images.drop_columns([c for c in ("mtime",) if c in images.column_names])
        ids = int64_column(images, "id")
        order = np.argsort(ids, kind="stable")
        self._sorted_ids, self._order = ids[order], order

    def numbers(self, id_: int) -> list[int]:
        lo = np.searchsorted(self._sorted_ids, id_, "left")
        hi = np.searchsorted(self._sorted_ids, id_, "right")
        return self._order[lo:hi].tolist()

    def many(self, numbers: list[int]) -> list[dict]:
        """Rows by number, converted together: a row at a time costs ~80 µs (one conversion of
        every column), so a query's 100 candidates cost 8 ms that way against 1 ms here."""
        return rows_at(self.view, numbers)

    def of(self, id_: int) -> list[dict]:
        return self.many(self.numbers(id_))


class Generation:
    def __init__(self, store: CollectionStore, name: str):
        """`store` must be pinned; the generation unpins it when it is let go."""
        self.store = store
        self.manifest: Manifest = store.manifest
        self.images = store.images()
        self.rows = Rows(self.images)
        self.browse = Browser(store.folder, name, self.manifest.roots, self.images, self.rows.of)
        self._lock = threading.RLock()  # a part may load another (the prefetch opens the index)
        self._parts: dict[str, Any] = {}
        # No reference cycle reaches self, so the lease goes as soon as the last user lets go.
        self._release = weakref.finalize(self, store.unpin)

    @property
    def number(self) -> int:
        return self.manifest.generation

    def release(self) -> None:
        """Unpin now (the collection is closed), rather than when the last user lets go."""
        self._release()

    def _part(self, key: str, load: Callable[[], Any]) -> Any:
        try:
            return self._parts[key]
        except KeyError:
            pass
        with self._lock:
            if key not in self._parts:
                self._parts[key] = load()
            return self._parts[key]

    def loaded(self, key: str) -> bool:
        return key in self._parts

    def index(self):
        return self._part("index", self.store.index)

    def row_positions(self) -> np.ndarray:
        """Each images-table row's position in the index (filters select by rows), once per generation."""
        return self._part("row_positions", lambda: self.index().lookup(int64_column(self.images, "id")))

    def filter(self) -> MetadataFilter:
        """`--where` over the images table, its words merged with their sidecars' (store/words.py)."""
        return self._part("filter", lambda: MetadataFilter(merged_words(self.images)))

    def texts(self) -> tuple[pa.Table, Any]:
        return self._part("texts", lambda: (self.store.texts(), self.store.texts_index()))

    def words(self) -> WordsSearch:
        """The words side of a text search (keyword index and each file's words), opened on first use."""
        rows = self.rows  # not self.hits: a part holding the generation would keep it (and its pin) alive
        return self._part("words", lambda: WordsSearch(self.store, self.images, lambda found: hits_of(rows, found)))

    def same_result(self, every_moment: bool, collapse_duplicates: bool) -> Callable[[int], Hashable | None]:
        """What makes ids one result in a search: their near-duplicate group (`collapse_duplicates`),
        else their video (unless `every_moment`); None: a result of its own."""
        video_of = (lambda id_: None) if every_moment else self.frames().video_of
        if not collapse_duplicates:
            return video_of
        group_of = self.duplicates().group_of()
        return lambda id_: ("group", group_of[id_]) if id_ in group_of else video_of(id_)

    def word_counts(self) -> dict[str, int]:
        """How many files have words (store/words.py), counted once per generation."""
        return self._part("word_counts", lambda: word_counts(self.images))

    def allowed_ids(self, where: "str | Filter | None") -> set[int] | None:
        """The content ids a `--where` filter keeps (None: no filter)."""
        if not where or (isinstance(where, Filter) and where.is_empty()):
            return None
        return set(int64_column(self.images, "id")[self.filter().rows(where)].tolist())

    def deduplicated(self, hits: list[Hit], threshold: float) -> list[Hit]:
        """`hits` without those whose stored vector is `threshold` (cosine) close to a better one."""
        if not 0.0 < threshold <= 1.0:
            raise QueryError(f"dedupe is a cosine in (0, 1] (got {threshold!r})")
        if len(hits) < 2:
            return hits
        drop = set(near_duplicates(self.index().vectors(np.array([h.id for h in hits], np.int64)), threshold))
        return [h for n, h in enumerate(hits) if n not in drop]

    def duplicates(self) -> DuplicateView:
        """The near-duplicate groups of this generation (made from its pairs when first asked)."""
        return self._part("duplicates", lambda: DuplicateView(self.store, self.images))

    def bias(self, key: str) -> tuple[np.ndarray, np.ndarray] | None:
        """`image_bias` / `text_bias` of this generation, read once."""
        return self._part(key, lambda: self.store.bias_arrays(key))

    def warm_like(self, other: "Generation") -> None:
        """Load what `other` had loaded, so that the first requests on this one do not wait for it
        (and pre-fault this one's index when `other`'s was)."""
        if other.loaded("prefetch"):
            self.warm()
            return
        for key, load in (("index", self.index), ("image_bias", lambda: self.bias("image_bias"))):
            if other.loaded(key):
                load()

    def warm(self) -> None:
        """Open the index and the image biases now, and pre-fault the mapped pages queries touch
        (index/prefetch.py) up to the collection's index memory budget: the first queries then run
        at the speed of the next ones. A part that cannot be read is left for the first query to
        report."""
        m = self.manifest.index
        budget = m.max_memory or (m.measured.get("memory") or {}).get("budget") or default_memory_budget()
        try:
            self.bias("image_bias")
            job = self._part("prefetch", lambda: self.index().prefetch(int(budget)))
        except VsearchError:
            return
        if job is not None:  # what was left for the background stops when the generation goes
            weakref.finalize(self, job.stop)

    # --- queries over this generation ----------------------------------------------------------
    def resolve(self, ref: "str | int", collection: str) -> int:
        """An id, or a path (absolute, or relative to a root) of an ingested file -> its id."""
        try:
            id_ = int(ref)
            if self.rows.numbers(id_):
                return id_
        except (TypeError, ValueError, OverflowError):
            pass
        # Column-wise, not row by row: a path given to a server is resolved in O(n) vectorised work.
        import pyarrow.compute as pc

        ref_s = str(ref)
        t = self.images
        match = _names(t, ref_s)
        if _exists(ref_s):
            absref = str(Path(ref_s).expanduser().resolve())
            for root in self.manifest.roots:
                prefix = str(Path(root)) + os.sep
                if absref.startswith(prefix):
                    in_root = pc.equal(t["root"], shown(root))
                    match = pc.or_(match, pc.and_(in_root, _names(t, absref[len(prefix):])))
        found = np.flatnonzero(match.to_numpy(zero_copy_only=False))
        if len(found):
            return int(t.column("id")[int(found[0])].as_py())
        raise QueryError(f"{valid_utf8(ref_s)!r} is neither an id nor the path of an image in collection {collection!r}")

    def frames(self) -> VideoFrames:
        """Which ids are frames of which video, read once per generation."""
        return self._part("frames", lambda: VideoFrames(self.images))

    def search_vector(self, q: np.ndarray, k: int, where: "str | Filter | None" = None, exclude: int | None = None,
                      hubness: bool = False, every_moment: bool = False, collapse_duplicates: bool = False) -> list[Hit]:
        """Top-k for a (checked) query vector; see Collection.search_vector. Videos are collapsed to
        their best moment first (unless `every_moment`), then near-duplicate groups to their keeper."""
        if isinstance(where, Filter) and where.is_empty():
            where = None
        rows = self.filter().rows(where) if where else None  # sorted row numbers
        if collapse_duplicates:
            return self.duplicates().collapse(lambda n: self.search_vector(q, n, where, exclude, hubness, every_moment), k,
                                              lambda i, score: self._keeper_hit(i, score, rows, exclude), every_moment)
        allowed = None
        if rows is not None:
            if not len(rows):
                return []
            # positions looked up once per generation: a filter is then O(matching rows)
            allowed = self.index().select(positions=self.row_positions()[np.asarray(rows, dtype=np.int64)])
        bias = self.bias("image_bias") if hubness else None
        frames = self.frames()
        video = frames.video_of(exclude) if exclude is not None else None  # more like a moment: not its video

        def fetch(n: int) -> tuple[list[tuple[float, int]], bool]:
            want = n + (1 if exclude is not None else 0) + (HUBNESS_POOL if bias else 0)
            scores, ids = self.index().search(q[None], want, allowed)
            more = bool((ids[0] >= 0).sum() >= want)
            if bias:
                scores, ids = corrected(scores, ids, *bias)
            return [(float(s), int(i)) for s, i in zip(scores[0], ids[0])
                    if i >= 0 and i != exclude and (video is None or frames.video_of(i) != video)], more

        found = best_moments(fetch, k, frames, every_moment)
        hits = self.hits([(c.id, c.score) for c in found], rows)
        for hit, c in zip(hits, found):
            hit.moments = [[frames.seconds(i), s] for i, s in c.moments[:MAX_MOMENTS]]
        return hits

    def _keeper_hit(self, id_: int, score: float, matching: np.ndarray | None, exclude: int | None) -> Hit | None:
        """A group's keeper as a hit at `score`; None when it is the query itself or a moment of the
        query's video (more like this), or the filter leaves all its files out."""
        video = self.frames().video_of(exclude) if exclude is not None else None
        if id_ == exclude or (video is not None and self.frames().video_of(id_) == video):
            return None
        if matching is not None and not np.isin(self.rows.numbers(id_), matching).any():
            return None
        return self.hit(id_, score, matching)

    def hit(self, id_: int, score: float, matching: np.ndarray | None = None) -> Hit:
        """`matching`: the filter's sorted row numbers; a file that satisfies it is shown first."""
        return self.hits([(id_, score)], matching)[0]

    def hits(self, found: list[tuple[int, float]], matching: np.ndarray | None = None) -> list[Hit]:
        """Hits for (id, score) pairs, their rows read together (see Rows.many)."""
        return hits_of(self.rows, found, matching)

    def search_texts(self, q: np.ndarray, want: int, hubness: bool) -> list[tuple[int, float]]:
        """(text id, score) of the best `want` corpus texts for an image's query vector."""
        _, texts_index = self.texts()
        bias = self.bias("text_bias") if hubness else None
        scores, ids = texts_index.search(q[None], want + (HUBNESS_POOL if bias else 0))
        if bias:
            scores, ids = corrected(scores, ids, *bias)
        return [(int(i), float(s)) for s, i in zip(scores[0][:want], ids[0][:want]) if i >= 0]


def corrected(scores: np.ndarray, ids: np.ndarray, bias_ids: np.ndarray, bias: np.ndarray):
    """Scores plus each id's hubness correction, re-sorted best first."""
    add, _ = lookup(bias_ids, bias, ids)
    s = np.where(ids >= 0, scores + add, -np.inf)
    order = np.argsort(-s, axis=1, kind="stable")
    return np.take_along_axis(s, order, 1), np.take_along_axis(ids, order, 1)


def _names(t: pa.Table, name: str):
    """Rows whose file is `name` relative to its root: by its shown form or by its bytes (on_disk)."""
    import pyarrow.compute as pc

    if valid_utf8(name) == name:   # stored paths are valid UTF-8: no other name can equal one
        by_shown = pc.fill_null(pc.equal(t["path"], name), False)
    else:
        by_shown = pa.chunked_array([np.zeros(len(t), dtype=bool)])
    try:
        raw = os.fsencode(name)
    except UnicodeError:
        return by_shown
    # a row with raw_path is known by those bytes, and (as before) by its shown form too
    return pc.or_(by_shown, pc.fill_null(pc.equal(t["raw_path"], pa.scalar(raw, pa.binary())), False))


def _exists(ref: str) -> bool:
    try:
        return Path(ref).expanduser().exists()
    except (OSError, ValueError, RuntimeError):  # a name too long, a NUL byte, an unknown ~user
        return False


def hits_of(rows: Rows, found: list[tuple[int, float]], matching: np.ndarray | None = None) -> list[Hit]:
    """Hits for (id, score) pairs; `matching`: the filter's sorted row numbers (a file that
    satisfies it is shown first)."""
    numbers = []
    for id_, _ in found:
        ns = rows.numbers(id_)
        if matching is not None:
            at = np.searchsorted(matching, ns)
            inside = (at < len(matching)) & (matching[np.minimum(at, len(matching) - 1)] == ns)
            ns = [n for n, i in zip(ns, inside) if i] + [n for n, i in zip(ns, inside) if not i]
        numbers.append(ns)
    read = iter(rows.many([n for ns in numbers for n in ns]))
    return [hit_from_rows(id_, score, [next(read) for _ in ns]) for (id_, score), ns in zip(found, numbers)]
