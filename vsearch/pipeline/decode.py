"""Read + decode stage: file -> content hash, model-ready uint8 pixels and metadata, or a reason
it failed. Runs in worker processes (`decode_files`).

JPEGs are decoded at reduced size through DCT scaling (PIL draft mode) — the biggest single
saving on camera photos — and EXIF orientation is applied.
"""
from __future__ import annotations

import io
import multiprocessing as mp
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path

import numpy as np
import xxhash
from PIL import Image, ImageOps, UnidentifiedImageError

from ..models.preprocess import Preprocess

try:  # HEIC/HEIF support
    import pillow_heif

    pillow_heif.register_heif_opener()
except ImportError:  # pragma: no cover - optional at runtime
    pass

MAX_PIXELS = 180_000_000  # larger than any camera; beyond this an image is treated as a decompression bomb
Image.MAX_IMAGE_PIXELS = MAX_PIXELS

_EXIF_IFD = 0x8769
_DATETIME_ORIGINAL, _DATETIME, _MAKE, _MODEL, _ORIENTATION = 36867, 306, 271, 272, 274


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


def _exif_fields(img: Image.Image) -> tuple[datetime | None, str | None, int | None]:
    try:
        exif = img.getexif()
    except Exception:
        return None, None, None
    raw = exif.get_ifd(_EXIF_IFD).get(_DATETIME_ORIGINAL) or exif.get(_DATETIME)
    taken = None
    if isinstance(raw, str):
        try:
            taken = datetime.strptime(raw.strip("\x00 ")[:19], "%Y:%m:%d %H:%M:%S")
        except ValueError:
            taken = None
    make, model = (str(exif.get(t, "")).strip("\x00 ") for t in (_MAKE, _MODEL))
    camera = (model if make and model.lower().startswith(make.lower().split()[0]) else f"{make} {model}").strip() or None
    orient = exif.get(_ORIENTATION)
    return taken, camera, int(orient) if isinstance(orient, int) else None


def open_image(data: bytes, draft_to: int | None = None) -> tuple[Image.Image, int, int]:
    """Open and fully decode image bytes; returns (RGB image, original width, original height)."""
    img = Image.open(io.BytesIO(data))
    w, h = img.size
    if w * h > MAX_PIXELS:
        raise ValueError(f"decompression bomb: {w}x{h} pixels exceeds {MAX_PIXELS}")
    if getattr(img, "n_frames", 1) > 1:
        img.seek(0)
    if draft_to and img.format == "JPEG":
        img.draft("RGB", (draft_to, draft_to))
    img.load()
    return img, w, h


def decode_file(path: Path, preprocess: Preprocess, known: frozenset | set = frozenset()) -> Decoded:
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        return Decoded("", 0, error=f"unreadable: {e.strerror or e}")
    if not data:
        return Decoded("", 0, error="empty file (0 bytes)")
    digest, cid = content_id(data)
    if cid in known:
        return Decoded(digest, cid)
    try:
        img, w, h = open_image(data, draft_to=preprocess.size)
        taken, camera, orient = _exif_fields(img)
        img = ImageOps.exif_transpose(img)
        pixels = preprocess.to_pixels(img)
    except Image.DecompressionBombError as e:
        return Decoded(digest, cid, error=f"decompression bomb: {e}")
    except UnidentifiedImageError:
        return Decoded(digest, cid, error="not an image (format not recognised)")
    except (OSError, ValueError, SyntaxError, EOFError) as e:
        msg = str(e) or type(e).__name__
        return Decoded(digest, cid, error=("truncated or corrupt: " + msg) if "decompression bomb" not in msg else msg)
    return Decoded(digest, cid, pixels, w, h, taken, camera, orient)


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
