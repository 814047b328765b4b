"""The groups as files: near pairs (of contents) + the images table (of files) -> groups of file
rows, each with its keeper first and the rule that chose it.

A content held by several files (byte-identical copies) brings all of them into its group, at
similarity 1 ("identical"); a content with copies and no near pair is a group of its own.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from ..store.tables import int64_column
from .groups import HOW, Rule, group_ids
from .keeper import deciding_rule, id_ranks
from .pairs import Pairs


@dataclass
class Group:
    rows: list[int]            # rows of the images table, the keeper first, then by similarity
    similarity: list[float]    # each row's cosine to the keeper's vector (1.0: the keeper, identical files)
    how: list[str]             # "keeper", "identical", or the route of groups.HOW that matched the keeper
    rule: str                  # the keeper rule that decided (keeper.RULES)
    compared: str              # the values it compared, keeper first ("4032x3024 vs 2048x1536")

    @property
    def keeper(self) -> int:
        return self.rows[0]


def duplicate_groups(pairs: Pairs, images: pa.Table, rule: Rule | None = None) -> list[Group]:
    """Every group of the collection, the largest first (then by the keeper's path)."""
    rule = rule or Rule()
    ids_sorted, ranks, best_row = id_ranks(images)
    g = group_ids(pairs, rule, ids_sorted, ranks)
    row_ids = int64_column(images, "id")
    by_id = np.argsort(row_ids, kind="stable")
    starts = np.searchsorted(row_ids[by_id], ids_sorted)
    counts = np.diff(np.r_[starts, len(row_ids)])
    file_rows = lambda cid: by_id[starts[_at(ids_sorted, cid)]:][:counts[_at(ids_sorted, cid)]]  # noqa: E731
    best = lambda cid: int(best_row[_at(ids_sorted, cid)])  # noqa: E731

    members: dict[int, list[tuple[int, float, int]]] = {}
    for i, c, s, h in zip(g.ids.tolist(), g.centre.tolist(), g.similarity.tolist(), g.how.tolist()):
        members.setdefault(c, []).append((i, s, h))
    grouped = set(g.ids.tolist())
    for cid in ids_sorted[counts > 1].tolist():  # identical files with no near pair: a group of their own
        if cid not in grouped:
            members[cid] = [(cid, 1.0, -1)]

    paths = images.column("path").to_pylist()
    roots = images.column("root").to_pylist()
    out = []
    for centre, contents in members.items():
        keeper = best(centre)
        rows, sims, hows = [keeper], [1.0], ["keeper"]
        listed = {(roots[keeper], paths[keeper])}
        for cid, s, h in sorted(contents, key=lambda m: (m[0] != centre, -m[1], m[0])):
            for r in sorted(file_rows(cid).tolist(), key=lambda r: r != best(cid)):
                if (roots[r], paths[r]) in listed:  # a file once: a video whose two moments match the keeper
                    continue
                listed.add((roots[r], paths[r]))
                rows.append(r)
                sims.append(1.0 if cid == centre else s)
                hows.append("identical" if cid == centre else HOW[h])
        if len(rows) < 2:  # nothing left beside the keeper's own file
            continue
        others = [cid for cid, _, _ in contents if cid != centre]  # the runner-up: the next content the rule prefers
        runner = best(min(others, key=lambda cid: ranks[_at(ids_sorted, cid)])) if others else rows[1]
        decided, compared = deciding_rule(images, keeper, runner)
        out.append(Group(rows, sims, hows, decided, compared))
    out.sort(key=lambda grp: (-len(grp.rows), paths[grp.keeper]))
    return out


def _at(sorted_ids: np.ndarray, cid: int) -> int:
    return int(np.searchsorted(sorted_ids, cid))
