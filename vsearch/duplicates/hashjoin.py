"""Pairs of photos whose perceptual hashes are close, without comparing every pair (multi-index
hashing, Norouzi et al. 2012).

The 64 bits are cut into 4 blocks of 16. Two hashes at most 7 bits apart differ in at most one bit
of some block (pigeonhole), so looking every photo up, block by block, under its own block value
and the 16 values one bit away finds every such pair; pairs 8 bits apart are found when some
block holds at most one of their differences, as it mostly does. Each lookup lands in a bucket of
about n / 65,536 photos (measured on Flickr8k, real pHash blocks collide 1.5-3.3 times as often as
uniform ones), so the work is about 70 n^2 / 65,536 comparisons: 1M photos in about 15 s. A block
value shared by more than MAX_BUCKET photos (blank or black frames, which all hash alike) is not
looked up: it says nothing about which of them are copies.

The same lookups serve the whole collection (`hash_candidates`) and the photos an ingest adds
(`new_hash_candidates`), so an update finds what a rebuild would.
"""
from __future__ import annotations

import numpy as np

from ..imaging.signature import hamming

BLOCKS, BLOCK_BITS = 4, 16
MAX_BUCKET = 2048
CHUNK = 262_144  # photos looked up at a time: bounds the candidate arrays


class _Block:
    """One block's buckets: photos (indices into the valid hashes) sorted by the block's value."""

    def __init__(self, u: np.ndarray, block: int):
        self.key = ((u >> np.uint64(BLOCK_BITS * block)) & np.uint64((1 << BLOCK_BITS) - 1)).astype(np.int64)
        self.order = np.argsort(self.key, kind="stable")
        counts = np.bincount(self.key, minlength=1 << BLOCK_BITS)
        counts[counts > MAX_BUCKET] = 0  # too common to tell copies apart: not looked up
        self.start = np.r_[0, np.cumsum(np.bincount(self.key, minlength=1 << BLOCK_BITS))[:-1]]
        self.count = counts
        self.rank = np.empty(len(self.key), np.int64)
        self.rank[self.order] = np.arange(len(self.key))

    def members(self, src: np.ndarray, values: np.ndarray, after_self: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """(src repeated, partner) for every member of bucket `values[i]` of each src[i]; with
        `after_self`, only those after src[i] in its own bucket (each pair once)."""
        lo = self.start[values]
        n = self.count[values]
        if after_self:
            end = lo + n
            lo = np.where(n > 0, self.rank[src] + 1, lo)
            n = np.where(n > 0, end - lo, 0)
        total = int(n.sum())
        if not total:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        rep = np.repeat(np.arange(len(src)), n)
        offset = np.arange(total) - np.repeat(np.cumsum(n) - n, n)
        return src[rep], self.order[lo[rep] + offset]


def _close(h: np.ndarray, a: np.ndarray, b: np.ndarray, radius: int) -> tuple[np.ndarray, np.ndarray]:
    keep = (a != b) & (hamming(h[a], h[b]) <= radius)
    return a[keep], b[keep]


def hash_candidates(hashes: np.ndarray, valid: np.ndarray, radius: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(positions a, positions b, differing bits) of the pairs found within `radius` bits, each once."""
    pos = np.flatnonzero(valid)
    h = np.asarray(hashes, np.int64)[pos]
    out_a, out_b = [], []
    for block in range(BLOCKS):
        blk = _Block(h.view(np.uint64), block)
        for s in range(0, len(h), CHUNK):
            src = np.arange(s, min(s + CHUNK, len(h)))
            key = blk.key[src]
            found = [blk.members(src, key, after_self=True)]
            for bit in range(BLOCK_BITS):  # from the side whose bit is 0 only: each pair once
                up = src[((key >> bit) & 1 == 0) & (blk.count[key] > 0)]  # both buckets usable, as in an update
                found.append(blk.members(up, blk.key[up] | (1 << bit)))
            for a, b in found:
                a, b = _close(h, a, b, radius)
                out_a.append(a), out_b.append(b)
    return _unique(out_a, out_b, pos, hashes)


def new_hash_candidates(hashes: np.ndarray, valid: np.ndarray, new: np.ndarray, radius: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The pairs `hash_candidates` finds that hold at least one position of `new` (bool [n])."""
    pos = np.flatnonzero(valid)
    h = np.asarray(hashes, np.int64)[pos]
    src = np.flatnonzero(np.asarray(new, bool)[pos])
    out_a, out_b = [], []
    if len(src):
        for block in range(BLOCKS):
            blk = _Block(h.view(np.uint64), block)
            own = src[blk.count[blk.key[src]] > 0]
            key = blk.key[own]
            for values in [key] + [key ^ (1 << bit) for bit in range(BLOCK_BITS)]:
                a, b = _close(h, *blk.members(own, values), radius)
                out_a.append(a), out_b.append(b)
    return _unique(out_a, out_b, pos, hashes)


def _unique(out_a: list, out_b: list, pos: np.ndarray, hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    a = np.concatenate(out_a) if out_a else np.zeros(0, np.int64)
    b = np.concatenate(out_b) if out_b else np.zeros(0, np.int64)
    if not len(a):
        return a, b, np.zeros(0, np.int16)
    pairs = np.unique(np.stack([np.minimum(a, b), np.maximum(a, b)], axis=1), axis=0)
    lo, hi = pos[pairs[:, 0]], pos[pairs[:, 1]]
    return lo, hi, hamming(hashes[lo], hashes[hi])
