"""Read + decode stage: file -> content hash, model-ready uint8 pixels and metadata, or a reason
it failed. Runs in worker processes (`decode_files`). Reading and decoding are vsearch.imaging's:
bounded by what the file really is, JPEGs decoded at reduced size (DCT scaling), HEICs and RAWs
from their embedded preview when it is large enough, EXIF orientation applied.

A video (with `sampling`, i.e. --videos) is hashed as it streams and read as its sampled frames,
each a Decoded of its own in `frames`, whose content id derives from the video's digest and the
frame's time (`frame_id`). A video whose digest the collection already holds frames of
(`known_videos`) is hashed only: its frames are those rows.
"""
from __future__ import annotations

import gc
import multiprocessing as mp
import os
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from itertools import islice
from pathlib import Path

import numpy as np
import xxhash

from ..errors import ImageError, InvalidOptionError
from ..imaging import DecodedImage, decode_image_bytes, read_file_bytes
from ..imaging.files import open_regular
from ..imaging.raw import is_raw_name
from ..imaging.video import MAX_VIDEO_BYTES, Sampling, is_video_name, read_video
from ..models.preprocess import Preprocess
from ..store.tables import CONTENT_META


def content_id(data: bytes) -> tuple[str, int]:
    """(hex digest, stable positive int64 id) of a file's bytes."""
    h = xxhash.xxh3_128(data)
    return h.hexdigest(), h.intdigest() & 0x7FFF_FFFF_FFFF_FFFF


def frame_id(digest: str, ms: int) -> int:
    """The content id of a video's frame: from the video's digest and the frame's time."""
    return xxhash.xxh3_128(f"{digest}@{ms}".encode()).intdigest() & 0x7FFF_FFFF_FFFF_FFFF


@dataclass
class Decoded:
    digest: str
    id: int                           # a video's: its first frame's
    pixels: np.ndarray | None = None  # None when the vector is already known
    meta: dict[str, Any] = field(default_factory=dict)  # the content metadata (store/tables.py CONTENT_META)
    error: str | None = None
    media: str = "photo"              # photo | raw | video (store/tables.py MEDIA)
    frames: list["Decoded"] | None = None  # a video's sampled frames


def content_meta(d: DecodedImage) -> dict[str, Any]:
    """The content metadata of a decoded image, by the schema's names: the image's own fields
    (its stored size), else its EXIF's (store/tables.py META_FIELDS); a video's fields are None."""
    return {f: getattr(d, f) if f in DecodedImage._fields else getattr(d.meta, f, None) for f in CONTENT_META}


def decode_file(path: Path, preprocess: Preprocess, known: frozenset | set = frozenset(),
                sampling: Sampling | None = None, known_videos: dict[str, list[dict]] | None = None) -> Decoded:
    """One file: a photo or RAW, or (with `sampling`) a video."""
    if sampling is not None and is_video_name(path):
        return decode_video(path, preprocess, known, sampling, known_videos or {})
    media = "raw" if is_raw_name(path) else "photo"
    d = _decode_photo(path, preprocess, known)
    d.media = media
    return d


def _decode_photo(path: Path, preprocess: Preprocess, known: frozenset | set) -> Decoded:
    try:
        data = read_file_bytes(path)
    except ImageError as e:
        return Decoded("", 0, error=e.reason)
    digest, cid = content_id(data)
    if cid in known:
        return Decoded(digest, cid)
    try:
        d = decode_image_bytes(data, preprocess.size, name=path)
        pixels = preprocess.to_pixels(d.image)
    except ImageError as e:
        return Decoded(digest, cid, error=e.reason)
    except MemoryError:  # one huge file must not end the run
        return Decoded(digest, cid, error="out of memory while decoding")
    return Decoded(digest, cid, pixels, content_meta(d))


