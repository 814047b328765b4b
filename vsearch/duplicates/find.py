"""Finding the near pairs of a collection: all of them (a new collection, `vsearch reindex`), or
those of the photos an ingest adds (the rest are kept).

Both look for candidates with the two signals, then measure each candidate with all of them:
- the vectors: every photo's nearest (cosine >= PAIR_FLOOR) by the self-join (join.py) for the
  whole collection; for an update, the new photos' nearest as the collection's index returns them;
- the pHashes: photos within HASH_BITS bits (hashjoin.py), the same rule either way;
then each candidate gets its cosine, its hash distance and, where only a crop could explain it,
its window match (pixels.py).
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from ..imaging.signature import hamming
from .hashjoin import hash_candidates, new_hash_candidates
from .join import own_moments, vector_candidates
from .pairs import HASH_BITS, K, KEEP_WINDOW, NOT_MEASURED, PAIR_FLOOR, WINDOW_NEIGHBOURS, Pairs
from .pixels import window_matches
from .rows import Batch, Rows

# Candidates are taken a little under the floor: `score` decides on every pair from the same fp16
# vectors, so a pair at the floor is kept or not alike by a rebuild and an update.
SLACK = 0.01
# (queries float32 [m, d], k) -> (scores [m, k], ids [m, k]; -1 where none): a collection index's search
Search = Callable[[np.ndarray, int], tuple[np.ndarray, np.ndarray]]


def find_pairs(batches: Iterable[Batch], n: int, dim: int, k: int = K, workdir: str | Path | None = None,
               timings: dict[str, float] | None = None) -> Pairs:
    """Every near pair among `n` photos handed over in batches (streamed: see rows.py). `timings`,
    if given, gets the seconds of each phase (read, vectors, hashes, score) and the number of
    window matches made (windows)."""
    clock = _Clock(timings)
    with Rows(n, dim, workdir) as rows:
        for batch in batches:
            rows.append(batch)
        clock.lap("read")
        va, vb, _ = vector_candidates(rows, PAIR_FLOOR - SLACK, k)
        clock.lap("vectors")
        ha, hb, _ = hash_candidates(rows.hashes, rows.has_thumb, HASH_BITS)
        clock.lap("hashes")
        pairs = score(rows, np.concatenate([va, ha]), np.concatenate([vb, hb]), counts=timings)
        clock.lap("score")
        return pairs


class _Clock:
    def __init__(self, out: dict[str, float] | None):
        self.out, self.t = out, time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        if self.out is not None:
            self.out[name] = self.out.get(name, 0.0) + now - self.t
        self.t = now


def find_new_pairs(new: Batch, search: Search, all_ids: np.ndarray, all_hashes: np.ndarray, all_valid: np.ndarray,
                   lookup: Callable[[np.ndarray], Batch], stored: Pairs | None = None, k: int = K,
                   workdir: str | Path | None = None) -> Pairs:
    """The near pairs holding at least one of the `new` photos, the others being already in the
    collection. `search`: the collection's index, which already holds the new vectors; `all_*`:
    every photo's id and pHash (valid: it has one), new ones included; `lookup(ids)`: the Batch of
    photos already stored (their vectors and signatures), for the candidates the new ones meet;
    `stored`: the collection's pairs (those of the photos the new ones meet count towards their
    WINDOW_NEIGHBOURS)."""
    new_ids = np.asarray(new.ids, np.int64)
    if not len(new_ids):
        return Pairs.empty()
    sources = new.sources()
    sims, hits = search(np.asarray(new.vectors, np.float32), k + 1 + own_moments(sources))  # room for its video's moments
    by_id = np.argsort(new_ids)
    at = np.clip(np.searchsorted(new_ids, hits, sorter=by_id), 0, len(new_ids) - 1)
    own = (new_ids[by_id[at]] == hits) & (sources[by_id[at]] == sources[:, None])  # itself, or a moment of its video
    keep = (hits >= 0) & ~own & (sims >= PAIR_FLOOR - SLACK)
    keep &= np.cumsum(keep, axis=1) <= k  # its k nearest others, as the self-join keeps
    va = np.broadcast_to(new_ids[:, None], hits.shape)[keep]
    vb = hits[keep]
    order = np.argsort(all_ids)
    all_ids, all_hashes, all_valid = all_ids[order], np.asarray(all_hashes, np.int64)[order], np.asarray(all_valid, bool)[order]
    is_new = np.isin(all_ids, new_ids)
    ha, hb, _ = new_hash_candidates(all_hashes, all_valid, is_new, HASH_BITS)
    a = np.concatenate([va, all_ids[ha]])
    b = np.concatenate([vb, all_ids[hb]])
    others = np.setdiff1d(np.concatenate([a, b]), new_ids)
    old = lookup(others) if len(others) else None
    with Rows(len(new_ids) + len(others), new.vectors.shape[1], workdir) as rows:
        rows.append(new)
        if old is not None:
            rows.append(old)
        where = np.argsort(rows.ids)
        pos = lambda ids: where[np.searchsorted(rows.ids, ids, sorter=where)]  # noqa: E731
        context = stored.take(np.flatnonzero(np.isin(stored.a, others) | np.isin(stored.b, others))) if stored is not None else None
        return score(rows, pos(a), pos(b), context)


def score(rows: Rows, pa: np.ndarray, pb: np.ndarray, stored: Pairs | None = None, chunk: int = 65_536,
          counts: dict | None = None) -> Pairs:
    """The candidates (positions, either order, repeats allowed) measured by every signal; those
    that neither signal keeps (a hash candidate whose bits are too far apart is not) are dropped.
    `stored`: pairs already kept of the same photos (an update), which count towards each photo's
    WINDOW_NEIGHBOURS as they would in a rebuild."""
    lo, hi = np.minimum(pa, pb), np.maximum(pa, pb)
    if len(lo):
        uniq = np.unique(np.stack([lo, hi], axis=1), axis=0)
        lo, hi = uniq[:, 0], uniq[:, 1]
    apart = rows.source[lo] != rows.source[hi]  # not itself, nor two moments of one video
    lo, hi = lo[apart], hi[apart]
    sim = np.empty(len(lo), np.float32)
    for s in range(0, len(lo), chunk):
        sim[s:s + chunk] = np.einsum("ij,ij->i", rows.vectors(lo[s:s + chunk]), rows.vectors(hi[s:s + chunk]))
    both = rows.has_thumb[lo] & rows.has_thumb[hi]
    bits = np.where(both, hamming(rows.hashes[lo], rows.hashes[hi]), -1).astype(np.int16)
    kept = (sim >= PAIR_FLOOR) | ((bits >= 0) & (bits <= HASH_BITS))
    lo, hi, sim, bits, both = lo[kept], hi[kept], sim[kept], bits[kept], both[kept]
    window = np.full(len(lo), np.nan, np.float32)
    need = both & (sim >= PAIR_FLOOR) & (bits > HASH_BITS)
    measure = need & _nearest(rows.ids[lo], rows.ids[hi], sim, need, stored)
    window[need & ~measure] = NOT_MEASURED
    if counts is not None:
        counts["windows"] = counts.get("windows", 0) + int(measure.sum())
    if measure.any():
        i, j = lo[measure], hi[measure]
        window[measure] = window_matches(lambda r: rows.thumbs(i[r]), rows.shapes[i], lambda r: rows.thumbs(j[r]), rows.shapes[j])
    k = ((bits >= 0) & (bits <= HASH_BITS)) | ~both | (window >= KEEP_WINDOW)  # some rule may call it the same photo
    return Pairs.of(rows.ids[lo][k], rows.ids[hi][k], sim[k], bits[k], window[k])


def _nearest(a: np.ndarray, b: np.ndarray, sim: np.ndarray, need: np.ndarray, stored: Pairs | None) -> np.ndarray:
    """bool per pair: among the WINDOW_NEIGHBOURS most similar pairs that need a window match of
    either of its photos (counting the `stored` pairs that needed one too)."""
    a, b, sim = a[need], b[need], sim[need]
    if stored is not None and len(stored):
        old = ~np.isnan(stored.window)  # measured or not, they needed one
        a_all = np.concatenate([a, stored.a[old]])
        b_all = np.concatenate([b, stored.b[old]])
        s_all = np.concatenate([sim, stored.similarity[old]])
    else:
        a_all, b_all, s_all = a, b, sim
    rank = np.full((2, len(a_all)), np.iinfo(np.int64).max, np.int64)
    for side, ids in enumerate((a_all, b_all)):
        order = np.lexsort((-s_all, ids))
        sorted_ids = ids[order]
        starts = np.flatnonzero(np.r_[True, sorted_ids[1:] != sorted_ids[:-1]])
        rank[side, order] = np.arange(len(ids)) - np.repeat(starts, np.diff(np.r_[starts, len(ids)]))
    out = np.zeros(len(need), bool)
    out[need] = (rank.min(axis=0) < WINDOW_NEIGHBOURS)[:len(a)]
    return out
