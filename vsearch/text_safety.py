"""Placeholder until the text-safety module lands: file names and EXIF strings are data."""
from __future__ import annotations

import unicodedata


def for_terminal(s: str) -> str:
    """No control characters (escape sequences) reach a terminal; shown as escapes instead."""
    return "".join(ch if unicodedata.category(ch)[0] != "C" or ch == " " else ascii(ch)[1:-1] for ch in str(s))
