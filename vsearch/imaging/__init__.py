"""The one image reader: every place vsearch opens an image (ingest, query images, thumbnails,
reranker inputs, UI uploads) goes through it, so that each gets the same bounds and the same reasons.

    read_file_bytes(path, max_bytes=DEFAULT_MAX_BYTES) -> bytes
        Only a regular file of at most max_bytes (512 MiB) is read: a FIFO, device, socket or folder
        is refused without being read, a symlink loop or missing file is a reason, never a hang.
    decode_image_bytes(data, target=None, max_bytes=DEFAULT_MAX_BYTES) -> DecodedImage
        (image, width, height, meta): the upright RGB picture (short side >= target where the file
        allows: JPEG DCT scaling, HEIF embedded previews), the stored size, EXIF metadata as data.
    read_image_file(path, target=None, max_bytes=DEFAULT_MAX_BYTES) -> DecodedImage
        Both, for callers that do not need the bytes (ingest does: it hashes them first).
    to_rgb(image) -> image   any Pillow mode to RGB as a person sees it (used by Preprocess too)

RAW camera files (raw.py, with the `raw` extra) go through decode_image_bytes too: known by their
signature or, for formats with plain TIFF headers, by the `name` given. Videos are not images:
video.py reads a bounded set of frames from a file (`read_video`), and one moment (`video_frame`).

Bounds: a file's size (max_bytes), its declared pixels (MAX_PIXELS, checked before decoding), and
preprocessing (Preprocess.to_pixels scales only a target-sized window, whatever the aspect ratio).
A decode's peak memory is then about 4 bytes per declared pixel for RGB and greyscale, up to ~9
for alpha, 16-bit and float images (measured on 64 MP PNG/TIFF): at most ~1.6 GB at the cap.
Every refusal is an ImageError (vsearch.errors) subclass with a short `reason`:
    "not a regular file (fifo)", "too large: 600.0 MB exceeds the 512.0 MB limit", "empty file (0 bytes)",
    "unreadable: permission denied", "not an image (format not recognised)",
    "unsupported image format (EPS)", "truncated or corrupt: …", "decompression bomb: 20000x20000 pixels exceeds …"
Transparent areas are composited on white; 16-bit and float greyscale are scaled to 8 bits.
"""
from __future__ import annotations

from .decode import MAX_PIXELS, PHOTO_FORMATS, DecodedImage, decode_image_bytes, read_image_file
from .errors import (CorruptImageError, EmptyFileError, FileTooLargeError, ImageBombError, ImageError,
                     ImageMemoryError, NotAnImageError, NotRegularFileError, NoVideoStreamError, UnreadableFileError,
                     UnsupportedImageError)
from .exif import ImageMeta
from .files import DEFAULT_MAX_BYTES, read_file_bytes
from .modes import BACKGROUND, to_rgb

__all__ = ["read_file_bytes", "decode_image_bytes", "read_image_file", "to_rgb", "DecodedImage", "ImageMeta",
           "MAX_PIXELS", "DEFAULT_MAX_BYTES", "PHOTO_FORMATS", "BACKGROUND",
           "ImageError", "UnreadableFileError", "NotRegularFileError", "FileTooLargeError", "EmptyFileError",
           "NotAnImageError", "UnsupportedImageError", "CorruptImageError", "ImageBombError", "ImageMemoryError",
           "NoVideoStreamError"]
