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
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from ..imaging.signature import hamming
from .hashjoin import hash_candidates, new_hash_candidates
from .join import nearest, own_moments
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
    """Every near pair among `n` photos handed over in batches, as one set (see pair_blocks)."""
    return Pairs.concat_all(list(pair_blocks(batches, n, dim, k, workdir, timings)))


def pair_blocks(batches: Iterable[Batch], n: int, dim: int, k: int = K, workdir: str | Path | None = None,
                timings: dict[str, float] | None = None) -> Iterator[Pairs]:
    """Every near pair among `n` photos handed over in batches (streamed: see rows.py), a block of
    photos' pairs at a time, each pair in one block: a caller that writes them as they come holds
    one block, not every pair. The pairs a window match must decide come last (each photo's
    nearest such pairs are chosen among all of them). `timings`, if given, gets the seconds of
    each phase (read, vectors, hashes, score) and the number of window matches made (windows)."""
    clock = _Clock(timings)
    with Rows(n, dim, workdir) as rows:
        for batch in batches:
            rows.append(batch)
        clock.lap("read")
        best = nearest(rows, PAIR_FLOOR - SLACK, k)
        clock.lap("vectors")
        ha, hb, _ = hash_candidates(rows.hashes, rows.has_thumb, HASH_BITS)
        new = ~(best.has(ha, hb) | best.has(hb, ha))  # those the vectors did not find already
        clock.lap("hashes")
        undecided = []
        for lo, hi in chain(best.blocks(), [(ha[new], hb[new])]):
            m = measure(rows, lo, hi)
            undecided.append(m.take(m.need))
            yield settle(rows, m.take(~m.need))  # the signals decide alone: kept as they are
            clock.lap("score")
        yield settle(rows, Measured.concat(undecided), counts=timings)
        clock.lap("score")


class _Clock:
    def __init__(self, out: dict[str, float] | None):
        self.out, self.t = out, time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        if self.out is not None:
            self.out[name] = self.out.get(name, 0.0) + now - self.t
        self.t = now


def find_new_pairs(new: Batch, search: Search, all_ids: np.ndarray, all_hashes: np.ndarray, all_valid: np.ndarray,
                   lookup: Callable[[np.ndarray], Batch], stored: Pairs | Callable[[np.ndarray], Pairs] | None = None,
                   k: int = K,
                   workdir: str | Path | None = None) -> Pairs:
    """The near pairs holding at least one of the `new` photos, the others being already in the
    collection. `search`: the collection's index, which already holds the new vectors; `all_*`:
    every photo's id and pHash (valid: it has one), new ones included; `lookup(ids)`: the Batch of
    photos already stored (their vectors and signatures), for the candidates the new ones meet;
    `stored`: the collection's pairs, or a function giving those of some photos (those of the
    photos the new ones meet count towards their WINDOW_NEIGHBOURS)."""
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
        context = stored(others) if callable(stored) else stored.touching(others) if stored is not None else None
        return score(rows, pos(a), pos(b), context)


def score(rows: Rows, pa: np.ndarray, pb: np.ndarray, stored: Pairs | None = None,
          counts: dict | None = None) -> Pairs:
    """The candidates (positions, either order, repeats allowed) measured by every signal (see
    `measure` and `settle`)."""
    lo, hi = np.minimum(pa, pb), np.maximum(pa, pb)
    if len(lo):
        key = np.unique(lo.astype(np.int64) * rows.n + hi)
        lo, hi = key // rows.n, key % rows.n
    return settle(rows, measure(rows, lo, hi), stored, counts)


@dataclass
class Measured:
    """Candidates (positions lo < hi, each once) that some signal keeps, with what the signals say;
    `need`: a window match must decide (both have thumbnails, the vectors are close and the hashes
    are not)."""
    lo: np.ndarray
    hi: np.ndarray
    sim: np.ndarray     # float32
    bits: np.ndarray    # int16, -1: a photo has no pixel signature
    need: np.ndarray    # bool

    def take(self, rows: np.ndarray) -> "Measured":
        return Measured(self.lo[rows], self.hi[rows], self.sim[rows], self.bits[rows], self.need[rows])

    @classmethod
    def concat(cls, parts: list["Measured"]) -> "Measured":
        if not parts:
            return cls(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32), np.zeros(0, np.int16),
                       np.zeros(0, bool))
        return cls(*(np.concatenate([getattr(p, f) for p in parts]) for f in ("lo", "hi", "sim", "bits", "need")))


def measure(rows: Rows, lo: np.ndarray, hi: np.ndarray, chunk: int = 65_536) -> Measured:
    """Each candidate (positions lo < hi, each once) measured by the vectors and the hashes; those
    that neither signal keeps (a hash candidate whose bits are too far apart is not) are dropped,
    as are a photo with itself or two moments of one video."""
    apart = rows.source[lo] != rows.source[hi]
    lo, hi = lo[apart], hi[apart]
    sim = np.empty(len(lo), np.float32)
    for s in range(0, len(lo), chunk):
        sim[s:s + chunk] = np.einsum("ij,ij->i", rows.vectors(lo[s:s + chunk]), rows.vectors(hi[s:s + chunk]))
    both = rows.has_thumb[lo] & rows.has_thumb[hi]
    bits = np.where(both, hamming(rows.hashes[lo], rows.hashes[hi]), -1).astype(np.int16)
    kept = (sim >= PAIR_FLOOR) | ((bits >= 0) & (bits <= HASH_BITS))
    small = np.int32 if rows.n < 2**31 else np.int64
    need = both[kept] & (sim[kept] >= PAIR_FLOOR) & (bits[kept] > HASH_BITS)
    return Measured(lo[kept].astype(small), hi[kept].astype(small), sim[kept], bits[kept], need)


def settle(rows: Rows, m: Measured, stored: Pairs | None = None, counts: dict | None = None) -> Pairs:
    """The measured candidates as Pairs, the window match made where it must decide (for each photo's
    WINDOW_NEIGHBOURS nearest such pairs: `stored`, pairs already kept of the same photos in an
    update, count towards them as they would in a rebuild); those no rule can call the same photo
    dropped."""
    window = np.full(len(m.lo), np.nan, np.float32)
    need = np.flatnonzero(m.need)
    nearest_ones = _nearest(rows.ids[m.lo[need]], rows.ids[m.hi[need]], m.sim[need], stored)
    window[need[~nearest_ones]] = NOT_MEASURED
    made = need[nearest_ones]
    if counts is not None:
        counts["windows"] = counts.get("windows", 0) + len(made)
    if len(made):
        i, j = m.lo[made], m.hi[made]
        window[made] = window_matches(lambda r: rows.thumbs(i[r]), rows.shapes[i], lambda r: rows.thumbs(j[r]), rows.shapes[j])
    k = ((m.bits >= 0) & (m.bits <= HASH_BITS)) | (m.bits < 0) | (window >= KEEP_WINDOW)  # some rule may call it the same photo
    k = np.flatnonzero(k)
    return Pairs.of(rows.ids[m.lo[k]], rows.ids[m.hi[k]], m.sim[k], m.bits[k], window[k], unique=True)


def _nearest(a: np.ndarray, b: np.ndarray, sim: np.ndarray, stored: Pairs | None) -> np.ndarray:
    """bool per pair (a, b, sim: pairs that need a window match): among the WINDOW_NEIGHBOURS most
    similar such pairs of either of its photos (counting the `stored` pairs that needed one too)."""
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
    return (rank.min(axis=0) < WINDOW_NEIGHBOURS)[:len(a)]
