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

from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from ..imaging.signature import hamming
from .hashjoin import hash_candidates, new_hash_candidates
from .join import vector_candidates
from .pairs import CROP_GATE, HASH_BITS, K, PAIR_FLOOR, Pairs
from .pixels import window_matches
from .rows import Batch, Rows

# Candidates are taken a little under the floor: `score` decides on every pair from the same fp16
# vectors, so a pair at the floor is kept or not alike by a rebuild and an update.
SLACK = 0.01
# (queries float32 [m, d], k) -> (scores [m, k], ids [m, k]; -1 where none): a collection index's search
Search = Callable[[np.ndarray, int], tuple[np.ndarray, np.ndarray]]


def find_pairs(batches: Iterable[Batch], n: int, dim: int, k: int = K, workdir: str | Path | None = None) -> Pairs:
    """Every near pair among `n` photos handed over in batches (streamed: see rows.py)."""
    with Rows(n, dim, workdir) as rows:
        for batch in batches:
            rows.append(batch)
        va, vb, _ = vector_candidates(rows, PAIR_FLOOR - SLACK, k)
        ha, hb, _ = hash_candidates(rows.hashes, rows.has_thumb, HASH_BITS)
        return score(rows, np.concatenate([va, ha]), np.concatenate([vb, hb]))


def find_new_pairs(new: Batch, search: Search, all_ids: np.ndarray, all_hashes: np.ndarray, all_valid: np.ndarray,
                   lookup: Callable[[np.ndarray], Batch], k: int = K, workdir: str | Path | None = None) -> Pairs:
    """The near pairs holding at least one of the `new` photos, the others being already in the
    collection. `search`: the collection's index, which already holds the new vectors; `all_*`:
    every photo's id and pHash (valid: it has one), new ones included; `lookup(ids)`: the Batch of
    photos already stored (their vectors and signatures), for the candidates the new ones meet."""
    new_ids = np.asarray(new.ids, np.int64)
    if not len(new_ids):
        return Pairs.empty()
    sims, hits = search(np.asarray(new.vectors, np.float32), k + 1)
    keep = (hits >= 0) & (hits != new_ids[:, None]) & (sims >= PAIR_FLOOR - SLACK)
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
        return score(rows, pos(a), pos(b))


def score(rows: Rows, pa: np.ndarray, pb: np.ndarray, chunk: int = 65_536) -> Pairs:
    """The candidates (positions, either order, repeats allowed) measured by every signal; those
    that neither signal keeps (a hash candidate whose bits are too far apart is not) are dropped."""
    lo, hi = np.minimum(pa, pb), np.maximum(pa, pb)
    if len(lo):
        uniq = np.unique(np.stack([lo, hi], axis=1), axis=0)
        lo, hi = uniq[:, 0], uniq[:, 1]
    lo, hi = lo[lo != hi], hi[lo != hi]
    sim = np.empty(len(lo), np.float32)
    for s in range(0, len(lo), chunk):
        sim[s:s + chunk] = np.einsum("ij,ij->i", rows.vectors(lo[s:s + chunk]), rows.vectors(hi[s:s + chunk]))
    both = rows.has_thumb[lo] & rows.has_thumb[hi]
    bits = np.where(both, hamming(rows.hashes[lo], rows.hashes[hi]), -1).astype(np.int16)
    kept = (sim >= PAIR_FLOOR) | ((bits >= 0) & (bits <= HASH_BITS))
    lo, hi, sim, bits, both = lo[kept], hi[kept], sim[kept], bits[kept], both[kept]
    window = np.full(len(lo), np.nan, np.float32)
    need = both & (sim >= CROP_GATE) & (bits > HASH_BITS)
    if need.any():
        i, j = lo[need], hi[need]
        window[need] = window_matches(rows.thumbs(i), rows.aspects[i], rows.thumbs(j), rows.aspects[j])
    return Pairs.of(rows.ids[lo], rows.ids[hi], sim, bits, window)
