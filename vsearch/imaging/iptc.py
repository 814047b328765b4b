"""IPTC IIM (the "IPTC" block older tools and many cameras' software write in a JPEG's Photoshop
APP13 segment or a TIFF tag) as data: object name, headline, caption, keywords and place fields.

Pillow finds and splits the block (IptcImagePlugin.getiptcinfo); a JPEG segment holds at most
64 KB, a TIFF tag is bounded by the file. Values are decoded as UTF-8 (what the block's charset
record says for modern writers), else Latin-1 (older ones), and bounded like XMP's.
"""
from __future__ import annotations

from PIL import Image, IptcImagePlugin

from .errors import clean_text
from .xmp import MAX_CHARS, MAX_ITEMS, XmpWords

MAX_BLOCK = 1 << 20  # bytes of an IPTC block read from a TIFF tag (a JPEG segment is at most 64 KB)

_OBJECT_NAME, _KEYWORDS, _HEADLINE, _CAPTION = (2, 5), (2, 25), (2, 105), (2, 120)
_PLACES = ((2, 92), (2, 90), (2, 95), (2, 101))  # sub-location, city, province/state, country


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _values(info: dict, key: tuple[int, int]) -> list[str]:
    raw = info.get(key)
    items = raw if isinstance(raw, list) else [raw] if raw is not None else []
    out: dict[str, str] = {}
    for item in items[:MAX_ITEMS]:
        if isinstance(item, bytes):
            text = clean_text(_decode(item), MAX_CHARS)
            if text:
                out.setdefault(text.casefold(), text)
    return list(out.values())


def read_iptc(img: Image.Image) -> XmpWords:
    """The IPTC IIM words of an opened image (JPEG or TIFF); empty when it has none. Never raises."""
    try:
        if img.format == "TIFF":
            tag = getattr(img, "tag_v2", {}).get(33723)
            if isinstance(tag, (bytes, bytearray)) and len(tag) > MAX_BLOCK:
                return XmpWords()
        info = IptcImagePlugin.getiptcinfo(img) or {}
    except Exception:  # noqa: BLE001 - a damaged block is metadata lost
        return XmpWords()
    title = (_values(info, _OBJECT_NAME) or _values(info, _HEADLINE) or [None])[0]
    description = (_values(info, _CAPTION) or [None])[0]
    places = [v for key in _PLACES for v in _values(info, key)]
    return XmpWords(title=title, description=description, keywords=_values(info, _KEYWORDS), places=places)
