"""Read + decode stage: file -> content hash, model-ready uint8 pixels and metadata, or a reason
it failed. Runs in worker processes (`decode_files`). Reading and decoding are vsearch.imaging's:
bounded by what the file really is, JPEGs decoded at reduced size (DCT scaling), HEICs from their
embedded preview when it is large enough, EXIF orientation applied.
"""
from __future__ import annotations

import gc
import multiprocessing as mp
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path

import numpy as np
import xxhash

from ..errors import ImageError
from ..imaging import decode_image_bytes, read_file_bytes
from ..models.preprocess import Preprocess


def content_id(data: bytes) -> tuple[str, int]:
    """(hex digest, stable positive int64 id) of a file's bytes."""
    h = xxhash.xxh3_128(data)
    return h.hexdigest(), h.intdigest() & 0x7FFF_FFFF_FFFF_FFFF


@dataclass
class Decoded:
    digest: str
    id: int
    pixels: np.ndarray | None = None  # None when the vector is already known
    width: int | None = None
    height: int | None = None
    taken_at: datetime | None = None
    camera: str | None = None
    orientation: int | None = None
    error: str | None = None


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
    m = d.meta
    return Decoded(digest, cid, pixels, d.width, d.height, m.taken_at, m.camera, m.orientation)


def default_workers() -> int:
    return max(1, min(8, (os.cpu_count() or 2) - 1))


def decode_files(paths: list[Path], preprocess, workers: int | None = None, known: set | None = None) -> Iterator[Decoded]:
    """Read and decode files in order, in worker processes (overlapping with whatever the
    caller does with each result). Files whose content id is in `known` are hashed only."""
    workers = default_workers() if workers is None else workers
    fn = partial(decode_file, preprocess=preprocess, known=known or frozenset())
    if workers <= 0 or len(paths) < 8:
        yield from map(fn, paths)
        return
    ctx = mp.get_context("fork")  # workers never touch torch; fork shares `known` for free
    # Garbage the parent has not collected yet (say a Collection caught in an exception's reference
    # cycle, with its ONNX session) would be collected in a worker, where freeing the session waits
    # forever for threads that fork did not copy.
    gc.collect()
    with ctx.Pool(workers) as pool:
        yield from pool.imap(fn, paths, chunksize=4)


def decode_pixels(paths: list[Path], preprocess, workers: int | None = None) -> Iterator[np.ndarray]:
    """Decoded pixels of every file, in order; a file that cannot be decoded is an error
    (training and benchmark data must be complete, unlike an ingested folder)."""
    from ..errors import VsearchError

    for path, d in zip(paths, decode_files(paths, preprocess, workers)):
        if d.pixels is None:
            raise VsearchError(f"{path} could not be decoded: {d.error}")
        yield d.pixels
