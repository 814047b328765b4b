"""RAW files through the one image reader (vsearch/imaging/raw.py, raw_meta.py), on DNGs the tests
write from real Flickr8k pixels (tests/media_inputs.py): the embedded preview when it is large
enough, else a half-size develop of the sensor data; EXIF time, camera, lens and orientation read
from the RAW; truncated and bomb-sized RAWs refused with their reasons. The metadata containers of
the formats LibRaw reads but no test can write (ORF, RW2, RAF, CR3) are built byte by byte."""
from __future__ import annotations

import io
import struct
import time

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("rawpy")
pytest.importorskip("pidng")

from media_inputs import LENS, MODEL, TAKEN, add_preview, flickr_pictures, mad, make_dng, with_sensor_size  # noqa: E402
from vsearch.imaging import CorruptImageError, ImageBombError, UnsupportedImageError, decode_image_bytes  # noqa: E402
from vsearch.imaging.raw import looks_raw  # noqa: E402
from vsearch.imaging.raw_meta import raw_meta  # noqa: E402

TARGET = 240
CAMERA = (640, 480)  # the sensor of the test DNGs: half size is 320x240, the target's short side


@pytest.fixture(scope="module")
def pictures(flickr):
    return flickr_pictures(flickr, 4, CAMERA)


def _swapped(img: Image.Image) -> Image.Image:
    return Image.fromarray(np.asarray(img)[..., ::-1].copy())


def test_without_a_preview_the_sensor_data_is_developed_at_half_size_and_turned_upright(pictures):
    for picture in pictures:
        d = decode_image_bytes(make_dng(picture, orientation=6), TARGET, name="IMG_0001.DNG")
        upright = picture.transpose(Image.Transpose.ROTATE_270)  # orientation 6: turn 90 degrees clockwise
        assert d.source == "demosaic" and (d.width, d.height) == CAMERA and d.image.size == (240, 320)
        got = mad(d.image, upright)
        assert got < 8.0, got  # the photo again, within LibRaw's tone and gamma (a wrong picture is 50-100 away)
        assert got < mad(d.image, picture.resize(upright.size)) and got < mad(d.image, _swapped(upright))


def test_the_metadata_is_read_from_the_raw(pictures):
    d = decode_image_bytes(make_dng(pictures[0], orientation=8), TARGET, name="x.dng")
    assert (d.meta.taken_at, d.meta.camera, d.meta.lens, d.meta.orientation) == (TAKEN, MODEL, LENS, 8)


def test_a_preview_at_least_the_target_is_used_instead_of_the_sensor_data(pictures):
    picture = pictures[1]
    data = make_dng(picture, orientation=6, preview=picture.resize((400, 300), Image.Resampling.LANCZOS))
    d = decode_image_bytes(data, TARGET, name="x.dng")
    assert d.source == "preview" and d.image.size == (300, 400) and (d.width, d.height) == CAMERA
    assert mad(d.image, picture.transpose(Image.Transpose.ROTATE_270)) < 4.0
    assert decode_image_bytes(data, 320, name="x.dng").source == "demosaic"  # 300 px is short of a 320 target


def test_small_letterboxed_or_damaged_previews_are_not_used(pictures):
    picture = pictures[2]
    small = make_dng(picture, preview=picture.resize((160, 120)))
    boxed = Image.new("RGB", (640, 360))
    boxed.paste(picture.resize((480, 360)), (80, 0))  # 16:9 with bars, from a 4:3 sensor
    letterboxed = make_dng(picture, preview=boxed)
    damaged = make_dng(picture, preview=picture.resize((400, 300)))
    jpeg_at = damaged.rindex(b"\xff\xd8\xff")
    damaged = damaged[:jpeg_at + 40] + b"\0" * (len(damaged) - jpeg_at - 40)
    for data in (small, letterboxed, damaged):
        d = decode_image_bytes(data, TARGET, name="x.dng")
        assert d.source == "demosaic" and mad(d.image, picture) < 8.0


def test_a_preview_that_declares_its_own_orientation_is_turned_once(pictures):
    picture = pictures[3]
    exif = Image.Exif()
    exif[274] = 6
    d = decode_image_bytes(make_dng(picture, orientation=6, preview=picture.resize((400, 300)), preview_exif=exif),
                           TARGET, name="x.dng")
    assert d.source == "preview" and d.image.size == (300, 400)
    assert mad(d.image, picture.transpose(Image.Transpose.ROTATE_270)) < 4.0


def test_a_truncated_raw_is_refused_with_its_reason(pictures):
    data = make_dng(pictures[0], preview=pictures[0].resize((400, 300)))  # the preview, at the end, is cut too
    for keep in (0.9, 0.5, 0.05):
        with pytest.raises(CorruptImageError, match="truncated or corrupt"):
            decode_image_bytes(data[:int(len(data) * keep)], TARGET, name="x.dng")


