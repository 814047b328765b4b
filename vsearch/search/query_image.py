"""Images given to a query (a file, or an already-decoded picture): decoded bounded, EXIF-rotated."""
from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageOps

from ..errors import QueryError


def read_image(image: str | Path | Image.Image, size: int) -> Image.Image:
    """A query or candidate image, decoded (JPEG draft to ~`size`) and EXIF-rotated."""
    if isinstance(image, Image.Image):
        return image
    from ..pipeline.decode import open_image

    try:
        img, _, _ = open_image(Path(image).read_bytes(), draft_to=size)
    except (OSError, ValueError) as e:
        raise QueryError(f"cannot read image {image}: {e}") from e
    return ImageOps.exif_transpose(img)