def hash_file(path: Path) -> str:
    """The xxh3-128 of a file read as it streams (a video is never held in memory)."""
    h = xxhash.xxh3_128()
    with open_regular(path, MAX_VIDEO_BYTES) as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def decode_video(path: Path, preprocess: Preprocess, known: frozenset | set, sampling: Sampling,
                 known_videos: dict[str, list[dict]]) -> Decoded:
    try:
        digest = hash_file(path)
    except ImageError as e:
        return Decoded("", 0, error=e.reason, media="video")
    except OSError as e:
        return Decoded("", 0, error=f"unreadable: {(e.strerror or type(e).__name__).lower()}", media="video")
    rows = known_videos.get(digest)
    if rows:  # already read (a moved or copied video): its frames as stored
        frames = [Decoded(digest, r["id"], meta={f: r.get(f) for f in CONTENT_META}, media="video") for r in rows]
        return Decoded(digest, frames[0].id, media="video", frames=frames)
    try:
        v = read_video(path, preprocess.size, sampling)
        m = v.meta
        common = {"width": m.width, "height": m.height, "taken_at": m.taken_at, "camera": m.camera,
                  "orientation": m.orientation, "duration_ms": m.duration_ms}
        frames = []
        for f in v.frames:
            fid = frame_id(digest, f.ms)
            pixels = None if fid in known else preprocess.to_pixels(f.image)
            frames.append(Decoded(digest, fid, pixels, {**{k: None for k in CONTENT_META}, **common, "frame_ms": f.ms},
                                  media="video"))
    except ImageError as e:
        return Decoded(digest, 0, error=e.reason, media="video")
    except MemoryError:
        return Decoded(digest, 0, error="out of memory while decoding", media="video")
    return Decoded(digest, frames[0].id, media="video", frames=frames)


def default_workers() -> int:
    return max(1, min(8, (os.cpu_count() or 2) - 1))


DEFAULT_AHEAD = 128  # files decoded ahead of the consumer: ~22 MB of 240-px pixels


def decode_files(paths: list[Path], preprocess, workers: int | None = None, known: set | None = None,
                 ahead: int | None = None, sampling: Sampling | None = None,
                 known_videos: dict[str, list[dict]] | None = None) -> Iterator[Decoded]:
    """Read and decode files in order, in worker processes (overlapping with whatever the
    caller does with each result). Files whose content id is in `known` are hashed only.

    At most `ahead` files (default DEFAULT_AHEAD) are submitted and not yet taken by the caller:
    a new file is submitted as each result is taken, so the workers keep decoding while the
    caller encodes, and a slow consumer holds a bounded number of decoded images, however many
    files there are. To hide decoding fully, `ahead` should exceed the caller's batch."""
    workers = default_workers() if workers is None else workers
    ahead = DEFAULT_AHEAD if ahead is None else ahead
    if ahead < 1:
        raise InvalidOptionError(f"decode-ahead must be at least 1 file (got {ahead})")
    known = frozenset() if known is None else known
    if workers <= 0 or len(paths) < 8:
        for path in paths:
            yield decode_file(path, preprocess, known, sampling, known_videos)
        return
    ctx = mp.get_context("fork")  # workers never touch torch
    # Garbage the parent has not collected yet (say a Collection caught in an exception's reference
    # cycle, with its ONNX session) would be collected in a worker, where freeing the session waits
    # forever for threads that fork did not copy.
    gc.collect()
    # Under fork, initargs reach the workers by inheritance, never pickled: `known` (every id of a
    # large collection) is shared for free, and each task carries one path.
    with ctx.Pool(workers, initializer=_start_worker, initargs=(preprocess, known, sampling, known_videos)) as pool:
        todo = iter(paths)
        submitted: deque = deque(pool.apply_async(_decode_in_worker, (p,)) for p in islice(todo, ahead))
        while submitted:
            result = submitted.popleft().get()
            nxt = next(todo, None)
            if nxt is not None:  # submitted before the caller gets this result: workers stay busy meanwhile
                submitted.append(pool.apply_async(_decode_in_worker, (nxt,)))
            yield result


_worker: tuple | None = None


def _start_worker(preprocess: Preprocess, known: frozenset | set, sampling: Sampling | None,
                  known_videos: dict[str, list[dict]] | None) -> None:
    global _worker
    _worker = (preprocess, known, sampling, known_videos)


def _decode_in_worker(path: Path) -> Decoded:
    assert _worker is not None
    return decode_file(path, *_worker)