def test_a_bomb_sized_raw_is_refused_before_anything_is_unpacked(pictures):
    data = with_sensor_size(make_dng(pictures[0]), 60_000, 60_000)  # 3.6 gigapixels claimed, 600 KB given
    t = time.perf_counter()
    with pytest.raises(ImageBombError, match="decompression bomb: 60000x60000"):
        decode_image_bytes(data, TARGET, name="x.dng")
    assert time.perf_counter() - t < 2.0


def test_a_jpeg_named_like_a_raw_is_read_as_the_jpeg_it_is(pictures):
    buf = io.BytesIO()
    pictures[0].save(buf, "JPEG", quality=90)
    d = decode_image_bytes(buf.getvalue(), TARGET, name="holiday.nef")
    assert d.source is None and (d.width, d.height) == CAMERA and mad(d.image, pictures[0]) < 4.0


def test_raws_are_known_by_signature_or_by_name(pictures):
    dng = make_dng(pictures[0])
    tiff = io.BytesIO()
    pictures[0].save(tiff, "TIFF")
    assert looks_raw(dng) and not looks_raw(tiff.getvalue())  # a DNG by its DNGVersion tag
    assert looks_raw(tiff.getvalue(), "DSC_0001.NEF")  # NEF, ARW, PEF, SRW: plain TIFF headers
    assert decode_image_bytes(dng, TARGET).source == "demosaic"  # an upload: no name needed


def test_without_rawpy_a_raw_is_unsupported_with_the_extra_to_install(pictures, monkeypatch):
    import vsearch.imaging.raw as raw

    monkeypatch.setattr(raw, "rawpy", None)
    with pytest.raises(UnsupportedImageError, match=r"rawpy not installed: pip install 'vsearch\[raw\]'"):
        decode_image_bytes(make_dng(pictures[0]), TARGET, name="x.dng")


# --- metadata containers of the other formats ---------------------------------------------------
def _tiff(ifd0: dict, exif_ifd: dict | None = None) -> bytes:
    exif = Image.Exif()
    exif.endian = "<"  # RW2 is little-endian only
    for k, v in ifd0.items():
        exif[k] = v
    for k, v in (exif_ifd or {}).items():
        exif.get_ifd(0x8769)[k] = v
    return exif.tobytes()[6:]  # without "Exif\0\0": a TIFF header and its IFDs


IFD0 = {271: "OM Digital", 272: "E-M1", 274: 8, 306: "2019:01:01 00:00:00"}
EXIF_IFD = {36867: "2020:02:03 04:05:06", 42035: "OM Digital", 42036: "M.Zuiko 12-40mm F2.8"}
EXPECTED = ("OM Digital E-M1", 8, "2020-02-03T04:05:06", "OM Digital M.Zuiko 12-40mm F2.8")


def _box(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", 8 + len(body)) + kind + body


def _raf() -> bytes:
    buf = io.BytesIO()
    exif = Image.Exif()
    exif.update(IFD0)
    exif.get_ifd(0x8769).update(EXIF_IFD)
    Image.new("RGB", (32, 24), (200, 100, 50)).save(buf, "JPEG", exif=exif)
    header = b"FUJIFILMCCD-RAW 0201FF129502".ljust(84, b"\0")
    at = len(header) + 8 + 56
    return header + struct.pack(">II", at, len(buf.getvalue())) + b"\0" * 56 + buf.getvalue()


def _cr3() -> bytes:
    canon = (bytes.fromhex("85c0b687820f11e08111f4ce462b6a48") + _box(b"CNCV", b"CanonCR3_001/00.09.00/00.00.00")
             + _box(b"CMT1", _tiff(IFD0)) + _box(b"CMT2", _tiff(EXIF_IFD)))
    return _box(b"ftyp", b"crx \0\0\0\1crx isom") + _box(b"moov", _box(b"uuid", canon) + _box(b"trak", b"\0" * 16))


@pytest.mark.parametrize("kind", ["dng-like", "orf", "rw2", "raf", "cr3"])
def test_each_raw_container_gives_its_exif(kind):
    tiff = _tiff(IFD0, EXIF_IFD)
    data = {"dng-like": tiff, "orf": b"IIRO" + tiff[4:], "rw2": b"IIU\0" + tiff[4:], "raf": _raf(), "cr3": _cr3()}[kind]
    m = raw_meta(data + b"\0" * 1000)
    assert (m.camera, m.orientation, m.taken_at.isoformat(), m.lens) == EXPECTED
    assert kind == "dng-like" or looks_raw(data)


def test_damaged_raw_metadata_is_metadata_lost_not_a_failure():
    tiff = _tiff(IFD0, EXIF_IFD)
    for data in (b"IIRO" + tiff[4:12], b"FUJIFILMCCD-RAW" + b"\xff" * 80, _box(b"ftyp", b"crx ") + b"\0\0\0\1moov",
                 b"II*\0\xff\xff\xff\xff", add_preview(b"II*\0\x08\0\0\0\0\0\0\0\0\0", Image.new("RGB", (8, 8)))):
        assert raw_meta(data).camera is None
