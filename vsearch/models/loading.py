"""Loading models by name: `load_model(name)` gives a ready DualEncoder."""
from __future__ import annotations

from pathlib import Path

from ..errors import ModelUnavailableError, UnknownModelError
from .base import DualEncoder
from .checkpoint import file_digest, read_checkpoint
from .registry import resolve


def _from_config(name: str, config: dict, state: dict | None, fingerprint: str, pretrained_towers: bool = True) -> DualEncoder:
    family = config.get("family")
    if family == "align-lite":
        from .align_lite import AlignLite

        return AlignLite(name, config, state, fingerprint, pretrained_towers)
    if family == "openclip":
        from .openclip import OpenClipEncoder

        return OpenClipEncoder(name, config["arch"], None if state else config.get("tag"), state, fingerprint,
                               {k: v for k, v in config.items() if k not in ("family", "arch", "tag")})
    raise UnknownModelError(f"model family {family!r} is not known to this vsearch")


def build_untrained(name: str, pretrained_towers: bool = True) -> DualEncoder:
    """A model to train: registered architecture with pretrained towers and fresh heads, or an
    open_clip architecture (pretrained tag if given, else random)."""
    spec = resolve(name)
    if spec.kind == "registered":
        return _from_config(name, spec.config, None, "untrained", pretrained_towers)
    if spec.kind == "openclip":
        from .openclip import OpenClipEncoder

        return OpenClipEncoder(name, spec.openclip_arch, spec.openclip_tag, None, "untrained")
    return load_model(name)


def load_model(name: str | None = None, device: str | None = None) -> DualEncoder:
    """Resolve a name (registered, `openclip:arch/tag`, checkpoint path) to a ready, eval-mode model."""
    spec = resolve(name)
    if spec.kind == "openclip":
        from .openclip import OpenClipEncoder

        model: DualEncoder = OpenClipEncoder(spec.name, spec.openclip_arch, spec.openclip_tag, None,
                                             f"openclip:{spec.openclip_arch}/{spec.openclip_tag}")
    else:
        path = spec.weights
        if path is None or not Path(path).is_file():
            raise ModelUnavailableError(
                f"no trained weights ship for {spec.name!r}; train them with `vsearch train --preset {spec.name}` "
                f"and pass the checkpoint path as --model"
            )
        config, state, _ = read_checkpoint(path)
        if spec.kind == "registered" and config.get("family") != spec.config.get("family"):
            raise ModelUnavailableError(f"shipped weights {path} are for {config.get('family')}, not {spec.name}")
        model = _from_config(spec.name, config, state, file_digest(path))
        from .hubness import load_sidecar

        model.hubness = load_sidecar(path, model.fingerprint)
    model.eval()
    return model.to(device or default_device())


def default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"
