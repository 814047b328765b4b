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


def _grey8(img: Image.Image) -> Image.Image:
    """High-bit-depth greyscale to L. 16-bit modes span 0-65535; for 32-bit integer and float images,
    whose range the mode does not say, the values tell: within 0-1 (floats), 0-255 or 0-65535 they
    are taken as that range, otherwise the image's own min-max is stretched to 0-255."""
    a = np.asarray(img)
    if img.mode.startswith("I;16"):
        lo, hi = 0.0, 65535.0
    else:
        finite = a[np.isfinite(a)] if a.dtype.kind == "f" else a
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        if a.dtype.kind == "f" and lo >= 0 and hi <= 1:
            lo, hi = 0.0, 1.0
        elif lo >= 0 and hi <= 255:
            lo, hi = 0.0, 255.0
        elif lo >= 0 and hi <= 65535:
            lo, hi = 0.0, 65535.0
        elif hi <= lo:
            hi = lo + 1
    out = np.empty(a.shape, np.uint8)
    for r in range(0, a.shape[0], 1024):  # in row blocks: a float copy of a 180 MP image would be 1.4 GB
        block = np.nan_to_num(a[r:r + 1024].astype(np.float32), nan=lo, posinf=hi, neginf=lo)
        np.clip((block - lo) * (255.0 / (hi - lo)) + 0.5, 0, 255, out=block)
        out[r:r + 1024] = block
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
