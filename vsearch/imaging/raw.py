"""RAW camera files (DNG, CR2, CR3, NEF, ARW, RAF, ORF, RW2, …) through LibRaw (rawpy, the `raw` extra).

Fast path first: cameras embed a JPEG rendering of the shot (full size, or ~1600 px wide), which
is the camera's own development of the RAW and is decoded like any JPEG (DCT scaling to the
target). It is used when its short side reaches the target and its shape is the sensor's (a
letterboxed or cropped preview is not the photo). Otherwise LibRaw develops the sensor data at half
size (each 2x2 Bayer block one pixel: no demosaic, 4x fewer pixels), with the camera's white
balance; at full size only when no target is given or half size would be smaller than it.

Orientation: LibRaw's (it knows the makers' own orientation tags); a preview JPEG that declares an
orientation of its own has had it applied already. Metadata: raw_meta.py (LibRaw gives neither make
nor model). Bounds: the file's size (the reader's cap), its declared sensor size (MAX_PIXELS, checked
before anything is unpacked: a half-size develop then peaks at ~6 bytes per sensor pixel), LibRaw's
own allocation caps, and the preview's own JPEG bounds. LibRaw's errors become reasons: a file cut
short is "truncated or corrupt", a RAW without rawpy installed is "unsupported".
"""
from __future__ import annotations

import io
import os
import struct
from typing import Callable

from PIL import Image

from .errors import CorruptImageError, ImageBombError, ImageError, ImageMemoryError, UnsupportedImageError, clean_text
from .exif import ImageMeta, apply_orientation
from .picture import MAX_PIXELS, DecodedImage
from .raw_meta import raw_meta

try:  # the `raw` extra: without it RAW files are counted as seen and not ingested (pipeline/scan.py)
    import rawpy
except ImportError:  # pragma: no cover - exercised by the scan's counting, with rawpy hidden
    rawpy = None

RAW_EXTENSIONS = frozenset({".dng", ".cr2", ".cr3", ".crw", ".nef", ".nrw", ".arw", ".srf", ".sr2", ".raf", ".orf",
                            ".rw2", ".rwl", ".pef", ".srw", ".x3f", ".3fr", ".iiq", ".erf", ".kdc", ".dcr", ".mrw",
                            ".mos", ".raw"})  # what LibRaw reads; a file it does not recognise is tried as a photo
MISSING = "raw: rawpy not installed"  # the reason a RAW file is seen and not read (pip install 'vsearch[raw]')

# LibRaw's `flip` (0 none, 3 180 deg, 5 90 deg counter-clockwise, 6 90 deg clockwise, 1/2/4/7 mirrored) as EXIF orientation
_FLIP_TO_ORIENTATION = {0: 1, 1: 2, 2: 4, 3: 3, 4: 5, 5: 8, 6: 6, 7: 7}
_SHAPE_TOLERANCE = 0.03  # a preview whose aspect ratio differs more from the sensor's is letterboxed or cropped
_SIGNATURES = (b"IIRO", b"IIRS", b"MMOR", b"IIU\0", b"FUJIFILMCCD-RAW")  # ORF, RW2, RAF
_DNG_VERSION = 50706
_MAX_IFD_ENTRIES = 4096

PhotoDecoder = Callable[[bytes, "int | None"], DecodedImage]


def raw_available() -> bool:
    return rawpy is not None


def is_raw_name(name: str | os.PathLike) -> bool:
    return os.path.splitext(os.fsdecode(name))[1].lower() in RAW_EXTENSIONS


def looks_raw(data: bytes, name: str | os.PathLike | None = None) -> bool:
    """A RAW by its name, or by a signature only RAW files carry (CR2, CR3, ORF, RW2, RAF, DNG).
    NEF, ARW, PEF and SRW start like any TIFF: only their name tells them apart."""
    if name is not None and is_raw_name(name):
        return True
    if data.startswith(_SIGNATURES) or data[4:12] == b"ftypcrx ":
        return True
    if data[:4] in (b"II*\0", b"MM\0*"):
        return data[8:10] == b"CR" or _tiff_ifd0_has(data, _DNG_VERSION)
    return False


def _tiff_ifd0_has(data: bytes, tag: int) -> bool:
    order = "<" if data[:2] == b"II" else ">"
    try:
        (at,) = _unpack(order + "I", data, 4)
        (count,) = _unpack(order + "H", data, at)
        return any(_unpack(order + "H", data, at + 2 + 12 * i)[0] == tag for i in range(min(count, _MAX_IFD_ENTRIES)))
    except ValueError:
        return False


