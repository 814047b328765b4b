"""Bounds on every count and size that comes from a user or a file: a number is checked to be a
whole number in its range before anything is allocated for it, and a result count is cut to what
there really is. One place, so the CLI, the Python API, the UI and the HTTP service refuse alike.

  result_count(k, available)   how many results to compute for a query asking for k (search/)
  rerank_depth(k, available)   how many top hits a reranker may reorder
  whole_number(v, what, lo, hi)  any other count (batch sizes, workers, thumbnail sizes…)
"""
from __future__ import annotations

import os
from numbers import Integral

from .errors import InvalidOptionError, QueryError

MAX_RESULTS = 100_000      # results one query may ask for (a page is 20-100; `vsearch serve --max-k` goes up to this)
MAX_RERANK_DEPTH = 1_000   # hits a cross-encoder may reorder (each costs a forward pass)
MAX_BATCH = 4_096          # images per encoder batch (256 is the GPU default)
MAX_THUMBNAIL = 4_096      # pixels of a thumbnail's longer side
MAX_VIDEO_FRAMES = 1_000   # frames sampled per video (each picture is held until its video is read)


def max_workers() -> int:
    """Decode worker processes one ingest may start: a few per core, never thousands."""
    return max(8, 4 * (os.cpu_count() or 1))


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def whole_number(value: object, what: str, lo: int, hi: int, error: type[Exception] = InvalidOptionError) -> int:
    """`value` as an int when it is a whole number (not a bool, not 2.5, not "3") within [lo, hi]."""
    if isinstance(value, bool) or not isinstance(value, Integral) or not lo <= int(value) <= hi:
        raise error(f"{what} must be a whole number from {lo} to {hi} (got {_shown(value)})")
    return int(value)


def result_count(k: object, available: int, what: str = "k") -> int:
    """The number of results to compute for a query asking for `k`: a whole number from 1 to
    MAX_RESULTS (else a QueryError), cut to the `available` items (never below 1)."""
    return min(whole_number(k, what, 1, MAX_RESULTS, QueryError), max(1, int(available)))


def rerank_depth(k: object, available: int, what: str = "rerank_k") -> int:
    """Top hits a reranker reorders: 0 to MAX_RERANK_DEPTH (else a QueryError), cut to `available`."""
    return min(whole_number(k, what, 0, MAX_RERANK_DEPTH, QueryError), max(0, int(available)))
