"""Saved `vsearch eval` results: one JSON file per run under <index home>/evals/, newest last.

The UI's evaluation page reads them; so can anyone comparing models over time.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..atomic import atomic_write
from ..store.home import index_home


def evals_dir(home: str | Path | None = None) -> Path:
    return index_home(home) / "evals"


def save_eval(result: dict[str, Any], home: str | Path | None = None, source: str | None = None) -> Path:
    """Store one evaluation (EvalResult.to_json()) with the time it ran; returns its file."""
    when = datetime.now(timezone.utc)
    record = {"evaluated_at": when.isoformat(timespec="seconds"), "source": source, **result}
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in f"{result.get('model')}-{result.get('split')}")
    path = evals_dir(home) / f"{when.strftime('%Y%m%dT%H%M%S%fZ')}-{safe}.json"
    return atomic_write(path, json.dumps(record, indent=1).encode(), point="eval-record")


def eval_results(home: str | Path | None = None) -> list[dict[str, Any]]:
    """All saved evaluations, oldest first; unreadable files are skipped."""
    d = evals_dir(home)
    out = []
    for p in sorted(d.glob("*.json")) if d.is_dir() else []:
        try:
            rec = json.loads(p.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(rec, dict) and "text_to_image" in rec:
            rec["file"] = str(p)
            out.append(rec)
    return out
