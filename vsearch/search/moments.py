"""A video is one result, at its best moment.

The index holds one vector per sampled frame, so a query meets several frames of one video.
Collapsing keeps each video's best-scoring frame, in its place in the ranking, with the video's
other frames among the candidates as its other moments; photos pass as they are. Asked for every
moment, the caller skips this and each frame is a hit of its own.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Hashable, Iterable

import pyarrow as pa

from ..store.tables import int64_column

MAX_MOMENTS = 10  # other moments listed on a video's hit


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


class VideoFrames:
    """Which ids are frames of which video (by the video's digest) and at what time, read once per
    generation from the images table (only its video rows)."""

    def __init__(self, images: pa.Table):
        self._video: dict[int, str] = {}
        self._ms: dict[int, int] = {}
        if "media" not in images.column_names or not len(images):
            return
        # no compute kernel with a Python scalar (pa.scalar imports pandas: ~0.4 s of a cold query)
        if "video" not in images.column("media").combine_chunks().dictionary_encode().dictionary.to_pylist():
            return
        cols = [images.column(c).to_pylist() for c in ("media", "companion", "digest", "frame_ms")]
        for id_, media, companion, digest, ms in zip(int64_column(images, "id").tolist(), *cols):
            if media == "video" and not companion:
                self._video[id_], self._ms[id_] = digest, ms

    def __bool__(self) -> bool:
        return bool(self._video)

    def video_of(self, id_: int) -> str | None:
        return self._video.get(int(id_))

    def seconds(self, id_: int) -> float | None:
        ms = self._ms.get(int(id_))
        return None if ms is None else ms / 1000


def best_moments(fetch: Callable[[int], tuple[list[tuple[float, int]], bool]], k: int, frames: VideoFrames,
                 every_moment: bool = False) -> list[Collapsed]:
    """The top `k` results of a query whose candidates `fetch(n)` gives ((score, id) best first, up to
    n, and whether the index holds more): each video once, at its best moment, unless
    `every_moment`. Candidates are fetched 4x beyond k, then 4x more until k videos and photos are
    found or the index runs out."""
    n = k if every_moment or not frames else 4 * k
    while True:
        candidates, more = fetch(n)
        if every_moment or not frames:
            return [Collapsed(s, i) for s, i in candidates[:k]]
        out = collapse(candidates, frames.video_of, k)
        if len(out) >= k or not more:
            return out
        n *= 4
