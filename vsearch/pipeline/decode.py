"""Read + decode stage: file -> content hash, model-ready uint8 pixels and metadata, or a reason
it failed. Runs in worker processes (`decode_files`). Reading and decoding are vsearch.imaging's:
bounded by what the file really is, JPEGs decoded at reduced size (DCT scaling), HEICs from their
embedded preview when it is large enough, EXIF orientation applied.

The words a file embeds (XMP, IPTC) are read with its header, beside the decode. With `--ocr`
(`Reading.ocr`) the OCR gate looks at the decoded picture and, when it likely holds text, the OCR
engine reads it (vsearch/ocr/reader.py): in the same worker, so OCR runs as parallel as decoding.
Stored content whose words were never read (an older format's, an import's) or, with `--ocr`, not
looked at for text, is read for just that (`Reading.unread` / `unlooked`): its header, and its
picture for the gate, never encoded again.
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
from ..imaging.decode import read_words
from ..imaging.words import word_fields
from ..interrupt import quiet_worker
from ..limits import max_workers, whole_number
from ..models.preprocess import Preprocess
from ..store.tables import CONTENT_META, WORD_META
from ..times import CLAMPED, clamp_date
from .copies import Claims, Copies


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
    note: str | None = None           # something to record about an ingested file (a clamped EXIF date)
    gated: bool = False               # the OCR gate passed it to the OCR engine


@dataclass(frozen=True)
class Reading:
    """What decoding reads beside the pixels (the words are always read)."""
    ocr: bool = False                 # run the OCR gate (and OCR) on each new content
    unread: Any = frozenset()         # stored content ids whose words were never read (anything with `in`)
    unlooked: Any = frozenset()       # ... and, with ocr, those not looked at for text yet

    def again(self, cid: int) -> bool:
        return cid in self.unread or cid in self.unlooked


def content_meta(d: DecodedImage) -> dict[str, Any]:
    """The content metadata of a decoded image, by the schema's names: the image's own fields
    (its stored size), else its EXIF's (store/tables.py META_FIELDS), and its words (`ocr` None:
    not looked at)."""
    meta = {f: getattr(d, f) if f in DecodedImage._fields else getattr(d.meta, f)
            for f in CONTENT_META if f not in WORD_META}
    return {**meta, **word_fields(d.words), "ocr": None}


def decode_file(path: Path, preprocess: Preprocess, known: frozenset | set = frozenset(),
                reading: Reading = Reading()) -> Decoded:
    """`known`: content ids that need nothing (hashed only); `reading`: what else to read
    (content in `reading.unread` / `unlooked` is read for its words / text only)."""
    try:
        data = read_file_bytes(path)
    except ImageError as e:
        return Decoded("", 0, error=e.reason)
    digest, cid = content_id(data)
    if cid in known:
        return Decoded(digest, cid)
    if reading.again(cid):
        meta, gated = _read_again(data, cid, reading)
        return Decoded(digest, cid, meta=meta, gated=gated)
    try:
        d = decode_image_bytes(data, preprocess.size)
        pixels = preprocess.to_pixels(d.image)
    except ImageError as e:
        return Decoded(digest, cid, error=e.reason)
    except MemoryError:  # one huge file must not end the run
        return Decoded(digest, cid, error="out of memory while decoding")
    meta = content_meta(d)
    taken_at = meta.get("taken_at")
    meta["taken_at"], clamped = clamp_date(taken_at)
    note = f"EXIF capture date {taken_at:%Y-%m-%d}: {CLAMPED}" if clamped else None
    gated = False
    if reading.ocr:
        meta["ocr"], gated = _text(d.image, data)
    return Decoded(digest, cid, pixels, meta, note=note, gated=gated)


def _text(picture, data: bytes) -> tuple[str, bool]:
    """(the picture's text, whether the gate passed it): "" when the OCR cannot read it (looked
    at, so that the next ingest does not try again)."""
    from ..ocr import text_reader

    try:
        return text_reader().read(picture, lambda side: decode_image_bytes(data, side).image)
    except (ImageError, MemoryError):
        return "", True
    except Exception:  # noqa: BLE001 - an ONNX model failing on one picture must not end the run
        return "", True


def _read_again(data: bytes, cid: int, reading: Reading) -> tuple[dict[str, Any], bool]:
    """The fields of stored content read now (its words from the header, its text with the gate's
    picture decoded for it: the bytes decoded before, so a failure now is text not found), and
    whether the OCR gate passed it."""
    meta: dict[str, Any] = {}
    gated = False
    if cid in reading.unread:
        meta.update(word_fields(read_words(data)))
    if cid in reading.unlooked:
        from ..ocr.gate import PAGE_SIDE

        try:
            picture = decode_image_bytes(data, PAGE_SIDE).image
        except (ImageError, MemoryError):
            meta["ocr"] = ""
        else:
            meta["ocr"], gated = _text(picture, data)
    return meta, gated


def default_workers() -> int:
    return max(1, min(8, (os.cpu_count() or 2) - 1))


DEFAULT_AHEAD = 128  # files decoded ahead of the consumer: ~22 MB of 240-px pixels


def decode_files(paths: list[Path], preprocess, workers: int | None = None, known: set | None = None,
                 ahead: int | None = None, reading: Reading = Reading()) -> Iterator[Decoded]:
    """Read and decode files in order, in worker processes (overlapping with whatever the
    caller does with each result). Files whose content id is in `known` are hashed only, and so
    are, when `known` is given, copies of content met earlier in this run (pipeline/copies.py):
    the first file of each content in order carries its pixels, its copies none.

    At most `ahead` files (default DEFAULT_AHEAD) are submitted and not yet taken by the caller:
    a new file is submitted as each result is taken, so the workers keep decoding while the
    caller encodes, and a slow consumer holds a bounded number of decoded images, however many
    files there are. To hide decoding fully, `ahead` should exceed the caller's batch.

    `reading`: what else to read; stored content it names (even in `known`) is read for that,
    once per content like a new one."""
    if known is not None:
        known = stored_but_read_again(known, reading)
    workers = default_workers() if workers is None else whole_number(workers, "workers", 0, max_workers())
    ahead = DEFAULT_AHEAD if ahead is None else ahead
    if ahead < 1:
        raise InvalidOptionError(f"decode-ahead must be at least 1 file (got {ahead})")
    stored = frozenset() if known is None else known
    copies = Copies(stored) if known is not None else None

    def settled(d: Decoded, path: Path, later=()) -> Decoded:
        if copies is None:
            return d
        return copies.settle(d, later, lambda: decode_file(path, preprocess, stored, reading))

    if workers <= 0 or len(paths) < 8:
        claims = Claims(stored, len(paths)) if known is not None else stored
        for path in paths:
            yield settled(decode_file(path, preprocess, claims, reading), path)
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
    with ctx.Pool(workers, initializer=_start_worker, initargs=(preprocess, claims, reading, stop)) as pool:
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


def stored_but_read_again(known, reading: Reading):
    """`known` without the ids `reading` reads again (a view, not a copy of a large set)."""
    return _Stored(known, reading) if reading.unread or reading.unlooked else known


class _Stored:
    """Known ids but those read again."""

    def __init__(self, known, reading: Reading):
        self.known, self.reading = known, reading

    def __contains__(self, cid: int) -> bool:
        return cid in self.known and not self.reading.again(cid)

    def __len__(self) -> int:
        return len(self.known)


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


_worker: tuple[Preprocess, frozenset | set, Reading] | None = None


_stop = None  # a shared flag: set when the caller stops early (decode nothing more)


def _start_worker(preprocess: Preprocess, known: frozenset | set, reading: Reading, stop=None) -> None:
    global _worker, _stop
    _worker, _stop = (preprocess, known, reading), stop
    quiet_worker()


def _decode_in_worker(path: Path) -> Decoded | None:
    assert _worker is not None
    if _stop is not None and _stop.value:
        return None
    return decode_file(path, *_worker)
