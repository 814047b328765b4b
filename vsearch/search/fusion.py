"""Ranked lists in, one ranked list out: search modes, hybrid fusion, the relative relevance cut
and sorting. Pure functions over (id, score) lists, so the CLI, the UI, the service and the
benchmark rank the same way.

Hybrid ranking adds the words' evidence to the vector score of each candidate (the vector
ranking's top `depth`, plus the keyword ranking's hits):

    score = cosine + BONUS * coverage² - PENALTY * (1 - coverage²) * described

`coverage` is the share of the query's words (weighted by their IDF) that the photo's words hold,
in any field (squared: a photo holding every word of the query gains far more than one holding a
common half of them); `described` is 1 for a photo its owner described (a title, description or
keywords).
A photo nobody described keeps its vector score: a query about it is never pushed down by the
words other photos have. A described photo whose description does not hold the query's words is
pushed down a little, since its owner said what it shows. Reciprocal rank fusion, the usual
choice, was measured first and rejected: it lifts every photo that matches any query word above
the undescribed photo the vectors found first (caption queries on the words benchmark's
undescribed half: R@1 from 25.5 to 0.0). BONUS, PENALTY and POWER were chosen on Flickr8k dev
(benchmarks/words.py --sweep): a large gain on the described half (R@1 25.3 -> 40.6) with a margin
on the undescribed half (25.5 -> 27.3), rather than the largest gain (0.4, 0.05: 42.9) that kept
only 0.3 points there.

Hybrid is the default mode of a text query (DEFAULT_MODE): on that benchmark it is never below
semantic on either half, a collection without words (no keyword index) ranks exactly as semantic,
and a photo nobody described keeps its vector score.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Callable, Container, Mapping, Sequence

import numpy as np

from ..errors import QueryError

MODES = ("semantic", "keyword", "hybrid")
DEFAULT_MODE = "hybrid"
SORTS = ("relevance", "taken_at", "mtime", "name", "size")
DEPTH = 100      # vector hits that hybrid ranking re-scores
BONUS = 0.5
PENALTY = 0.1
POWER = 2
RRF_K = 60

Ranked = Sequence[tuple[int, float]]


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise QueryError(f"unknown search mode {mode!r}; use one of: {', '.join(MODES)}")
    return mode


def hybrid(semantic: Ranked, keyword: Ranked, coverage: Mapping[int, float], described: Container[int],
           bonus: float = BONUS, penalty: float = PENALTY, power: float = POWER,
           depth: int = DEPTH) -> list[tuple[int, float]]:
    """The vector ranking's top `depth` and the keyword hits, re-scored with the words' coverage
    (see the module's note). A keyword hit outside the vector ranking's top `depth` is given the
    score of its last one (it scored at most that)."""
    top = list(semantic[:depth])
    floor = top[-1][1] if top else 0.0
    scores = dict(top)
    for id_, _ in keyword:
        scores.setdefault(id_, floor)
    fused = {}
    for id_, s in scores.items():
        c = coverage.get(id_, 0.0) ** power
        fused[id_] = s + bonus * c - (penalty * (1.0 - c) if id_ in described else 0.0)
    return sorted(fused.items(), key=lambda x: (-x[1], x[0]))


def rrf(semantic: Ranked, keyword: Ranked, weight: float = 1.0, k: int = RRF_K) -> list[tuple[int, float]]:
    """Weighted reciprocal rank fusion (Cormack et al. 2009), kept for comparison (benchmarks/words.py)."""
    fused: dict[int, float] = {}
    for ranked, w in ((semantic, 1.0), (keyword, weight)):
        for rank, (id_, _) in enumerate(ranked):
            fused[id_] = fused.get(id_, 0.0) + w / (k + rank + 1)
    return sorted(fused.items(), key=lambda x: (-x[1], x[0]))


def fuse(mode: str, semantic: Ranked, keyword: Ranked, required: set[int] | None = None,
         coverage: Mapping[int, float] | None = None, described: Container[int] = (),
         **options: Any) -> list[tuple[int, float]]:
    """The ranking of a mode; `required`: ids holding every quoted phrase (None: no phrase), the
    only ids any mode may return."""
    check_mode(mode)
    if required is not None:
        semantic = [x for x in semantic if x[0] in required]
        keyword = [x for x in keyword if x[0] in required]
    if mode == "semantic":
        return list(semantic)
    if mode == "keyword":
        return list(keyword)
    return hybrid(semantic, keyword, coverage or {}, described, **options)


# --- the relevance cut: keep what is relevant to *this* query, then sort it ------------------------
# A flat cosine threshold fails across queries and models (one query's best hit scores below another's
# irrelevant ones). The cut is relative to the query's own scores: keep a hit while its score is
# within CUT_MARGIN of the query's best. On the words benchmark's Flickr8k dev library
# (benchmarks/words.py) it keeps 92 % of the caption queries' own photos and leaves out 95 % of the
# collection, as a flat threshold tuned on that very collection does; the flat one does not carry
# over to another collection or model, the margin is relative to what the query reached.
CUT_MARGIN = 0.25


def relative_cut(scores: Sequence[float], margin: float = CUT_MARGIN, minimum: int = 1) -> int:
    """How many of a ranked list's hits (scores best first) are within `margin` of the best."""
    s = np.asarray(scores, dtype=np.float64)
    if not len(s):
        return 0
    return max(min(minimum, len(s)), int(np.count_nonzero(s >= s[0] - margin)))


def _sort_key(sort: str) -> Callable[[Any], Any]:
    def date(hit) -> float:
        value = getattr(hit, "taken_at", None) or getattr(hit, "mtime", None) if sort == "taken_at" else hit.mtime
        return datetime.fromisoformat(value).timestamp() if value else float("-inf")

    return {"taken_at": date, "mtime": date, "name": lambda h: (h.relpath.rsplit("/", 1)[-1].casefold(), h.relpath),
            "size": lambda h: h.bytes if h.bytes is not None else -1}[sort]


def sort_hits(hits: list, sort: str = "relevance", descending: bool | None = None) -> list:
    """Hits in the order asked: relevance keeps the ranking; dates newest first, names A→Z and
    sizes largest first unless `descending` says otherwise. A photo without a capture date sorts by
    its file date; ties keep their relevance order."""
    if sort not in SORTS:
        raise QueryError(f"unknown sort {sort!r}; use one of: {', '.join(SORTS)}")
    if sort == "relevance":
        return list(hits)
    if descending is None:
        descending = sort != "name"
    return sorted(hits, key=_sort_key(sort), reverse=descending)


def cut_and_sort(hits: list, mode: str, sort: str = "relevance", descending: bool | None = None,
                 margin: float = CUT_MARGIN) -> list:
    """The hits a sorted result shows: ranked hits (best first) cut to the relevant ones (semantic
    and hybrid: within `margin` of the best score; keyword: every match), then sorted. With
    `sort="relevance"` nothing is cut."""
    if sort == "relevance":
        return list(hits)
    if mode != "keyword":
        hits = hits[:relative_cut([h.score for h in hits], margin)]
    return sort_hits(hits, sort, descending)
