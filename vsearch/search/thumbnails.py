"""Thumbnails, made once per (content id, size) and kept in the collection's `thumbs/` folder.

Browsing shows dozens of images per interaction; decoding full-size photos every time would cost
~50 ms each. A thumbnail is keyed by content id, so a moved or renamed file keeps its thumbnail
and an edited one (new content, new id) gets a new one.
"""
from __future__ import annotations

from pathlib import Path

from PIL import Image

from ..atomic import atomic_write


def thumbnail_path(folder: Path, id_: int, size: int) -> Path:
    return folder / "thumbs" / f"{id_ & 0xFFFFFFFFFFFFFFFF:016x}-{size}.jpg"


def save_thumbnail(img: Image.Image, dst: Path, size: int) -> Path:
    """Write a decoded (EXIF-rotated) image as a JPEG whose longer side is at most `size`, atomically."""
    img = img.convert("RGB")
    img.thumbnail((size, size), Image.Resampling.LANCZOS)
    return atomic_write(dst, lambda tmp: img.save(tmp, "JPEG", quality=85, optimize=True), point="thumbnail",
                        durable=False)
