"""Model names -> architecture config (data) + weights source (a separate table).

Three name forms resolve:
  * a registered name (`align-lite`, …): config below, trained weights shipped in the package;
  * `openclip:<arch>/<tag>`: any open_clip architecture and pretrained tag (downloads once);
    `openclip:<arch>` alone is that architecture with random weights (to train from scratch);
  * a path to a checkpoint written by `vsearch train`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import UnknownModelError

DEFAULT_MODEL = "align-lite"

# align-lite's image tower is EfficientNet-Lite1: on Flickr8k dev (heads only, same recipe) it
# beat Lite0 by +2.5 R@1 text->image and +3.4 image->text, and Lite2 by +1.5 / +2.0 (README).
_ALIGN_LITE = {
    "family": "align-lite",
    "image_variant": "lite1",
    "image_size": 240,
    "image_tail_stages": 1,
    "text_tail_layers": 1,
    "embed_dim": 256,
    "head_hidden": 1024,
    "dropout": 0.1,
    "max_text_len": 64,
}

# Architecture configs: pure data.
ARCHITECTURES: dict[str, dict[str, Any]] = {
    "align-lite": _ALIGN_LITE,
    "align-lite-l0": {**_ALIGN_LITE, "image_variant": "lite0", "image_size": 224},
    "align-lite-l2": {**_ALIGN_LITE, "image_variant": "lite2", "image_size": 260},
}

# Weights sources: file names under vsearch/models/weights/ (trained heads + tuned tails).
WEIGHTS: dict[str, str] = {
    "align-lite": "align-lite.safetensors",
}

# ITM rerankers trained for a registered model (same folder).
RERANKERS: dict[str, str] = {
    "align-lite": "align-lite-itm.safetensors",
}

WEIGHTS_DIR = Path(__file__).parent / "weights"


@dataclass(frozen=True)
class ModelSpec:
    kind: str  # "registered" | "openclip" | "checkpoint"
    name: str
    config: dict[str, Any] = field(default_factory=dict)
    weights: Path | None = None
    openclip_arch: str | None = None
    openclip_tag: str | None = None


def known_models() -> list[str]:
    return sorted(ARCHITECTURES) + ["openclip:<arch>/<tag>", "<path to a vsearch train checkpoint>"]


def resolve(name: str | None) -> ModelSpec:
    name = name or DEFAULT_MODEL
    if name in ARCHITECTURES:
        w = WEIGHTS.get(name)
        return ModelSpec("registered", name, dict(ARCHITECTURES[name]), WEIGHTS_DIR / w if w else None)
    if name.startswith("openclip:"):
        rest = name[len("openclip:"):]
        arch, _, tag = rest.partition("/")
        if not arch:
            raise UnknownModelError(f"{name!r}: expected openclip:<arch>/<tag>, e.g. openclip:ViT-B-32/laion2b_s34b_b79k")
        return ModelSpec("openclip", name, {"family": "openclip", "arch": arch}, None, arch, tag or None)
    p = Path(name).expanduser()
    if p.suffix == ".safetensors" or p.exists():
        if not p.is_file():
            raise UnknownModelError(f"{name!r} is not a checkpoint file")
        return ModelSpec("checkpoint", str(p.resolve()), {}, p.resolve())
    raise UnknownModelError(f"unknown model {name!r}; known models: {', '.join(known_models())}")
