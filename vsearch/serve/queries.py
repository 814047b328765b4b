"""The parts of a query that come as bytes or values over HTTP, turned into what the library
takes: an image (base64 or an upload) decoded by vsearch.imaging's bounded reader, exactly as
ingest decodes a file (a decompression bomb is refused before decoding), and a filter."""
from __future__ import annotations

import base64
import binascii

from ..filters import Filter
from ..imaging import decode_image_bytes
from ..search import Collection
from .errors import ApiError


def b64_bytes(data: str, limit: int) -> bytes:
    if len(data) > limit * 4 // 3 + 4:
        raise ApiError(413, f"the image is larger than {limit:,} bytes")
    try:
        raw = base64.b64decode("".join(data.split()), validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(400, "image is not valid base64") from None
    if not raw:
        raise ApiError(400, "image is empty")
    return raw


def decoded(col: Collection, data: bytes, limit: int):
    """The picture, decoded at no more than the model's input size where the format allows;
    anything refused is an ImageError (a 400 that says why)."""
    return decode_image_bytes(data, col.preprocess.size, max_bytes=limit).image


def where_of(where: str | None, flt) -> "str | Filter | None":
    if where is not None and flt is not None:
        raise ApiError(400, "give `where` or `filter`, not both")
    if flt is None:
        return where
    return Filter(folders=tuple(flt.folders), cameras=tuple(flt.cameras), taken_from=flt.taken_from,
                  taken_to=flt.taken_to, min_bytes=flt.min_bytes, max_bytes=flt.max_bytes)


def check_page(k: int, offset: int, max_k: int) -> int:
    """How many hits to ask the library for (a page is k hits after `offset`)."""
    if k + offset > max_k:
        raise ApiError(422, f"k + offset must be at most {max_k} (got {k} + {offset})")
    return k + offset


def next_offset(got: int, k: int, offset: int, max_k: int) -> int | None:
    end = offset + k
    return end if got >= end and end < max_k else None
