"""RAW files and videos made by the tests themselves, from real pixels.

- `make_dng(picture, …)`: a DNG (pidng) whose Bayer mosaic samples `picture` (linear light, 12 bits,
  RGGB, a colour matrix that makes the camera's RGB the sRGB primaries: developed, it shows the
  picture again), with EXIF make, model, dates, lens and orientation, and optionally an embedded
  JPEG preview in a second IFD, as cameras embed one (NewSubfileType 1).
- `make_video(path, pictures, …)`: an H.264 video (PyAV) showing each picture in turn for
  `seconds_each`, a keyframe every `gop` frames; `make_audio_only(path)`: an AAC track alone.
"""
from __future__ import annotations

import io
import struct
from datetime import datetime
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image

WHITE = 4095  # 12-bit sensor
SRGB_FROM_XYZ = (3.2406, -1.5372, -0.4986, -0.9689, 1.8758, 0.0415, 0.0557, -0.2040, 1.0570)
TAKEN = datetime(2021, 6, 5, 14, 30, 0)
MAKE, MODEL, LENS = "Testmaker", "Testmaker RX-1", "Testlens 35mm F1.8"


def mosaic(picture: Image.Image) -> np.ndarray:
    """The RGGB Bayer samples of a picture, in linear light (sRGB decoded with gamma 2.2), 12 bits."""
    linear = (np.asarray(picture.convert("RGB"), np.float32) / 255.0) ** 2.2 * WHITE
    raw = np.empty(linear.shape[:2], np.uint16)
    raw[0::2, 0::2] = linear[0::2, 0::2, 0]
    raw[0::2, 1::2] = linear[0::2, 1::2, 1]
    raw[1::2, 0::2] = linear[1::2, 0::2, 1]
    raw[1::2, 1::2] = linear[1::2, 1::2, 2]
    return raw


def make_dng(picture: Image.Image, orientation: int = 1, taken: datetime = TAKEN,
             preview: Image.Image | None = None, preview_exif: Image.Exif | None = None) -> bytes:
    from pidng.core import RAW2DNG
    from pidng.defs import CalibrationIlluminant, CFAPattern, DNGVersion, PhotometricInterpretation
    from pidng.dng import DNGTags, Tag

    raw = mosaic(picture)
    h, w = raw.shape
    when = taken.strftime("%Y:%m:%d %H:%M:%S")
    t = DNGTags()
    for tag, value in ((Tag.ImageWidth, w), (Tag.ImageLength, h), (Tag.TileWidth, w), (Tag.TileLength, h),
                       (Tag.Orientation, orientation), (Tag.SamplesPerPixel, 1), (Tag.BitsPerSample, 16),
                       (Tag.PhotometricInterpretation, PhotometricInterpretation.Color_Filter_Array),
                       (Tag.CFARepeatPatternDim, [2, 2]), (Tag.CFAPattern, CFAPattern.RGGB),
                       (Tag.BlackLevel, 0), (Tag.WhiteLevel, WHITE),
                       (Tag.ColorMatrix1, [[round(v * 10000), 10000] for v in SRGB_FROM_XYZ]),
                       (Tag.CalibrationIlluminant1, CalibrationIlluminant.D65),
                       (Tag.AsShotNeutral, [[1, 1], [1, 1], [1, 1]]), (Tag.BaselineExposure, [[0, 1]]),
                       (Tag.Make, MAKE), (Tag.Model, MODEL), (Tag.UniqueCameraModel, MODEL),
                       (Tag.DateTime, when), (Tag.DateTimeOriginal, when), (Tag.EXIFPhotoLensModel, LENS),
                       (Tag.DNGVersion, DNGVersion.V1_4), (Tag.DNGBackwardVersion, DNGVersion.V1_2)):
        t.set(tag, value)
    writer = RAW2DNG()
    writer.options(t, path="", compress=False)
    data = bytes(writer.convert(raw))
    if preview is not None:
        data = add_preview(data, preview, preview_exif)
    return data


