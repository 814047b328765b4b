"""From near pairs to groups: which pairs count as the same photo (the rule), and how photos that
count as the same are put together without chaining different photos into one group.

The rule: a pair is the same photo when
- "vectors":  their cosine is at least the threshold (the default chosen on Flickr8k dev photos,
              benchmarks/duplicates.py) and their thumbnails are alike (a window match of at least
              ALIKE: a burst, a turned or re-framed copy; two different shots of one kind of scene,
              which the vectors alone cannot tell apart, are not), or
- "pixels":   their pHashes are at most HASH_BITS bits apart and their cosine at least HASH_GATE
              (re-saved, resized, re-toned, blurred: the meaning vector drifts, the picture does not), or
- "crop":     one thumbnail matches a window of the other at least CROP_MATCH well and their
              cosine is at least PAIR_FLOOR (a crop moves every pixel, but not the scene).

The grouping: each group is a star around its keeper. Within a connected set of same-photo pairs,
the photo the keeper rule prefers most is the centre of a group, and every photo still free that
counts as the same as it joins; then the best photo left starts the next group. So every member is
the same photo as its keeper, whatever chains link photos through others (A like B like C, A not
like C: C is not in A's group unless C is like A too).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ..errors import InvalidOptionError
from .pairs import CROP_MATCH, HASH_BITS, HASH_GATE, KEEP_WINDOW, PAIR_FLOOR, Pairs

THRESHOLD = 0.86    # the default: the cosine from which the vectors say "the same photo"
ALIKE = 0.75        # ... when the thumbnails are at least this alike (both chosen on dev and train photos)
HOW = ("vectors", "pixels", "crop")


@dataclass(frozen=True)
class Rule:
    threshold: float = THRESHOLD     # the vectors' route (`vsearch duplicates --threshold`)
    crop_match: float = CROP_MATCH   # the crop route's window match
    alike: float = ALIKE             # the window match the vectors' route asks for, where both photos have thumbnails

    def __post_init__(self) -> None:
        if not PAIR_FLOOR <= self.threshold <= 1.0:
            raise InvalidOptionError(f"a threshold must be between {PAIR_FLOOR} and 1 (pairs are kept from "
                                     f"cosine {PAIR_FLOOR} up), not {self.threshold}")
        if min(self.alike, self.crop_match) < KEEP_WINDOW:
            raise InvalidOptionError(f"window matches under {KEEP_WINDOW} are not kept")

    def how(self, pairs: Pairs) -> np.ndarray:
        """int8 per pair: the first route (index into HOW) by which it is the same photo, -1: not."""
        s = pairs.similarity
        out = np.full(len(pairs), -1, np.int8)
        crop = (s >= PAIR_FLOOR) & (np.nan_to_num(pairs.window, nan=-1.0) >= self.crop_match)
        pixels = (s >= HASH_GATE) & (pairs.hash_bits >= 0) & (pairs.hash_bits <= HASH_BITS)
        out[crop] = 2
        out[pixels] = 1
        out[(s >= self.threshold) & ~(pairs.window < self.alike)] = 0  # NaN: not measured (no thumbnail, or no need)
        return out


@dataclass
class IdGroups:
    """Photos (content ids) in groups: `centre` is the id of the group's keeper content;
    `similarity` and `how` say how each member matched it (the centre: 1.0 and -1)."""
    ids: np.ndarray          # int64, grouped ids only
    centre: np.ndarray       # int64
    similarity: np.ndarray   # float32
    how: np.ndarray          # int8 (HOW)


def group_ids(pairs: Pairs, rule: Rule, rank_ids: np.ndarray | None = None,
              rank_values: np.ndarray | None = None) -> IdGroups:
    """Stars around the best-ranked photos (lower rank: preferred by the keeper rule). The rank
    comes as `rank_ids` (sorted) with `rank_values`; ids missing from it rank last, by id."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    how = rule.how(pairs)
    same = pairs.take(np.flatnonzero(how >= 0))
    how = how[how >= 0]
    if not len(same):
        return IdGroups(*(np.zeros(0, t) for t in (np.int64, np.int64, np.float32, np.int8)))
    nodes, inv = np.unique(np.concatenate([same.a, same.b]), return_inverse=True)
    ea, eb = inv[:len(same)], inv[len(same):]
    m = len(nodes)
    r = _ranks(nodes, rank_ids, rank_values)
    _, comp = connected_components(coo_matrix((np.ones(len(ea)), (ea, eb)), shape=(m, m)), directed=False)
    # The fast path: the component's best photo is the same as every other one.
    order = np.lexsort((nodes, r))          # best-ranked first
    _, first = np.unique(comp[order], return_index=True)
    best = order[first]                     # per component (labels are 0..c-1): its best-ranked node
    size = np.bincount(comp)
    at_best = (ea == best[comp[ea]]) | (eb == best[comp[eb]])
    degree = np.bincount(comp[ea[at_best]], minlength=len(size))
    star = degree == size - 1
    centre = np.full(m, -1, np.int64)
    sim = np.ones(m, np.float32)
    route = np.full(m, -1, np.int8)
    in_star = star[comp]
    centre[in_star] = best[comp[in_star]]
    e_star = at_best & star[comp[ea]]
    other = np.where(ea[e_star] == best[comp[ea[e_star]]], eb[e_star], ea[e_star])
    sim[other], route[other] = same.similarity[e_star], how[e_star]
    _greedy(np.flatnonzero(~in_star), order, ea, eb, same.similarity, how, centre, sim, route)
    grouped = centre >= 0
    grouped &= np.bincount(centre[grouped], minlength=m)[np.maximum(centre, 0)] > 1  # a centre left alone is no group
    return IdGroups(nodes[grouped], nodes[centre[grouped]], sim[grouped], route[grouped])


def _ranks(nodes: np.ndarray, rank_ids: np.ndarray | None, rank_values: np.ndarray | None) -> np.ndarray:
    out = np.full(len(nodes), np.iinfo(np.int64).max, np.int64)
    if rank_ids is not None and len(rank_ids):
        at = np.clip(np.searchsorted(rank_ids, nodes), 0, len(rank_ids) - 1)
        hit = rank_ids[at] == nodes
        out[hit] = np.asarray(rank_values, np.int64)[at[hit]]
    return out


def _greedy(nodes: np.ndarray, order: np.ndarray, ea, eb, sims, how, centre, sim, route) -> None:
    """The slow path, for the components whose best photo is not the same as all the others."""
    if not len(nodes):
        return
    todo = np.zeros(len(centre), bool)
    todo[nodes] = True
    keep = todo[ea]
    adj: dict[int, list[tuple[int, float, int]]] = {}
    for x, y, s, h in zip(ea[keep].tolist(), eb[keep].tolist(), sims[keep].tolist(), how[keep].tolist()):
        adj.setdefault(x, []).append((y, s, h))
        adj.setdefault(y, []).append((x, s, h))
    for v in order[todo[order]].tolist():
        if not todo[v]:
            continue
        todo[v] = False
        centre[v] = v
        for u, s, h in adj.get(v, ()):
            if todo[u]:
                todo[u] = False
                centre[u], sim[u], route[u] = v, s, h
