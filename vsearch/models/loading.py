"""The factory: `load_model(name)` gives a ready DualEncoder, `build_untrained(name)` one to train."""
from __future__ import annotations

from pathlib import Path

from ..errors import ModelUnavailableError
from . import families
from .base import DualEncoder
from .checkpoint import file_digest, read_checkpoint
from .registry import resolve


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
        path = spec.weights
        if path is None or not Path(path).is_file():
            raise ModelUnavailableError(
                f"no trained weights ship for {spec.name!r}; train them with `vsearch train --preset {spec.name}` "
                f"and pass the checkpoint path as --model")
        config, state, _ = read_checkpoint(path)
        if spec.kind == "registered" and config.get("family") != spec.config.get("family"):
            raise ModelUnavailableError(f"shipped weights {path} are for {config.get('family')}, not {spec.name}")
        model = families.build(spec.name, config, state, file_digest(path))
        from .hubness import load_sidecar

        model.hubness = load_sidecar(path, model.fingerprint)
    model.eval()
    return model.to(device or default_device())


def default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"
