"""What a manifest may hold, checked on every read: it comes from a file, so it is data.

Every value must have the type vsearch writes; every name in `files` must be a plain file name of
the collection folder (no '/', no '..', nothing hidden), so that no key of a hand-edited or damaged
manifest can make a reader open, or a repair move, a file outside the collection. Anything else is
a ManifestDamagedError, which `vsearch reindex` repairs (store/manifest_rebuild.py).
"""
from __future__ import annotations

import re
from typing import Any

from ..limits import MAX_VIDEO_FRAMES

MAX_MANIFEST = 16 << 20   # bytes: a manifest is a few KB
MAX_DIM = 1 << 16         # the widest embedding a model may claim
_PLAIN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+-]{0,199}")
_WORDS = {dict: "an object", int: "a whole number", list: "a list", str: "a string"}
_FIELDS = {"model": dict, "index": dict, "generation": int, "format_version": int, "roots": list, "files": dict,
           "counts": dict, "last_ingest": dict, "video": dict, "created": str, "updated": str}
# format 4: how videos are sampled (imaging/video.py Sampling); every value a number (every_s may be null)
_VIDEO = {"every_s", "max_frames", "max_gap_s", "min_step_s", "scene_threshold"}


def is_plain_name(name: object) -> bool:
    """A file name directly inside the collection folder, as vsearch names its parts."""
    return isinstance(name, str) and _PLAIN.fullmatch(name) is not None and ".." not in name


def manifest_problem(raw: Any) -> str | None:
    """Why a (migrated) manifest dict cannot be used, or None."""
    if not isinstance(raw, dict):
        return "it is not a JSON object"
    unknown = sorted(set(raw) - set(_FIELDS))
    if unknown:
        return f"unknown key {unknown[0]!r}"
    for key, kind in _FIELDS.items():
        if key in raw and (not isinstance(raw[key], kind) or isinstance(raw[key], bool)):
            return f"{key!r} is not {_WORDS[kind]}"
    for key in ("model", "index"):
        if key not in raw:
            return f"{key!r} is missing"
    if raw.get("generation", 0) < 0:
        return "'generation' is negative"
    model = raw["model"]
    if not isinstance(model.get("name"), str) or not model["name"]:
        return "the model has no name"
    dim = model.get("embed_dim")
    if isinstance(dim, bool) or not isinstance(dim, int) or not 1 <= dim <= MAX_DIM:
        return f"the model's embed_dim is not a width from 1 to {MAX_DIM}"
    for key, name in raw.get("files", {}).items():
        if not is_plain_name(key) or not is_plain_name(name):
            return f"files[{str(key)[:40]!r}] is not a file name inside the collection folder"
    for root in raw.get("roots", []):
        if not isinstance(root, str) or not root.startswith("/") or "\0" in root or len(root) > 4096:
            return "a root is not an absolute folder path"
    for key, n in raw.get("counts", {}).items():
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            return f"counts[{str(key)[:40]!r}] is not a count"
    for key, v in raw.get("video", {}).items():
        if key not in _VIDEO:
            return f"unknown key video[{str(key)[:40]!r}]"
        if v is None and key == "every_s":
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v < float("inf"):
            return f"video[{key!r}] is not a positive number"
        if key == "max_frames" and not (isinstance(v, int) and v <= MAX_VIDEO_FRAMES):
            return f"video['max_frames'] is not a whole number from 1 to {MAX_VIDEO_FRAMES}"
    return None
