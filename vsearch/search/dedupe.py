"""Near-duplicate hits: results whose stored vectors are almost the same picture (a resized or
re-encoded copy, a burst shot), as clip-retrieval's clip-back removes them: hits linked by cosine
>= threshold form groups, and each group keeps only its best-ranked hit."""
from __future__ import annotations

import numpy as np

DEDUPE_COSINE = 0.94   # clip-back's threshold


def near_duplicates(vectors: np.ndarray, threshold: float = DEDUPE_COSINE) -> list[int]:
    """Positions (in rank order) to drop: every member of a group of vectors linked by cosine >=
    threshold except the first. `vectors` are the hits' L2-normalised vectors, best hit first."""
    v = np.asarray(vectors, dtype=np.float32)
    n = len(v)
    if n < 2:
        return []
    linked = (v @ v.T) >= threshold   # n is a page of hits (capped by the caller's k): n^2 is small
    group = np.arange(n)
    for i in range(n):                # union-find by the smallest rank in each group
        for j in np.flatnonzero(linked[i, i + 1:]) + i + 1:
            a, b = _root(group, i), _root(group, int(j))
            if a != b:
                group[max(a, b)] = min(a, b)
    return [i for i in range(n) if _root(group, i) != i]


def _root(group: np.ndarray, i: int) -> int:
    while group[i] != i:
        group[i] = group[group[i]]
        i = int(group[i])
    return i
