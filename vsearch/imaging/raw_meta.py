"""EXIF metadata of a RAW camera file, without LibRaw: capture time, camera, lens, orientation.

LibRaw (rawpy) reads the pixels but hands back neither make nor model, and gives time and lens
only after unpacking the whole sensor image. The metadata sits in a TIFF structure every RAW
format keeps somewhere, which Pillow's EXIF parser reads once it is found:
- TIFF-based files (DNG, CR2, NEF, NRW, ARW, PEF, SRW): the file itself;
- Olympus ORF and Panasonic RW2: a TIFF with the maker's own magic number in place of 42;
- Fujifilm RAF: the camera JPEG it embeds (its APP1 EXIF);
- Canon CR3 (ISO base media): the CMT1 (IFD0) and CMT2 (EXIF) boxes of Canon's `uuid` box.

Costs are bounded by the window read (MAX_META_BYTES from the start of the file, where every
format keeps its metadata): an offset pointing past it loses that tag, never reads more. The
values are untrusted like any EXIF (exif.py cleans them); a RAW whose metadata cannot be found is
read without it.
"""
from __future__ import annotations

import io
import struct

from PIL import Image

from .exif import ImageMeta, meta_from_exif

MAX_META_BYTES = 4 << 20  # the metadata of every RAW format lies in its first few hundred KB
MAX_BOXES = 4096          # ISO-BMFF boxes walked in one CR3 container level

_TIFF_MAGIC = {b"IIRO": b"II*\0", b"IIRS": b"II*\0", b"MMOR": b"MM\0*", b"IIU\0": b"II*\0"}  # ORF, RW2
_CANON_UUID = bytes.fromhex("85c0b687820f11e08111f4ce462b6a48")
_RAF_MAGIC = b"FUJIFILMCCD-RAW"


def raw_meta(data: bytes) -> ImageMeta:
    """The metadata of a RAW file's bytes; an empty ImageMeta when none is found. Never raises."""
    try:
        return _read(memoryview(data)[:MAX_META_BYTES])
    except Exception:  # noqa: BLE001 - a damaged header is metadata lost, not a picture lost
        return ImageMeta()


def _read(head: memoryview) -> ImageMeta:
    magic = bytes(head[:4])
    if magic in (b"II*\0", b"MM\0*"):
        return meta_from_exif(_exif(bytes(head)))
    if magic in _TIFF_MAGIC:
        return meta_from_exif(_exif(_TIFF_MAGIC[magic] + bytes(head[4:])))
    if bytes(head[:len(_RAF_MAGIC)]) == _RAF_MAGIC:
        return _raf(head)
    if bytes(head[4:8]) == b"ftyp":
        return _cr3(head)
    return ImageMeta()


def _exif(tiff: bytes) -> Image.Exif:
    exif = Image.Exif()
    exif.load(tiff)
    return exif


def _raf(head: memoryview) -> ImageMeta:
    """Fujifilm: a big-endian offset and length of the embedded camera JPEG at bytes 84 and 88."""
    offset, length = struct.unpack(">II", head[84:92])
    with Image.open(io.BytesIO(bytes(head[offset:offset + length])), formats=["JPEG"]) as jpeg:  # header only
        exif = jpeg.getexif()
    return meta_from_exif(exif)


def _boxes(data: memoryview):
    """(type, payload) of the ISO-BMFF boxes laid end to end in `data` (a box running past it is cut)."""
    pos = 0
    for _ in range(MAX_BOXES):
        if pos + 8 > len(data):
            return
        size, kind = struct.unpack(">I4s", data[pos:pos + 8])
        start = pos + 8
        if size == 1 and pos + 16 <= len(data):
            size, start = struct.unpack(">Q", data[pos + 8:pos + 16])[0], pos + 16
        elif size == 0:
            size = len(data) - pos
        if size < start - pos:
            return
        yield kind, data[start:pos + size]
        pos += size


def _cr3(head: memoryview) -> ImageMeta:
    """Canon CR3: moov -> uuid (Canon's) -> CMT1 (a TIFF holding IFD0) and CMT2 (one holding the EXIF IFD)."""
    moov = next((body for kind, body in _boxes(head) if kind == b"moov"), None)
    canon = next((body[16:] for kind, body in _boxes(moov) if kind == b"uuid" and bytes(body[:16]) == _CANON_UUID),
                 None) if moov is not None else None
    if canon is None:
        return ImageMeta()
    tiffs = {kind: bytes(body) for kind, body in _boxes(canon) if kind in (b"CMT1", b"CMT2")}
    if b"CMT1" not in tiffs:
        return ImageMeta()
    exif_ifd = dict(_exif(tiffs[b"CMT2"])) if b"CMT2" in tiffs else None
    return meta_from_exif(_exif(tiffs[b"CMT1"]), exif_ifd=exif_ifd)
