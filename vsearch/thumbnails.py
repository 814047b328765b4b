"""Thumbnails, made once per (content id, size) and kept in the collection's `thumbs/` folder.

Browsing shows dozens of images per interaction; decoding full-size photos every time would cost
~50 ms each. A thumbnail is keyed by content id, so a moved or renamed file keeps its thumbnail
and an edited one (new content, new id) gets a new one.
"""
from __future__ import annotations

import os
from pathlib import Path

from PIL import Image


def thumbnail_path(folder: Path, id_: int, size: int) -> Path:
    return folder / "thumbs" / f"{id_ & 0xFFFFFFFFFFFFFFFF:016x}-{size}.jpg"


def save_thumbnail(img: Image.Image, dst: Path, size: int) -> Path:
    """Write a decoded (EXIF-rotated) image as a JPEG whose longer side is at most `size`, atomically."""
    img = img.convert("RGB")
    img.thumbnail((size, size), Image.Resampling.LANCZOS)
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.tmp")
    img.save(tmp, "JPEG", quality=85, optimize=True)
    os.replace(tmp, dst)
    return dst
