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
from datetime import datetime
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np
import xxhash

from ..errors import ImageError, InvalidOptionError
from ..imaging import DecodedImage, decode_image_bytes, read_file_bytes
from ..imaging.files import open_regular
from ..imaging.raw import is_raw_name
from ..imaging.signature import signature
from ..imaging.video import MAX_VIDEO_BYTES, Sampling, is_video_name, read_video
from ..interrupt import quiet_worker
from ..limits import max_workers, whole_number
from ..models.preprocess import Preprocess
from ..store.tables import CONTENT_FIELDS, CONTENT_META
from ..times import CLAMPED, clamp_date
from .copies import Claims, Copies


_ID_BITS = 0x7FFF_FFFF_FFFF_FFFF


def content_id(data: bytes) -> tuple[str, int]:
    """(hex digest, stable positive int64 id) of a file's bytes."""
    h = xxhash.xxh3_128(data)
    return h.hexdigest(), h.intdigest() & _ID_BITS


def video_id(digest: str) -> int:
    """A video's own id, from its digest as content_id derives a photo's (what copies of it are
    claimed by in one run, pipeline/copies.py; its frames are stored under frame ids)."""
    return int(digest, 16) & _ID_BITS


def frame_id(digest: str, ms: int) -> int:
    """The content id of a video's frame: from the video's digest and the frame's time."""
    return xxhash.xxh3_128(f"{digest}@{ms}".encode()).intdigest() & _ID_BITS


@dataclass
class Decoded:
    digest: str
    id: int                           # a video's: video_id(digest) (its frames have their own)
    pixels: np.ndarray | None = None  # None when the vector is already known
    meta: dict[str, Any] = field(default_factory=dict)  # the content row beside the id (store/tables.py CONTENT_FIELDS)
    error: str | None = None
    media: str = "photo"              # photo | raw | video (store/tables.py MEDIA)
    frames: list["Decoded"] | None = None  # a video's sampled frames
    note: str | None = None           # something to record about an ingested file (a clamped capture date)


def content_meta(d: DecodedImage) -> dict[str, Any]:
    """The content metadata of a decoded image, by the schema's names: the image's own fields
    (its stored size), its pixel signature (imaging/signature.py), else its EXIF's (store/tables.py
    META_FIELDS, SIGNATURE_FIELDS); a video's fields are None."""
    sig = signature(d.image)
    return {f: sig[f] if f in sig else getattr(d, f) if f in DecodedImage._fields else getattr(d.meta, f, None)
            for f in CONTENT_FIELDS[2:]}


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
    meta = content_meta(d)
    meta["taken_at"], note = clamped_date(meta.get("taken_at"), "EXIF capture date")
    return Decoded(digest, cid, pixels, meta, note=note)


def clamped_date(when: datetime | None, what: str) -> tuple[datetime | None, str | None]:
    """(a capture date held to what the format stores, the note that says so or None): a photo's
    or RAW's EXIF date, a video's creation date (vsearch/times.py)."""
    held, clamped = clamp_date(when)
    return held, (f"{what} {when:%Y-%m-%d}: {CLAMPED}" if clamped else None)


def hash_file(path: Path) -> str:
    """The xxh3-128 of a file read as it streams (a video is never held in memory)."""
    h = xxhash.xxh3_128()
    with open_regular(path, MAX_VIDEO_BYTES) as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def decode_video(path: Path, preprocess: Preprocess, known: frozenset | set, sampling: Sampling,
                 known_videos: dict[str, list[dict]]) -> Decoded:
    """A video's frames. `known` may be this run's Claims (pipeline/copies.py): a video is claimed
    as a whole, by video_id, so a copy of one another file of this run reads is hashed only (no
    frames: Copies.settle gives it the original's); its frames are checked against the stored ids,
    never claimed."""
    try:
        digest = hash_file(path)
    except ImageError as e:
        return Decoded("", 0, error=e.reason, media="video")
    except OSError as e:
        return Decoded("", 0, error=f"unreadable: {(e.strerror or type(e).__name__).lower()}", media="video")
    vid = video_id(digest)
    rows = known_videos.get(digest)
    if rows:  # already read (a moved or copied video): its frames as stored
        frames = [Decoded(digest, r["id"], meta={f: r.get(f) for f in CONTENT_META}, media="video") for r in rows]
        return Decoded(digest, vid, media="video", frames=frames)
    if vid in known:  # claimed: another file of this run holds the same video
        return Decoded(digest, vid, media="video")
    stored = getattr(known, "stored", known)
    try:
        v = read_video(path, preprocess.size, sampling)
        m = v.meta
        taken_at, note = clamped_date(m.taken_at, "video creation date")
        common = {"width": m.width, "height": m.height, "taken_at": taken_at, "camera": m.camera,
                  "orientation": m.orientation, "duration_ms": m.duration_ms}
        frames = []
        for f in v.frames:
            fid = frame_id(digest, f.ms)
            pixels = None if fid in stored else preprocess.to_pixels(f.image)
            sig = signature(f.image) if pixels is not None else {}  # a frame's pixel signature, as a photo's
            frames.append(Decoded(digest, fid, pixels, {**{k: None for k in CONTENT_FIELDS[2:]}, **common, **sig,
                                                        "frame_ms": f.ms}, media="video"))
    except ImageError as e:
        return Decoded(digest, vid, error=e.reason, media="video")
    except MemoryError:
        return Decoded(digest, vid, error="out of memory while decoding", media="video")
    return Decoded(digest, vid, media="video", frames=frames, note=note)


