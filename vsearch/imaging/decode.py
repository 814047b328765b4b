"""Decoding image bytes into the RGB picture a person sees, at no more cost than the picture needs.

- Only photo formats are opened (JPEG/MPO, PNG/APNG, GIF, WebP, TIFF, BMP, HEIF, AVIF): a file named
  `.jpg` holding EPS would otherwise start Ghostscript. Other recognised formats are refused by name.
- Declared dimensions are checked before any pixel is decoded: beyond MAX_PIXELS it is a bomb.
- Reduced-size decoding where the format has it: JPEG decodes with DCT scaling (draft) to the
  smallest 1/2, 1/4 or 1/8 scale whose sides stay >= target; HEIF decodes its embedded preview
  instead of the image when one is a scaled copy with sides >= target (pillow-heif's draft).
- Animated GIF/WebP/APNG and multi-page TIFF/MPO: the first frame.
- RAW camera files (raw.py, LibRaw): the embedded JPEG preview when it is large enough, else a
  half-size demosaic.
- Pixel modes become RGB as a person sees them (modes.py), EXIF orientation is applied, EXIF
  metadata is read as data (exif.py).
What an extreme aspect ratio becomes, and the bound on its cost, is Preprocess.to_pixels's job:
the decoded image is what the file holds (bounded by MAX_PIXELS), preprocessing never scales more
than a target-sized window of it.
"""
from __future__ import annotations

import io
import os
import re
import struct
import warnings
from PIL import Image

from .errors import (CorruptImageError, EmptyFileError, FileTooLargeError, ImageBombError, ImageError,
                     ImageMemoryError, NotAnImageError, UnsupportedImageError, clean_text)
from .exif import apply_orientation, pending_orientation, read_meta
from .files import DEFAULT_MAX_BYTES, human_bytes, read_file_bytes
from .modes import to_rgb
from .picture import MAX_PIXELS, DecodedImage
from .raw import decode_raw, looks_raw

try:  # HEIC/HEIF: a declared dependency, but a broken wheel must not break every other format
    import pillow_heif

    pillow_heif.register_heif_opener()
except ImportError:  # pragma: no cover
    pass

Image.MAX_IMAGE_PIXELS = MAX_PIXELS  # Pillow's own check in Image.open, at 2x this, stays a backstop
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)
# broken EXIF ("Tag data larger than file", "Possibly corrupt EXIF data") is metadata lost, said by ImageMeta
warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.TiffImagePlugin")

PHOTO_FORMATS = ("JPEG", "MPO", "PNG", "GIF", "WEBP", "TIFF", "BMP", "HEIF", "AVIF")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_TEXT_CHUNKS = (b"tEXt", b"zTXt", b"iTXt")
_MAX_MESSAGE = 120  # characters of a decoder's message kept in a reason


def _formats() -> tuple[str, ...]:
    Image.init()
    return tuple(f for f in PHOTO_FORMATS if f in Image.OPEN)


def _unrecognised(data: bytes) -> ImageError:
    """Why no photo format opened the bytes: a known signature whose body is damaged, a format
    vsearch does not read, or not an image at all."""
    prefix = data[:16]
    for fmt, (_, accept) in list(Image.OPEN.items()):
        try:
            if accept is None or not accept(prefix):  # a str result: recognised, in a variant Pillow refuses
                continue
        except Exception:  # noqa: BLE001 - a plugin's signature test failing is just "not this format"
            continue
        if fmt in PHOTO_FORMATS:
            return CorruptImageError(f"truncated or corrupt: {fmt} data that cannot be opened")
        return UnsupportedImageError(f"unsupported image format ({fmt})")
    return NotAnImageError("not an image (format not recognised)")


def _without_png_text(data: bytes) -> bytes:
    """The PNG without its text chunks, whose size limits Pillow enforces by failing the whole file."""
    out, pos = [data[:8]], 8
    while pos + 12 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        end = pos + 12 + length
        if kind not in _PNG_TEXT_CHUNKS:
            out.append(data[pos:end])
        pos = end
    out.append(data[pos:])
    return b"".join(out)


