"""EXIF metadata as data: capture date, camera, lens and orientation, read defensively.

EXIF comes from the file, so every field is untrusted: strings are cleaned of control characters
and bounded in length, dates that do not parse are dropped, and no EXIF however broken fails a
decode (the picture is still read; its metadata is just absent).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from PIL import Image

from .errors import clean_text

MAX_TEXT = 64  # characters kept of a make or model (real ones are < 40; lens names < 60)
MAX_EXIF_BYTES = 1 << 20  # larger EXIF blocks are not parsed: parsing costs ~10x their size in Python objects

_EXIF_IFD = 0x8769
_DATETIME_ORIGINAL, _DATETIME, _MAKE, _MODEL, _ORIENTATION = 36867, 306, 271, 272, 274
_LENS_MAKE, _LENS_MODEL = 42035, 42036
_DATE_FORMATS = ("%Y:%m:%d %H:%M:%S", "%Y-%m-%d %H:%M:%S")
TRANSPOSE = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
             5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
             8: Image.Transpose.ROTATE_90}


@dataclass(frozen=True)
class ImageMeta:
    taken_at: datetime | None = None   # DateTimeOriginal, else DateTime
    camera: str | None = None          # "make model" (model alone when it already names the make)
    orientation: int | None = None     # the EXIF orientation the file declared (1-8), already applied to the pixels
    lens: str | None = None            # LensModel, with LensMake when the model does not name it


def _date(raw: object) -> datetime | None:
    if isinstance(raw, bytes):
        raw = raw.decode("ascii", "replace")
    if not isinstance(raw, str):
        return None
    text = raw.strip("\x00 ")[:19]
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            pass
    return None


def camera_name(make: object, model: object) -> str | None:
    """"make model" from two untrusted values (model alone when it already names the make)."""
    make, model = (clean_text(v, MAX_TEXT) if isinstance(v, (str, bytes)) else "" for v in (make, model))
    if make and model.lower().startswith(make.lower().split()[0]):
        return model
    return f"{make} {model}".strip() or None


def _orientation(value: object) -> int | None:
    return value if isinstance(value, int) and 1 <= value <= 8 else None


def _exif(img: Image.Image) -> Image.Exif | None:
    raw = img.info.get("exif")
    if isinstance(raw, (bytes, bytearray)) and len(raw) > MAX_EXIF_BYTES:
        return None
    return img.getexif()


def meta_from_exif(exif: Image.Exif, declared: int | None = None,
                   exif_ifd: "Image.Exif | dict | None" = None) -> ImageMeta:
    """The metadata of a parsed EXIF block; `declared`: an orientation the decoder already applied;
    `exif_ifd`: the EXIF sub-IFD when it is stored apart (Canon CR3). Date and lens are looked for
    in the EXIF sub-IFD, then in IFD0 (where some RAW writers put them). Never raises."""
    def sub():
        return exif_ifd if exif_ifd is not None else exif.get_ifd(_EXIF_IFD)

    def tag(key: int) -> object:
        try:
            value = sub().get(key)
        except Exception:  # noqa: BLE001 - a broken sub-IFD: IFD0 may still hold it
            value = None
        return value if value is not None else exif.get(key)

    fields: dict[str, object] = {}
    for name, read in (("taken_at", lambda: _date(tag(_DATETIME_ORIGINAL)) or _date(exif.get(_DATETIME))),
                       ("camera", lambda: camera_name(exif.get(_MAKE), exif.get(_MODEL))),
                       ("orientation", lambda: declared or _orientation(exif.get(_ORIENTATION))),
                       ("lens", lambda: camera_name(tag(_LENS_MAKE), tag(_LENS_MODEL)))):
        try:
            fields[name] = read()
        except Exception:  # noqa: BLE001 - one broken field does not lose the others
            fields[name] = None
    return ImageMeta(**fields)


def read_meta(img: Image.Image) -> ImageMeta:
    """The metadata of an opened image (call before converting it: conversion drops TIFF tags).
    Never raises."""
    # pillow-heif applies HEIF's own rotation and resets EXIF orientation to 1, keeping the declared one here
    declared = _orientation(img.info.get("original_orientation"))
    try:
        exif = _exif(img)
    except Exception:  # noqa: BLE001 - garbage EXIF is metadata lost, not an image lost
        return ImageMeta(orientation=declared)
    if exif is None:
        return ImageMeta(orientation=declared)
    return meta_from_exif(exif, declared)


def pending_orientation(img: Image.Image) -> int:
    """The EXIF orientation still to apply to the pixels (1 when none, or when the decoder applied it)."""
    try:
        exif = _exif(img)
        return (_orientation(exif.get(_ORIENTATION)) or 1) if exif is not None else 1
    except Exception:  # noqa: BLE001
        return 1


def apply_orientation(img: Image.Image, orientation: int) -> Image.Image:
    """The picture upright, the way ImageOps.exif_transpose turns it."""
    method = TRANSPOSE.get(orientation)
    return img.transpose(method) if method is not None else img