def add_preview(dng: bytes, preview: Image.Image, exif: Image.Exif | None = None) -> bytes:
    """The DNG with a JPEG preview (Compression 7, YCbCr) in an IFD chained after IFD0's."""
    buf = io.BytesIO()
    preview.convert("RGB").save(buf, "JPEG", quality=90, **({"exif": exif} if exif is not None else {}))
    jpeg = buf.getvalue()
    out = bytearray(dng)
    out += b"\0" * (-len(out) % 4)
    (count,) = struct.unpack_from("<H", out, 8)
    next_ifd_at = 8 + 2 + 12 * count
    ifd_at = len(out)
    entries = [(254, 4, 1, 1), (256, 4, 1, preview.width), (257, 4, 1, preview.height), (258, 3, 3, "bps"),
               (259, 3, 1, 7), (262, 3, 1, 6), (273, 4, 1, "jpeg"), (277, 3, 1, 3), (278, 4, 1, preview.height),
               (279, 4, 1, len(jpeg))]
    bps_at = ifd_at + 2 + 12 * len(entries) + 4
    where = {"bps": bps_at, "jpeg": bps_at + 8}
    ifd = struct.pack("<H", len(entries))
    for tag, kind, n, value in entries:
        value = where.get(value, value) if isinstance(value, str) else value
        ifd += struct.pack("<HHIHH", tag, kind, n, value, 0) if kind == 3 and n == 1 else struct.pack("<HHII", tag, kind, n, value)
    ifd += struct.pack("<I", 0) + struct.pack("<HHHH", 8, 8, 8, 0)
    out += ifd + jpeg
    struct.pack_into("<I", out, next_ifd_at, ifd_at)
    return bytes(out)


def with_sensor_size(dng: bytes, width: int, height: int) -> bytes:
    """The DNG claiming another sensor size in IFD0 (its data unchanged): a bomb by its header."""
    out = bytearray(dng)
    (count,) = struct.unpack_from("<H", out, 8)
    for i in range(count):
        at = 10 + 12 * i
        tag = struct.unpack_from("<H", out, at)[0]
        if tag in (256, 322):
            struct.pack_into("<I", out, at + 8, width)
        elif tag in (257, 323):
            struct.pack_into("<I", out, at + 8, height)
    return bytes(out)


def make_video(path: Path, pictures: list[Image.Image], seconds_each: float = 2.0, fps: int = 5,
               size: tuple[int, int] = (320, 240), gop: int | None = 5, rotation: int | None = None,
               metadata: dict[str, str] | None = None) -> Path:
    import av

    with av.open(str(path), "w") as out:
        if metadata:
            out.metadata.update(metadata)
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        if gop:
            stream.codec_context.gop_size = gop
        if rotation is not None:
            stream.set_display_rotation(rotation)
        n = 0
        for picture in pictures:
            still = picture.convert("RGB").resize(size, Image.Resampling.BICUBIC)
            for _ in range(round(seconds_each * fps)):
                frame = av.VideoFrame.from_image(still)
                frame.pts, frame.time_base = n, Fraction(1, fps)
                n += 1
                for packet in stream.encode(frame):
                    out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def make_audio_only(path: Path, seconds: float = 1.0) -> Path:
    import av

    with av.open(str(path), "w") as out:
        stream = out.add_stream("aac", rate=44100)
        samples = np.zeros((1, 1024), np.float32)
        for i in range(int(seconds * 44100 / 1024)):
            frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 44100, i * 1024
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def flickr_pictures(flickr: Path, n: int, size: tuple[int, int] | None = None) -> list[Image.Image]:
    """The first n Flickr8k photos (224x224 squashed copies), resized to `size` (a camera's 4:3 shape)."""
    names = sorted(p.name for p in (flickr / "images").iterdir())[:n]
    pictures = [Image.open(flickr / "images" / name).convert("RGB") for name in names]
    return [p.resize(size, Image.Resampling.BICUBIC) for p in pictures] if size else pictures


def mad(a: Image.Image, b: Image.Image) -> float:
    """Mean absolute difference (0-255) of two pictures, b resized to a's size."""
    b = b.convert("RGB").resize(a.size, Image.Resampling.BILINEAR)
    return float(np.abs(np.asarray(a.convert("RGB"), np.float32) - np.asarray(b, np.float32)).mean())
