"""Every Pillow pixel mode to the RGB picture a person sees.

`Image.convert("RGB")` is right for most modes (1, L, P, CMYK, YCbCr, LAB, HSV, RGBX) but not all:
it clips 16- and 32-bit greyscale at 255 (a 16-bit PNG turns white), truncates floats (an image in
[0, 1] turns black) and drops alpha (transparent areas show whatever colour they hide, often black).
Here high-bit-depth greyscale is scaled to 8 bits, transparency is composited on white (how
browsers and most viewers show a transparent PNG, and the background such images are drawn on),
and CMYK with an embedded ICC profile goes through that profile.
"""
from __future__ import annotations

import io

import numpy as np
from PIL import Image

BACKGROUND = (255, 255, 255)  # what transparent areas become

_ALPHA_MODES = frozenset({"RGBA", "LA", "PA", "RGBa", "La"})
_HIGH_BIT_MODES = frozenset({"I", "I;16", "I;16B", "I;16L", "I;16N", "F"})


def _blocks(img: Image.Image):
    """(first row, array) of ~4 MP row blocks: a whole-image array copy (a 180 MP float image is
    720 MB) is never made."""
    w, h = img.size
    rows = max(1, 4_000_000 // w)
    for r in range(0, h, rows):
        yield r, np.asarray(img.crop((0, r, w, min(h, r + rows))))


def _value_range(img: Image.Image) -> tuple[float, float]:
    """The range the values of a 32-bit integer or float image stand for: 0-1 (floats), 0-255 or
    0-65535 when they lie within it, else their own finite min-max."""
    lo, hi, is_float = np.inf, -np.inf, img.mode == "F"
    for _, a in _blocks(img):
        a = a[np.isfinite(a)] if is_float else a
        if a.size:
            lo, hi = min(lo, float(a.min())), max(hi, float(a.max()))
    if lo > hi:  # no finite value at all
        return 0.0, 1.0
    for top in ((1.0,) if is_float else ()) + (255.0, 65535.0):
        if lo >= 0 and hi <= top:
            return 0.0, top
    return lo, max(hi, lo + 1)


def _grey8(img: Image.Image) -> Image.Image:
    """High-bit-depth greyscale to L: 16-bit modes span 0-65535; 32-bit integer and float images,
    whose range the mode does not say, are read by _value_range. NaN shows as the low end."""
    lo, hi = (0.0, 65535.0) if img.mode.startswith("I;16") else _value_range(img)
    out = np.empty((img.height, img.width), np.uint8)
    for r, a in _blocks(img):
        block = np.nan_to_num(a.astype(np.float32), nan=lo, posinf=hi, neginf=lo)
        np.clip((block - lo) * (255.0 / (hi - lo)) + 0.5, 0, 255, out=block)
        out[r:r + len(block)] = block
    return Image.fromarray(out, "L")


def _on_background(img: Image.Image) -> Image.Image:
    if img.mode == "La":  # premultiplied; Pillow converts it to LA only
        img = img.convert("LA")
    if img.mode not in ("RGBA", "LA"):
        img = img.convert("RGBA")
    out = Image.new("RGB", img.size, BACKGROUND)
    out.paste(img, (0, 0), img)
    return out


def _cmyk(img: Image.Image) -> Image.Image:
    icc = img.info.get("icc_profile")
    if icc:
        from PIL import ImageCms

        try:
            src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            return ImageCms.profileToProfile(img, src, ImageCms.createProfile("sRGB"), outputMode="RGB")
        except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
            pass  # a broken profile: the plain conversion below
    return img.convert("RGB")


def to_rgb(img: Image.Image) -> Image.Image:
    """An RGB image of what a person sees; `img` itself when it already is plain RGB."""
    mode = img.mode
    if mode in _HIGH_BIT_MODES:
        return _grey8(img).convert("RGB")
    if mode in _ALPHA_MODES or ("transparency" in img.info and mode in ("P", "L", "RGB")):
        return _on_background(img)
    if mode == "RGB":
        return img
    if mode == "CMYK":
        return _cmyk(img)
    return img.convert("RGB")
