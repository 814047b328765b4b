"""Read + decode stage: file -> content hash, model-ready uint8 pixels and metadata, or a reason
it failed. Runs in worker processes (`decode_files`). Reading and decoding are vsearch.imaging's:
bounded by what the file really is, JPEGs decoded at reduced size (DCT scaling), HEICs from their
embedded preview when it is large enough, EXIF orientation applied.
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
from ..models.preprocess import Preprocess
from ..store.tables import CONTENT_META


def content_id(data: bytes) -> tuple[str, int]:
    """(hex digest, stable positive int64 id) of a file's bytes."""
    h = xxhash.xxh3_128(data)
    return h.hexdigest(), h.intdigest() & 0x7FFF_FFFF_FFFF_FFFF


@dataclass
class Decoded:
    digest: str
    id: int
    pixels: np.ndarray | None = None  # None when the vector is already known
    meta: dict[str, Any] = field(default_factory=dict)  # the content metadata (store/tables.py CONTENT_META)
    error: str | None = None


def content_meta(d: DecodedImage) -> dict[str, Any]:
    """The content metadata of a decoded image, by the schema's names: the image's own fields
    (its stored size), else its EXIF's (store/tables.py META_FIELDS)."""
    return {f: getattr(d, f) if f in DecodedImage._fields else getattr(d.meta, f) for f in CONTENT_META}


def decode_file(path: Path, preprocess: Preprocess, known: frozenset | set = frozenset()) -> Decoded:
    try:
        data = read_file_bytes(path)
    except ImageError as e:
        return Decoded("", 0, error=e.reason)
    digest, cid = content_id(data)
    if cid in known:
        return Decoded(digest, cid)
    try:
        d = decode_image_bytes(data, preprocess.size)
        pixels = preprocess.to_pixels(d.image)
    except ImageError as e:
        return Decoded(digest, cid, error=e.reason)
    except MemoryError:  # one huge file must not end the run
        return Decoded(digest, cid, error="out of memory while decoding")
    return Decoded(digest, cid, pixels, content_meta(d))


def default_workers() -> int:
    return max(1, min(8, (os.cpu_count() or 2) - 1))


DEFAULT_AHEAD = 128  # files decoded ahead of the consumer: ~22 MB of 240-px pixels


def decode_files(paths: list[Path], preprocess, workers: int | None = None, known: set | None = None,
                 ahead: int | None = None) -> Iterator[Decoded]:
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
            yield decode_file(path, preprocess, known)
        return
    ctx = mp.get_context("fork")  # workers never touch torch
    # Garbage the parent has not collected yet (say a Collection caught in an exception's reference
    # cycle, with its ONNX session) would be collected in a worker, where freeing the session waits
    # forever for threads that fork did not copy.
    gc.collect()
    # Under fork, initargs reach the workers by inheritance, never pickled: `known` (every id of a
    # large collection) is shared for free, and each task carries one path.
    with ctx.Pool(workers, initializer=_start_worker, initargs=(preprocess, known)) as pool:
        todo = iter(paths)
        submitted: deque = deque(pool.apply_async(_decode_in_worker, (p,)) for p in islice(todo, ahead))
        while submitted:
            result = submitted.popleft().get()
            nxt = next(todo, None)
            if nxt is not None:  # submitted before the caller gets this result: workers stay busy meanwhile
                submitted.append(pool.apply_async(_decode_in_worker, (nxt,)))
            yield result


_worker: tuple[Preprocess, frozenset | set] | None = None


def _start_worker(preprocess: Preprocess, known: frozenset | set) -> None:
    global _worker
    _worker = (preprocess, known)


def _decode_in_worker(path: Path) -> Decoded:
    assert _worker is not None
    return decode_file(path, *_worker)
