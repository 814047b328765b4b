"""The one cache folder of vsearch: $VSEARCH_CACHE, else ~/.cache/vsearch.

Everything in it can be deleted; it costs only time (ONNX exports of models, training caches
of locked tower outputs). Subfolders say what they hold.
"""
from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    return Path(os.environ.get("VSEARCH_CACHE") or Path.home() / ".cache" / "vsearch").expanduser()


def cache_dir(kind: str) -> Path:
    """`onnx` (exported model graphs, keyed by weights fingerprint) or `train` (tower outputs)."""
    return cache_root() / kind
