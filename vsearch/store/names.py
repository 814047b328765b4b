"""File names as a collection stores them: a text form that is always valid UTF-8 (Parquet strings,
JSON, terminals and browsers need one), plus the name's own bytes where they differ.

A name that is not valid UTF-8 (an old archive, a Samba share) comes from os.walk as a str with
surrogate escapes (os.fsdecode). Its shown form writes each such byte as \\xNN (escape.valid_utf8),
which is readable but not reversible (a name may hold a literal "\\xe9"), so the bytes are kept
beside it (`raw_path`, null for every name that is valid UTF-8) and the file can be opened again.
"""
from __future__ import annotations

import os
from typing import Any

from ..escape import valid_utf8


def shown(name: str) -> str:
    """The stored, shown form of a name as os.walk / os.fsdecode gives it."""
    return valid_utf8(name)


def stored(name: str) -> tuple[str, bytes | None]:
    """(shown form, the name's bytes when the shown form is not the name itself)."""
    text = valid_utf8(name)
    return text, (None if text == name else os.fsencode(name))


def on_disk(row: dict[str, Any]) -> str:
    """The name of an images row as the OS knows it (a str that os.fsencode turns into its bytes)."""
    raw = row.get("raw_path")
    return os.fsdecode(raw) if raw is not None else row["path"]


PATH_MAX = 4096  # bytes of a whole path (Linux's PATH_MAX)
NAME_MAX = 255   # bytes of one name in it


def path_problem(path: str) -> str | None:
    """Why `path` can never name a file here (a NUL, a name or a path longer than file systems
    allow), or None. Such a row is refused at import, and never opened (open() would raise)."""
    if not isinstance(path, str) or not path:
        return "an empty path"
    if "\0" in path:
        return "a path holding a NUL character"
    try:
        data = os.fsencode(path)
    except UnicodeEncodeError:
        return "a path that is not text"
    if len(data) > PATH_MAX:
        return f"a path of {len(data)} bytes (at most {PATH_MAX})"
    longest = max(len(part) for part in data.split(b"/"))
    if longest > NAME_MAX:
        return f"a file or folder name of {longest} bytes (at most {NAME_MAX})"
    return None