def _unpack(fmt: str, data: bytes, at: int) -> tuple:
    try:
        return struct.unpack_from(fmt, data, at)
    except struct.error as e:
        raise ValueError(str(e)) from None


def decode_raw(data: bytes, target: int | None, decode_photo: PhotoDecoder, preview: bool = True) -> DecodedImage | None:
    """The picture of a RAW file's bytes; None when LibRaw does not recognise them as a RAW (the
    caller reads them as a photo). `decode_photo`: the reader's JPEG path, for the preview.
    `preview=False` always develops the sensor data (benchmarks compare the two)."""
    if rawpy is None:
        raise UnsupportedImageError(f"unsupported image format ({MISSING}: pip install 'vsearch[raw]')")
    try:
        with rawpy.RawPy() as raw:
            raw.open_buffer(io.BytesIO(data))
            return _develop(raw, data, target, decode_photo, preview)
    except rawpy.LibRawFileUnsupportedError:
        return None
    except (rawpy.LibRawTooBigError, rawpy.LibRawMemPoolOverflowError) as e:
        raise ImageBombError(f"decompression bomb: LibRaw refuses the image as too large ({_message(e)})") from None
    except (MemoryError, rawpy.LibRawUnsufficientMemoryError):
        raise ImageMemoryError("out of memory while decoding (the image is too large for the memory available)") from None
    except rawpy.LibRawIOError as e:
        raise CorruptImageError(f"truncated or corrupt: the RAW data ends early or cannot be read ({_message(e)})") from None
    except rawpy.LibRawError as e:
        raise CorruptImageError(f"truncated or corrupt: {_message(e)}") from None


def _message(e: Exception) -> str:
    text = e.args[0] if e.args else ""
    return clean_text(text, 80) or type(e).__name__


def _develop(raw, data: bytes, target: int | None, decode_photo: PhotoDecoder, preview: bool) -> DecodedImage:
    sizes = raw.sizes
    if sizes.raw_width * sizes.raw_height > MAX_PIXELS:
        raise ImageBombError(f"decompression bomb: {sizes.raw_width}x{sizes.raw_height} sensor pixels exceeds the "
                             f"{MAX_PIXELS:,}-pixel limit")
    width, height = sizes.width, sizes.height
    if width < 1 or height < 1:
        raise CorruptImageError(f"truncated or corrupt: {width}x{height} pixels")
    orientation = _FLIP_TO_ORIENTATION.get(sizes.flip, 1)
    meta = raw_meta(data)
    meta = ImageMeta(meta.taken_at, meta.camera, orientation if sizes.flip else meta.orientation, meta.lens)
    if preview and target:
        image = _preview(raw, target, (width, height), orientation, decode_photo)
        if image is not None:
            return DecodedImage(image, width, height, meta, "preview")
    half = target is not None and min(width, height) // 2 >= target
    rgb = raw.postprocess(half_size=half, use_camera_wb=True, output_bps=8, gamma=(2.4, 12.92))  # turned upright
    return DecodedImage(Image.fromarray(rgb, "RGB"), width, height, meta, "demosaic")


def _preview(raw, target: int, sensor: tuple[int, int], orientation: int, decode_photo: PhotoDecoder) -> Image.Image | None:
    """The embedded preview, upright, when its short side reaches `target` and its shape is the
    sensor's; None otherwise (no preview, a small or damaged one: the sensor data is developed)."""
    try:
        thumb = raw.extract_thumb()
    except rawpy.LibRawError:
        return None
    if thumb.format == rawpy.ThumbFormat.JPEG:
        try:
            d = decode_photo(bytes(thumb.data), target)
        except ImageError:
            return None
        image = d.image if d.meta.orientation is not None else apply_orientation(d.image, orientation)
        shape = (d.width, d.height)
    else:  # a bitmap preview (h, w, 3)
        image = apply_orientation(Image.fromarray(thumb.data).convert("RGB"), orientation)
        shape = (thumb.data.shape[1], thumb.data.shape[0])
    if min(image.size) < target or not _same_shape(shape, sensor):
        return None
    return image


def _same_shape(a: tuple[int, int], b: tuple[int, int]) -> bool:
    """The same aspect ratio, either way round (a preview may be stored upright)."""
    ra, rb = max(a) / max(1, min(a)), max(b) / max(1, min(b))
    return abs(ra - rb) <= _SHAPE_TOLERANCE * rb