def default_workers() -> int:
    return max(1, min(8, (os.cpu_count() or 2) - 1))


DEFAULT_AHEAD = 128  # files decoded ahead of the consumer: ~22 MB of 240-px pixels


def decode_files(paths: list[Path], preprocess, workers: int | None = None, known: set | None = None,
                 ahead: int | None = None, sampling: Sampling | None = None,
                 known_videos: dict[str, list[dict]] | None = None) -> Iterator[Decoded]:
    """Read and decode files in order, in worker processes (overlapping with whatever the
    caller does with each result). Files whose content id is in `known` are hashed only, and so
    are, when `known` is given, copies of content met earlier in this run (pipeline/copies.py):
    the first file of each content in order carries its pixels, its copies none.

    At most `ahead` files (default DEFAULT_AHEAD) are submitted and not yet taken by the caller:
    a new file is submitted as each result is taken, so the workers keep decoding while the
    caller encodes, and a slow consumer holds a bounded number of decoded images, however many
    files there are. To hide decoding fully, `ahead` should exceed the caller's batch."""
    workers = default_workers() if workers is None else whole_number(workers, "workers", 0, max_workers())
    ahead = DEFAULT_AHEAD if ahead is None else ahead
    if ahead < 1:
        raise InvalidOptionError(f"decode-ahead must be at least 1 file (got {ahead})")
    stored = frozenset() if known is None else known
    copies = Copies(stored) if known is not None else None

    def settled(d: Decoded, path: Path, later=()) -> Decoded:
        if copies is None:
            return d
        return copies.settle(d, later, lambda: decode_file(path, preprocess, stored, sampling, known_videos))

    if workers <= 0 or len(paths) < 8:
        claims = Claims(stored, len(paths)) if known is not None else stored
        for path in paths:
            yield settled(decode_file(path, preprocess, claims, sampling, known_videos), path)
        return
    ctx = mp.get_context("fork")  # workers never touch torch
    # Garbage the parent has not collected yet (say a Collection caught in an exception's reference
    # cycle, with its ONNX session) would be collected in a worker, where freeing the session waits
    # forever for threads that fork did not copy.
    gc.collect()
    # Under fork, initargs reach the workers by inheritance, never pickled: `known` (every id of a
    # large collection) is shared for free, and each task carries one path.
    claims = Claims(stored, len(paths), ctx) if known is not None else stored
    stop = ctx.RawValue("b", 0)
    with ctx.Pool(workers, initializer=_start_worker,
                  initargs=(preprocess, claims, sampling, known_videos, stop)) as pool:
        _RUNNING.add(pool)
        submitted: deque = deque()
        try:
            todo = iter(paths)
            submitted.extend((p, pool.apply_async(_decode_in_worker, (p,))) for p in islice(todo, ahead))
            while submitted:
                path, future = submitted.popleft()
                result = future.get()
                nxt = next(todo, None)
                if nxt is not None:  # submitted before the caller gets this result: workers stay busy meanwhile
                    submitted.append((nxt, pool.apply_async(_decode_in_worker, (nxt,))))
                yield settled(result, path, (f for _, f in submitted))
        except BaseException:  # interrupted, or closed early (GeneratorExit): stop the workers safely
            _wind_down(stop, [f for _, f in submitted])
            raise
        finally:
            _RUNNING.discard(pool)


def _wind_down(stop, in_flight: list, timeout: float = 10.0) -> None:
    """Let every submitted file come back before the pool is terminated. Pool.terminate() with a
    worker still sending a decoded picture (larger than a pipe holds) waits forever for a pipe no
    one reads any more; with `stop` set, the files not started come back at once as None, so this
    waits for at most the one file each worker is decoding."""
    import time

    stop.value = 1
    deadline = time.monotonic() + timeout
    for future in in_flight:
        future.wait(max(0.0, deadline - time.monotonic()))


# Pools whose generator is still open. A caller interrupted mid-way (Ctrl-C) may leave the generator
# in a reference cycle with the exception's frames; the garbage collector then closes it, and the
# pool must still be whole then: in the same collection the pool's queues would otherwise be
# finalised in any order (closing the pipe its result thread reads). Held here, they are not garbage.
_RUNNING: set = set()


_worker: tuple | None = None


_stop = None  # a shared flag: set when the caller stops early (decode nothing more)


def _start_worker(preprocess: Preprocess, known: frozenset | set, sampling: Sampling | None = None,
                  known_videos: dict[str, list[dict]] | None = None, stop=None) -> None:
    global _worker, _stop
    _worker, _stop = (preprocess, known, sampling, known_videos), stop
    quiet_worker()


def _decode_in_worker(path: Path) -> Decoded | None:
    assert _worker is not None
    if _stop is not None and _stop.value:
        return None
    return decode_file(path, *_worker)
