"""Files that are one picture: a RAW beside its JPEG, a Live Photo's still beside its video.

Cameras set to RAW+JPEG write `DSC_0001.NEF` and `DSC_0001.JPG`; phones export a Live Photo as
`IMG_0001.HEIC` and `IMG_0001.MOV`. Each pair is one photo: the still is read, encoded and shown,
the other file is its *companion* (hashed, recorded under the still's picture, listed on its hits,
never shown on its own). Files pair within one folder by their name without the extension,
compared without regard to case.

Which file is shown: the still (JPEG before HEIC before the other photo formats). For RAW+JPEG
it is the camera's own rendering of the same exposure (picture style, lens corrections, crop:
what the photographer saw on the camera), any browser shows it as it is, and the RAW then costs a
hash instead of a develop. A Live Photo's video is its still's companion when it is no larger than
LIVE_VIDEO_MAX_BYTES (a Live Photo's clip is ~3 s, 2-8 MB); a larger video beside a still of the
same name is a video of its own.
"""
from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass

from ..imaging.raw import RAW_EXTENSIONS
from ..imaging.video import VIDEO_EXTENSIONS

LIVE_VIDEO_MAX_BYTES = 32 << 20
_STILL_ORDER = (".jpg", ".jpeg", ".jpe", ".heic", ".heif", ".avif")  # the still shown first; others after


@dataclass(frozen=True)
class Sized:
    path: str  # relative to the root, '/'-separated
    size: int


def companions(files: list[Sized]) -> dict[str, str]:
    """{companion's path: the path of the still it belongs to} for the files given (every file of a
    scan: stills, RAWs and videos)."""
    groups: dict[tuple[str, str], list[Sized]] = defaultdict(list)
    for f in files:
        folder, _, name = f.path.rpartition("/")
        groups[(folder, os.path.splitext(name)[0].lower())].append(f)
    out: dict[str, str] = {}
    for group in groups.values():
        if len(group) < 2:
            continue
        stills = sorted((f for f in group if _kind(f.path) == "still"), key=lambda f: (_still_rank(f.path), f.path))
        if not stills:
            continue
        shown = stills[0].path
        for f in group:
            kind = _kind(f.path)
            if kind == "raw" or (kind == "video" and f.size <= LIVE_VIDEO_MAX_BYTES):
                out[f.path] = shown
    return out


def _ext(path: str) -> str:
    return os.path.splitext(path)[1].lower()


def _kind(path: str) -> str:
    ext = _ext(path)
    return "raw" if ext in RAW_EXTENSIONS else "video" if ext in VIDEO_EXTENSIONS else "still"


def _still_rank(path: str) -> int:
    ext = _ext(path)
    return _STILL_ORDER.index(ext) if ext in _STILL_ORDER else len(_STILL_ORDER)
