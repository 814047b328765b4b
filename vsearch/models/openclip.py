"""open_clip models behind the DualEncoder interface."""
from __future__ import annotations

from typing import Any

import torch

from ..errors import ModelUnavailableError, UnknownModelError
from .base import DualEncoder
from .preprocess import Preprocess

OFFLINE_HINT = (
    "With no network, use the default `align-lite` (offline, ships with vsearch), a checkpoint "
    "written by `vsearch train` (--model path/to/model.safetensors), or fetch the weights once on a "
    "machine with network and copy its Hugging Face cache (HF_HOME) here."
)


def _register_configs() -> None:
    """Architectures that ship with vsearch (a tiny one for tests and smoke runs)."""
    from pathlib import Path

    import open_clip

    if "vsearch-tiny" not in open_clip.list_models():
        open_clip.add_model_config(Path(__file__).parent / "openclip_configs")


class OpenClipEncoder(DualEncoder):
    def __init__(self, name: str, arch: str, tag: str | None, state: dict[str, torch.Tensor] | None,
                 fingerprint: str | None, config: dict[str, Any] | None = None):
        super().__init__()
        import open_clip

        _register_configs()
        if arch not in open_clip.list_models():
            raise UnknownModelError(f"open_clip has no architecture {arch!r}; see open_clip.list_models()")
        if tag is not None and (arch, tag) not in open_clip.list_pretrained():
            tags = [t for a, t in open_clip.list_pretrained() if a == arch]
            raise UnknownModelError(f"open_clip has no pretrained tag {tag!r} for {arch}; known tags: {', '.join(tags) or 'none'}")
        try:
            model = open_clip.create_model(arch, pretrained=tag, **(config or {}).get("model_kwargs", {}))
        except Exception as e:  # open_clip/hf_hub raise many kinds on a failed download
            raise ModelUnavailableError(f"could not load weights for openclip:{arch}/{tag}: {e}. {OFFLINE_HINT}") from e
        if state:
            model.load_state_dict(state)
        self.model = model
        self.tokenizer = open_clip.get_tokenizer(arch)
        self.name = name
        self.config = {"family": "openclip", "arch": arch, "tag": tag, **(config or {})}
        self.embed_dim = int(model.text_projection.shape[1]) if hasattr(model, "text_projection") and model.text_projection is not None else int(model.visual.output_dim)
        pp = getattr(model.visual, "preprocess_cfg", {})
        size = pp.get("size", 224)
        self.preprocess = Preprocess(
            size=size if isinstance(size, int) else size[0],
            mean=tuple(pp.get("mean", (0.48145466, 0.4578275, 0.40821073))),
            std=tuple(pp.get("std", (0.26862954, 0.26130258, 0.27577711))),
            interpolation=pp.get("interpolation", "bicubic"),
        )
        self._fingerprint = fingerprint

    @classmethod
    def from_config(cls, name: str, config: dict[str, Any], state: dict | None, fingerprint: str | None,
                    pretrained_towers: bool = True) -> "OpenClipEncoder":
        extra = {k: v for k, v in config.items() if k not in ("family", "arch", "tag")}
        # Weights from a checkpoint replace the pretrained tag's: do not download them first.
        return cls(name, config["arch"], None if state else config.get("tag"), state, fingerprint, extra)

    @property
    def fingerprint(self) -> str | None:
        return self._fingerprint

    @property
    def logit_scale(self) -> torch.Tensor:
        return self.model.logit_scale

    def image_features(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.model.encode_image(pixels)

    def text_features(self, texts: list[str]) -> torch.Tensor:
        return self.model.encode_text(self.tokenizer(texts).to(self.device))

    def trained_state(self) -> dict[str, torch.Tensor]:
        return {k: v.detach().clone() for k, v in self.model.state_dict().items()}
