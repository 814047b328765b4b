"""Why a file was not read as an image: one ImageError subclass per kind, each with a `reason`
a user reads (and that ingest records beside the file's path)."""
from __future__ import annotations

import unicodedata

from ..errors import ImageError

__all__ = ["ImageError", "UnreadableFileError", "NotRegularFileError", "FileTooLargeError", "EmptyFileError",
           "NotAnImageError", "NoVideoStreamError", "UnsupportedImageError", "CorruptImageError", "ImageBombError",
           "ImageMemoryError", "clean_text"]


class UnreadableFileError(ImageError):
    """The file could not be opened or read (permission, missing, symlink loop, I/O error)."""


class NotRegularFileError(ImageError):
    """A FIFO, device, socket or directory: never read."""


class FileTooLargeError(ImageError):
    """More bytes than the reader's cap."""


class EmptyFileError(ImageError):
    """Zero bytes."""


class NotAnImageError(ImageError):
    """Bytes that no image format recognises (text, HTML, garbage)."""


class NoVideoStreamError(ImageError):
    """A video container without a video stream (audio only, or nothing)."""


class UnsupportedImageError(ImageError):
    """A recognised format or pixel mode that vsearch does not decode (EPS, PSD…)."""


class CorruptImageError(ImageError):
    """A recognised format whose data is truncated or damaged."""


class ImageBombError(ImageError):
    """Declared dimensions beyond the pixel cap (a decompression bomb, or an absurd header)."""


class ImageMemoryError(ImageError):
    """Decoding ran out of memory although the image was within the caps."""


def clean_text(value: object, limit: int) -> str:
    """Text from a file (an EXIF string, a decoder's message quoting file bytes) made safe to show
    and store: control/format/unassigned characters dropped, whitespace collapsed, at most `limit`
    characters."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    text = "".join(c if unicodedata.category(c)[0] != "C" else " " for c in str(value)[: limit * 4])
    return " ".join(text.split())[:limit].strip()
