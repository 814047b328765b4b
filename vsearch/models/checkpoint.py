"""Checkpoints: one safetensors file whose metadata carries the model config, so a checkpoint
alone rebuilds its model. Only tensors are stored (no pickle)."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from ..errors import CheckpointError

FORMAT = "vsearch-checkpoint-1"


def save_checkpoint(path: str | Path, config: dict[str, Any], state: dict,
                    extra: dict[str, Any] | None = None) -> Path:
    from safetensors.torch import save_file

    from ..atomic import atomic_write

    meta = {"format": FORMAT, "config": json.dumps(config, sort_keys=True), "extra": json.dumps(extra or {})}
    tensors = {k: v.detach().contiguous().cpu() for k, v in state.items()}
    return atomic_write(path, lambda tmp: save_file(tensors, str(tmp), metadata=meta), point="checkpoint")


def read_checkpoint(path: str | Path) -> tuple[dict[str, Any], dict, dict[str, Any]]:
    """(config, tensors, extra). Raises CheckpointError for anything not a vsearch checkpoint."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file, safe_open

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        with safe_open(str(path), "pt") as f:
            meta = f.metadata() or {}
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{path} is not a readable safetensors checkpoint ({e}); re-run `vsearch train` or re-download it") from e
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{path} was not written by `vsearch train` (format {meta.get('format')!r}, expected {FORMAT!r})")
    return json.loads(meta["config"]), state, json.loads(meta.get("extra", "{}"))


def file_digest(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]
