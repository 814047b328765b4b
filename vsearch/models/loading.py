"""The factory: `load_model(name)` gives a ready DualEncoder, `build_untrained(name)` one to train,
`weights_record(name)` a model's identity without building it (no PyTorch)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import CheckpointError, ModelUnavailableError
from . import families
from .checkpoint import FORMAT, file_digest, read_checkpoint
from .identity import ModelRecord
from .registry import ModelSpec, resolve

if TYPE_CHECKING:
    from .base import DualEncoder


def build_untrained(name: str, pretrained_towers: bool = True, config_overrides: dict | None = None) -> DualEncoder:
    """A model to train: a registered architecture with pretrained towers and fresh heads, or an
    open_clip architecture (pretrained tag if given, else random). Its fingerprint is None: its
    weights are not identified until they are saved and loaded from a file."""
    spec = resolve(name)
    if spec.kind == "checkpoint":
        return load_model(name)
    config = {**spec.config, **(config_overrides or {})}
    return families.build(name, config, None, None, pretrained_towers)


def load_model(name: str | None = None, device: str | None = None) -> DualEncoder:
    """Resolve a name (registered, `openclip:arch/tag`, checkpoint path) to a ready, eval-mode model."""
    spec = resolve(name)
    if spec.kind == "openclip":
        # A pretrained tag identifies the weights; an architecture alone is random (fingerprint None).
        fingerprint = f"openclip:{spec.openclip_arch}/{spec.openclip_tag}" if spec.openclip_tag else None
        model = families.build(spec.name, spec.config, None, fingerprint)
    else:
        path = _weights_file(spec)
        config, state, _ = read_checkpoint(path)
        _check_family(spec, config, path)
        model = families.build(spec.name, config, state, file_digest(path))
        from .hubness import load_sidecar

        model.hubness = load_sidecar(path, model.fingerprint)
    model.eval()
    return model.to(device or default_device())


def weights_record(name: str | None) -> tuple[ModelRecord, Path] | None:
    """(record, weights file) of a model whose weights are a vsearch checkpoint, read without
    building it or importing PyTorch: the config from the file's metadata, the fingerprint from
    its digest — the same record `identity.model_record` gives of the loaded model. None when
    only the built model can tell (open_clip, or a config without `embed_dim`)."""
    spec = resolve(name)
    if spec.kind == "openclip":
        return None
    path = _weights_file(spec)
    config = checkpoint_config(path)
    _check_family(spec, config, path)
    if "embed_dim" not in config:
        return None
    return ModelRecord(spec.name, config, file_digest(path), int(config["embed_dim"])), Path(path)


def checkpoint_config(path: str | Path) -> dict[str, Any]:
    """A checkpoint's model config, from its safetensors metadata alone (no tensor is read)."""
    from safetensors import safe_open

    path = Path(path)
    try:
        with safe_open(str(path), "np") as f:
            meta = f.metadata() or {}
    except Exception as e:  # safetensors raises its own error types for damaged headers
        raise CheckpointError(f"{path} is not a readable safetensors checkpoint ({e}); re-run `vsearch train` or re-download it") from e
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{path} was not written by `vsearch train` (format {meta.get('format')!r}, expected {FORMAT!r})")
    try:
        return json.loads(meta["config"])
    except (KeyError, ValueError) as e:
        raise CheckpointError(f"{path} has no readable model config ({e})") from e


def _weights_file(spec: ModelSpec) -> Path:
    path = spec.weights
    if path is None or not Path(path).is_file():
        raise ModelUnavailableError(
            f"no trained weights ship for {spec.name!r}; train them with `vsearch train --preset {spec.name}` "
            f"and pass the checkpoint path as --model")
    return Path(path)


def _check_family(spec: ModelSpec, config: dict[str, Any], path: Path) -> None:
    if spec.kind == "registered" and config.get("family") != spec.config.get("family"):
        raise ModelUnavailableError(f"shipped weights {path} are for {config.get('family')}, not {spec.name}")


def default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"