def _decode(data: bytes, target: int | None) -> DecodedImage:
    try:
        img = Image.open(io.BytesIO(data), formats=_formats())
    except Image.UnidentifiedImageError:
        raise _unrecognised(data) from None
    width, height = img.size
    if width * height > MAX_PIXELS:
        raise ImageBombError(f"decompression bomb: {width}x{height} pixels exceeds the {MAX_PIXELS:,}-pixel limit")
    if width < 1 or height < 1:
        raise CorruptImageError(f"truncated or corrupt: {width}x{height} pixels")
    if target:
        img.draft("RGB", (target, target))  # JPEG: DCT scaling; HEIF: an embedded preview; others: no-op
    img.load()
    meta, orientation = read_meta(img), pending_orientation(img)
    img = to_rgb(img)
    return DecodedImage(apply_orientation(img, orientation), width, height, meta)


def decode_image_bytes(data: bytes, target: int | None = None, max_bytes: int = DEFAULT_MAX_BYTES,
                       name: str | os.PathLike | None = None) -> DecodedImage:
    """Decode image bytes into an upright RGB picture, its stored size and its EXIF metadata.

    `target`: the size the caller will scale to (the model's input size, a thumbnail's side); formats
    with reduced-size decoding decode no larger than needed for sides >= target. None: full size.
    `name`: the file's name, when there is one: a RAW file whose format has no signature of its own
    (NEF, ARW, PEF, SRW: plain TIFF headers) is known by its extension (raw.py).
    Raises an ImageError subclass whose `reason` says why the bytes are not an image vsearch reads.
    """
    if not data:
        raise EmptyFileError("empty file (0 bytes)")
    if len(data) > max_bytes:
        raise FileTooLargeError(f"too large: {human_bytes(len(data), True)} exceeds the {human_bytes(max_bytes)} limit")
    if looks_raw(data, name):
        decoded = decode_raw(data, target, _decode_photo)
        if decoded is not None:
            return decoded
    return _decode_photo(data, target)  # not a RAW after all (a JPEG named .dng): read as what it is


def _decode_photo(data: bytes, target: int | None) -> DecodedImage:
    """The photo formats, through Pillow; every failure an ImageError."""
    try:
        try:
            return _decode(data, target)
        except ValueError:
            # Pillow refuses a whole PNG for an oversized text chunk; the picture does not need its text
            if not data.startswith(_PNG_SIGNATURE) or (stripped := _without_png_text(data)) == data:
                raise
            return _decode(stripped, target)
    except ImageError:
        raise
    except Image.DecompressionBombError as e:  # Pillow's own check, at twice the cap, came first
        declared = re.search(r"\((\d+) pixels\)", str(e))
        raise ImageBombError(f"decompression bomb: {int(declared[1]) if declared else 2 * MAX_PIXELS:,} pixels "
                             f"{'' if declared else 'or more '}exceeds the {MAX_PIXELS:,}-pixel limit") from None
    except MemoryError:
        raise ImageMemoryError("out of memory while decoding (the image is too large for the memory available)") from None
    except Exception as e:  # noqa: BLE001 - decoders raise anything on hostile bytes; each is a damaged file
        raise CorruptImageError(f"truncated or corrupt: {clean_text(e, _MAX_MESSAGE) or type(e).__name__}") from None


def read_image_file(path: str | os.PathLike, target: int | None = None,
                    max_bytes: int = DEFAULT_MAX_BYTES) -> DecodedImage:
    """read_file_bytes + decode_image_bytes for one path; a refusal's ImageError carries the path."""
    try:
        return decode_image_bytes(read_file_bytes(path, max_bytes), target, max_bytes, name=path)
    except ImageError as e:
        e.path = os.fsdecode(path)
        raise
