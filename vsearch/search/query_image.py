"""Images given to a query (a file, or an already-decoded picture): read and decoded by
vsearch.imaging, bounded like ingest's, EXIF-rotated; a refusal is an ImageError (a VsearchError)."""
from __future__ import annotations

from pathlib import Path

from PIL import Image

from ..imaging import read_image_file, to_rgb


def read_image(image: str | Path | Image.Image, size: int) -> Image.Image:
    """A query or candidate image, decoded at reduced size where the format allows (>= `size`)."""
    if isinstance(image, Image.Image):
        return to_rgb(image)
    return read_image_file(Path(image), size).image
