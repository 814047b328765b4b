"""What decoding a file gives (every decoder of the reader returns it)."""
from __future__ import annotations

from typing import NamedTuple

from PIL import Image

from .exif import ImageMeta


MAX_PIXELS = 180_000_000  # larger than any camera; beyond this an image is treated as a decompression bomb


class DecodedImage(NamedTuple):
    image: Image.Image  # RGB, upright; short side >= the target asked for where the file allows
    width: int          # of the image as stored in the file (before orientation and reduced decoding)
    height: int
    meta: ImageMeta
    source: str | None = None  # how a RAW file was read: "preview" (its embedded JPEG) or "demosaic"
