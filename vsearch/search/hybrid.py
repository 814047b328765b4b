"""The words side of a search over one generation: its words table (one row per file) and its
keyword index, turned into the keyword ranking, the hybrid ranking and each hit's words and
reasons. `Collection.search(mode=…)` hands it the vector ranking; nothing here encodes anything.

Words are looked up per content id only for the candidates of a query (a sorted id column and a
slice per id), so a query's cost follows its candidates, not the collection's size.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Hashable

import numpy as np
import pyarrow as pa

from ..errors import CollectionFormatError
from ..fulltext.part import WORD_COLUMNS, words_row
from ..store.collection import repair_hint
from ..fulltext import FIELDS, KeywordIndex, ParsedQuery, coverage, documents, is_described, matched, parse_query
from ..store.tables import int64_column, rows_at
from .fusion import DEPTH, Ranked, check_mode, fuse
from .hits import Hit


@dataclass
class Ranking:
    ranked: list[tuple[int, float]]   # ids best first, with the mode's score
    parsed: ParsedQuery               # the query as the keyword index read it


class WordsView:
    def __init__(self, table: pa.Table, index: KeywordIndex | None, derive: Callable[[dict], dict] | None = None):
        """`table`: id + word fields, one row per file; `derive`: makes a row's fields from its
        other columns (the names of an images row), run only for the rows a query looks at."""
        self.derive = derive
        self.table = table if derive else table.select(["id", *[f for f in FIELDS if f in table.column_names]])
        self.index = index
        ids = int64_column(self.table, "id")
        self._order = np.argsort(ids, kind="stable")
        self._sorted = ids[self._order]

    def words_of(self, id_: int) -> dict[str, str]:
        """The words of a content id (those of its files joined), every field present ("" when none)."""
        return self.words_of_many([id_])[id_]

    def words_of_many(self, ids) -> dict[int, dict[str, str]]:
        """words_of for several ids, their rows read together."""
        ids = list(ids)
        lo = np.searchsorted(self._sorted, ids, "left")
        hi = np.searchsorted(self._sorted, ids, "right")
        rows = rows_at(self.table, [int(n) for a, b in zip(lo, hi) for n in self._order[a:b]])
        docs = documents([self.derive(r) for r in rows] if self.derive else rows)
        return {id_: docs.get(id_, {f: "" for f in FIELDS}) for id_ in ids}

    def rank(self, mode: str, text: str, semantic: Ranked, allowed: set[int] | None = None,
             depth: int = DEPTH) -> Ranking:
        """The ranking of `mode` for a text query whose vector ranking is `semantic` (best first,
        already restricted to `allowed` ids when a filter is given)."""
        check_mode(mode)
        parsed = parse_query(text)
        if self.index is None or mode == "semantic" and not parsed.phrases:
            return Ranking(list(semantic), parsed)
        keyword = self.index.search(parsed, depth if allowed is None else max(depth, 10 * depth))
        if allowed is not None:
            keyword = [x for x in keyword if x[0] in allowed][:depth]
        required = self.index.matching_ids(parsed)
        cov, described = {}, set()
        if mode == "hybrid":
            idf = self.index.idf(parsed)
            candidates = {i for i, _ in semantic[:depth]} | {i for i, _ in keyword}
            for id_, words in self.words_of_many(sorted(candidates)).items():
                cov[id_] = coverage(parsed, words, idf)
                if is_described(words):
                    described.add(id_)
        return Ranking(fuse(mode, semantic, keyword, required, cov, described, depth=depth), parsed)

    def reasons(self, parsed: ParsedQuery, id_: int) -> tuple[dict[str, str], list[dict]]:
        """A hit's words (non-empty fields) and why it matched: [{field, terms}]."""
        return self.reasons_of_many(parsed, [id_])[id_]

    def reasons_of_many(self, parsed: ParsedQuery, ids: list[int]) -> dict[int, tuple[dict[str, str], list[dict]]]:
        """reasons() for several hits, their rows read together."""
        return {id_: ({k: v for k, v in words.items() if v}, matched(parsed, words))
                for id_, words in self.words_of_many(ids).items()}


class WordsSearch:
    """A collection generation's words side, opened on first use: the keyword index the last commit
    derived (none: every mode ranks by the vectors) and the words of each row."""

    def __init__(self, store, images: pa.Table, make_hits: Callable[[list[tuple[int, float]]], list[Hit]]):
        self._store, self._images, self._make_hits = store, images, make_hits
        self._view: WordsView | None = None

    @property
    def view(self) -> WordsView:
        if self._view is None:
            name = self._store.manifest.files.get("keywords")
            try:
                index = KeywordIndex(self._store.folder / name) if name else None
            except CollectionFormatError as e:
                raise CollectionFormatError(f"{e}; {repair_hint(self._store.name)}") from e
            columns = [c for c in WORD_COLUMNS if c in self._images.column_names]
            self._view = WordsView(self._images.select(columns), index, derive=words_row)
        return self._view

    @property
    def indexed(self) -> bool:
        """Whether the generation has a keyword index (without one every mode ranks by the vectors)."""
        return bool(self._store.manifest.files.get("keywords"))

    def rerank(self, mode: str, text: str, hits: list[Hit], allowed: set[int] | None,
               same: Callable[[int], Hashable | None] = lambda id_: None,
               finish: Callable[[list[Hit]], list[Hit]] = lambda found: found) -> list[Hit]:
        """The vector hits (best first, `allowed` already applied, each video and near-duplicate
        group already once) ranked by `mode`, then `finish`ed (cut, sorted, the top k), each hit
        left carrying its words and why it matched (looked up for those alone). `same(id)`:
        the result an id belongs to (its video, its near-duplicate group; None: its own). The
        keyword ranking holds every frame of a video (they share its words) and every member of a
        group: each such result is kept once, as the vector hit that stands for it when there is
        one, else its first id in the ranking, at that id's place."""
        ranking = self.view.rank(mode, text, [(h.id, h.score) for h in hits], allowed)
        by_id = {h.id: h for h in hits}
        taken: set = {key for h in hits if (key := same(h.id)) is not None}
        keep = set()
        for id_, _ in ranking.ranked:
            key = same(id_)
            if id_ in by_id or key is None or key not in taken:
                taken.add(key)
                keep.add(id_)
        ranking.ranked = [x for x in ranking.ranked if x[0] in keep]
        made = {h.id: h for h in self._make_hits([x for x in ranking.ranked if x[0] not in by_id])}
        out = []
        for id_, score in ranking.ranked:
            hit = by_id.get(id_) or made[id_]
            hit.score = score
            out.append(hit)
        out = finish(out)
        reasons = self.view.reasons_of_many(ranking.parsed, [hit.id for hit in out])
        for hit in out:
            hit.words, hit.matched = reasons[hit.id]
        return out
