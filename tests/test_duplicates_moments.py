"""A video's moments and the near-duplicate core, on synthetic data: frames of one video (one
`source`) are never a pair, however alike, and do not crowd out a frame's real matches, in a
rebuild and in an update alike; a collapsed search shows a video once even when a group's keeper
is one of its moments."""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from vsearch.duplicates import Batch, Pairs, find_new_pairs, find_pairs
from vsearch.duplicates.pairs import K
from vsearch.search.duplicates import DuplicateView
from vsearch.search.hits import Hit
from vsearch.store.tables import IMAGES_SCHEMA, conform

DIM = 32
VIDEO = 999_983  # the source the video's frames share


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def a_video_and_its_copies(seed: int = 0) -> tuple[Batch, set[tuple[int, int]]]:
    """2 K + 4 frames of one static video (all alike), a copy of each of its first 3 frames (other
    sources: a re-encoded video's, or stills taken from it), 300 other photos; and the cross pairs
    expected: each copy with every frame (they are all alike)."""
    rng = np.random.default_rng(seed)
    scene = rng.normal(size=DIM)
    n_frames = 2 * K + 4
    frames = unit(scene + 0.02 * rng.normal(size=(n_frames, DIM)))
    copies = unit(scene + 0.05 * rng.normal(size=(3, DIM)))
    others = unit(rng.normal(size=(300, DIM)))
    ids = np.arange(1, n_frames + 3 + 300 + 1, dtype=np.int64) * 7919
    source = ids.copy()
    source[:n_frames] = VIDEO
    vecs = np.concatenate([frames, copies, others])
    expected = {(int(min(f, c)), int(max(f, c))) for f in ids[:n_frames] for c in ids[n_frames:n_frames + 3]}
    return Batch(ids, vecs, source=source), expected


def as_set(p: Pairs) -> set[tuple[int, int]]:
    return set(zip(p.a.tolist(), p.b.tolist()))


def test_a_videos_frames_are_no_pair_and_do_not_crowd_out_its_copies():
    lib, expected = a_video_and_its_copies()
    found = as_set(find_pairs([lib], len(lib.ids), DIM))
    frames = set(lib.ids[lib.source == VIDEO].tolist())
    assert not {p for p in found if p[0] in frames and p[1] in frames}
    copy_pairs = {p for p in found if (p[0] in frames) != (p[1] in frames)}
    # each copy keeps its K nearest frames; each frame finds every copy, past its 2 K + 3 alike frames
    assert copy_pairs == expected


def test_an_update_adding_a_video_finds_the_pairs_of_its_frames_a_rebuild_finds():
    lib, _ = a_video_and_its_copies()
    everything = as_set(find_pairs([lib], len(lib.ids), DIM))
    old = slice(2 * K + 4, None)  # the copies and other photos first, then the video
    take = lambda s: Batch(lib.ids[s], lib.vectors[s], source=lib.source[s])  # noqa: E731
    before = find_pairs([take(old)], len(lib.ids[old]), DIM)

    def search(q: np.ndarray, k: int):
        sims = q @ lib.vectors.T
        top = np.argsort(-sims, axis=1)[:, :k]
        return np.take_along_axis(sims, top, 1), lib.ids[top]

    at = {i: n for n, i in enumerate(lib.ids.tolist())}
    lookup = lambda ids: take(np.array([at[i] for i in ids.tolist()]))  # noqa: E731
    no_hash = np.zeros(len(lib.ids), bool)
    new = find_new_pairs(take(slice(0, 2 * K + 4)), search, lib.ids, np.zeros(len(lib.ids), np.int64), no_hash, lookup)
    frames = set(lib.ids[lib.source == VIDEO].tolist())
    assert as_set(new) == {p for p in everything if p[0] in frames or p[1] in frames}


def images(rows: list[dict]) -> pa.Table:
    return conform(pa.Table.from_pylist(rows), IMAGES_SCHEMA)


def test_a_video_is_shown_once_when_a_groups_keeper_is_one_of_its_moments():
    """Video B (1920 x 1080) at 0 s is the keeper of a group with photo P; B's best moment for the
    query is another frame (at 5 s, in no group), P is the best hit: B must not show twice."""
    row = dict(root="/lib", folder="", bytes=1000, mtime_ns=0)
    table = images([{**row, "id": 1, "path": "b.mp4", "digest": "bb", "width": 1920, "height": 1080, "media": "video", "frame_ms": 0},
                    {**row, "id": 2, "path": "b.mp4", "digest": "bb", "width": 1920, "height": 1080, "media": "video", "frame_ms": 5000},
                    {**row, "id": 3, "path": "p.jpg", "digest": "pp", "width": 640, "height": 480},
                    {**row, "id": 4, "path": "q.jpg", "digest": "qq", "width": 640, "height": 480}])
    view = DuplicateView(None, table)
    view._pairs = Pairs.of([1], [3], [0.97])
    hit = lambda i, s: Hit(id=i, score=s, path=f"/lib/{table.column('path')[i - 1]}", relpath="", folder="",  # noqa: E731
                           media=table.column("media")[i - 1].as_py() or "photo")
    found = [hit(3, 0.9), hit(2, 0.8), hit(4, 0.7)]
    hits = view.collapse(lambda n: found[:n], 3, hit)
    assert [(h.id, h.path) for h in hits] == [(1, "/lib/b.mp4"), (4, "/lib/q.jpg")]
    assert hits[0].near_duplicates == ["/lib/p.jpg"]
    every = view.collapse(lambda n: found[:n], 3, hit, every_moment=True)  # every moment: B's other one shows
    assert [h.id for h in every] == [1, 2, 4]
