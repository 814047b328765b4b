"""A photo's own words: what its file embeds (XMP, IPTC IIM) and what a `.xmp` sidecar beside it
says, merged into one bounded record.

Sidecars: `photo.xmp` (Lightroom, darktable for RAW, digiKam's default) and `photo.jpg.xmp`
(darktable, digiKam's other setting), either case of the extension. Where a sidecar and the file
both have a title or description, the sidecar's wins (it is where a catalogue writes later edits);
keywords, people and places are the union.
"""
from __future__ import annotations

import os
from pathlib import Path

from PIL import Image

from .errors import ImageError
from .files import read_file_bytes
from .iptc import read_iptc
from .names import path_words
from .xmp import MAX_CHARS, MAX_PACKET, XmpWords, parse_xmp

MAX_LIST_CHARS = 8_000  # characters kept of one list field of a photo (its keywords, people or places)
SIDECAR_SUFFIXES = (".xmp", ".XMP")


def embedded_words(img: Image.Image) -> XmpWords:
    """The XMP and IPTC words an opened image carries (call before converting it). Never raises."""
    xmp = img.info.get("xmp")
    return merge(parse_xmp(xmp) if isinstance(xmp, (bytes, str)) else XmpWords(), read_iptc(img))


def sidecar_paths(path: str | os.PathLike) -> list[Path]:
    p = Path(path)
    return [c for suffix in SIDECAR_SUFFIXES for c in (p.with_suffix(suffix), p.with_name(p.name + suffix))]


def sidecar_words(path: str | os.PathLike, names: set[str] | None = None) -> XmpWords:
    """The words of the `.xmp` sidecars beside `path` (empty when there are none). `names`: the
    file names of the folder, when the caller has them (no stat per candidate then)."""
    found = XmpWords()
    for candidate in sidecar_paths(path):
        if names is not None and candidate.name not in names:
            continue
        try:
            data = read_file_bytes(candidate, max_bytes=MAX_PACKET)
        except ImageError:  # absent, too large, not a regular file: no sidecar
            continue
        found = merge(found, parse_xmp(data))
    return found


def _bounded(values: list[str]) -> list[str]:
    out, total, seen = [], 0, set()
    for v in values:
        key = v.casefold()
        if key in seen:
            continue
        if total + len(v) > MAX_LIST_CHARS:
            break
        seen.add(key)
        out.append(v)
        total += len(v) + 1
    return out


def merge(*sources: XmpWords) -> XmpWords:
    """One record from several, the first source's title and description winning; lists united."""
    return XmpWords(
        title=next((s.title for s in sources if s.title), None),
        description=next((s.description for s in sources if s.description), None),
        keywords=_bounded([k for s in sources for k in s.keywords]),
        people=_bounded([k for s in sources for k in s.people]),
        places=_bounded([k for s in sources for k in s.places]))


LIST_SEPARATOR = "; "   # keywords, people and places are indexed as one string ("New York; beach")
LISTS = ("keywords", "people", "places")


def word_fields(words: XmpWords) -> dict:
    """The stored form of a record (store/tables.py WORD_FIELDS, but `ocr`): title and description
    (None when absent), keywords, people and places as lists (empty when none: read, nothing found)."""
    return {"title": words.title, "description": words.description,
            **{f: list(getattr(words, f)) for f in LISTS}}


def from_fields(row: dict | None) -> XmpWords:
    """A record from its stored form (None, or lists stored as null: nothing)."""
    row = row or {}
    return XmpWords(title=row.get("title"), description=row.get("description"),
                    **{f: list(row.get(f) or []) for f in LISTS})


def photo_words(words: XmpWords, relpath: str, ocr: str = "") -> dict[str, str]:
    """The stored and indexed form of a photo's words: one string per field ("" when none), the
    folder and file name words of `relpath` ("/"-separated, relative to the ingested root)."""
    folder, filename = path_words(relpath)
    return {"title": words.title or "", "description": words.description or "",
            "keywords": LIST_SEPARATOR.join(words.keywords), "people": LIST_SEPARATOR.join(words.people),
            "places": LIST_SEPARATOR.join(words.places), "folder": folder, "filename": filename, "ocr": ocr or ""}


__all__ = ["photo_words", "word_fields", "from_fields", "LISTS", "LIST_SEPARATOR", "XmpWords", "embedded_words", "sidecar_words", "sidecar_paths", "merge", "parse_xmp", "MAX_CHARS"]
