"""A video is one result, at its best moment.

The index holds one vector per sampled frame, so a query meets several frames of one video.
Collapsing keeps each video's best-scoring frame, in its place in the ranking, with the video's
other frames among the candidates as its other moments; photos pass as they are. Asked for every
moment, the caller skips this and each frame is a hit of its own.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Hashable, Iterable


@dataclass
class Collapsed:
    score: float
    id: int                                   # a photo's id, or the video's best frame's
    moments: list[tuple[int, float]] = field(default_factory=list)  # the video's other frames met: (id, score), best first


def collapse(candidates: Iterable[tuple[float, int]], video_of: Callable[[int], Hashable | None],
             k: int) -> list[Collapsed]:
    """Up to `k` results from `candidates` ((score, id), best first): one per video (`video_of(id)`:
    the video a frame belongs to, None for a photo). Fewer than `k` when the candidates run out:
    the caller then asks the index for more."""
    out: list[Collapsed] = []
    videos: dict[Hashable, Collapsed] = {}
    for score, id_ in candidates:
        video = video_of(id_)
        if video is None:
            if len(out) < k:
                out.append(Collapsed(score, id_))
            continue
        best = videos.get(video)
        if best is not None:
            best.moments.append((id_, score))
        elif len(out) < k:
            videos[video] = best = Collapsed(score, id_)
            out.append(best)
    return out
