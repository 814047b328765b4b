"""Model names -> a typed row: architecture config (data), weights source, what it is, its
measured figures, licence and whether it works offline. `resolve(name)` turns any accepted name
into a `ModelSpec`; the factory (models/loading.py) builds it.

Three name forms resolve:
  * a registered name (`align-lite`, …): its row below;
  * `openclip:<arch>/<tag>`: any open_clip architecture and pretrained tag (downloads once);
    `openclip:<arch>` alone is that architecture with random weights (to train from scratch;
    such a model cannot build a collection: its weights are not identified);
  * a path to a checkpoint written by `vsearch train`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import UnknownModelError

DEFAULT_MODEL = "align-lite"
WEIGHTS_DIR = Path(__file__).parent / "weights"

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

_FLICKR_LICENSE = ("heads trained on Flickr8k (research use only); towers: EfficientNet-Lite (Apache-2.0), "
                   "all-MiniLM-L6-v2 (Apache-2.0)")


@dataclass(frozen=True)
class ModelCard:
    """One registered model: everything a user chooses by, and what the factory needs."""
    name: str
    summary: str
    config: dict[str, Any]
    weights: str | None = None             # file under WEIGHTS_DIR (trained heads + tuned tails)
    reranker: str | None = None            # ITM reranker file trained for it, if one ships
    license: str = ""
    offline: bool = True
    # Measured here (README "Models"): Flickr8k R@1 (text->image, image->text), images/s.
    figures: dict[str, Any] = field(default_factory=dict)


MODELS: dict[str, ModelCard] = {card.name: card for card in (
    ModelCard("align-lite", "EfficientNet-Lite1 @240 + all-MiniLM-L6-v2, heads trained on Flickr8k",
              _ALIGN_LITE, weights="align-lite.safetensors", reranker="align-lite-itm.safetensors",
              license=_FLICKR_LICENSE,
              figures={"flickr8k_test_r1": (26.7, 34.5), "flickr8k_dev_r1": (26.7, 34.7), "images_per_s": 59}),
    ModelCard("align-lite-l0", "EfficientNet-Lite0 @224 + MiniLM: faster, less accurate",
              {**_ALIGN_LITE, "image_variant": "lite0", "image_size": 224}, license=_FLICKR_LICENSE,
              figures={"flickr8k_dev_r1": (20.1, 27.2), "images_per_s": 110}),
    ModelCard("align-lite-l2", "EfficientNet-Lite2 @260 + MiniLM",
              {**_ALIGN_LITE, "image_variant": "lite2", "image_size": 260}, license=_FLICKR_LICENSE,
              figures={"flickr8k_dev_r1": (21.1, 28.6), "images_per_s": 47}),
)}

# Architecture configs by name (pure data), as training uses them.
ARCHITECTURES: dict[str, dict[str, Any]] = {name: card.config for name, card in MODELS.items()}

# The ITM reranker's frozen inputs (models/itm.py): align-lite's pretrained towers, nothing tuned.
RERANKER_TOWERS: dict[str, Any] = {**_ALIGN_LITE, "image_tail_stages": 0, "text_tail_layers": 0}


@dataclass(frozen=True)
class PublishedModel:
    """A well-known open_clip model for users with a network, with its published zero-shot
    Flickr30k R@1 (text->image, image->text) from open_clip's docs/openclip_retrieval_results.csv."""
    name: str
    summary: str
    flickr30k_r1: tuple[float, float]
    params_m: int


OPENCLIP_SUGGESTIONS: tuple[PublishedModel, ...] = (
    PublishedModel("openclip:ViT-B-32/laion2b_s34b_b79k", "CLIP ViT-B/32, LAION-2B: fast", (66.8, 84.1), 151),
    PublishedModel("openclip:ViT-B-16/laion2b_s34b_b88k", "CLIP ViT-B/16, LAION-2B", (69.8, 86.3), 150),
    PublishedModel("openclip:ViT-B-16-SigLIP/webli", "SigLIP ViT-B/16, WebLI", (74.7, 89.1), 203),
    PublishedModel("openclip:ViT-L-14/datacomp_xl_s13b_b90k", "CLIP ViT-L/14, DataComp-XL", (73.4, 89.0), 428),
    PublishedModel("openclip:ViT-SO400M-14-SigLIP-384/webli", "SigLIP SO400M/14 @384: best, needs a GPU", (83.0, 94.3), 878),
)


@dataclass(frozen=True)
class ModelSpec:
    kind: str  # "registered" | "openclip" | "checkpoint"
    name: str
    config: dict[str, Any] = field(default_factory=dict)
    weights: Path | None = None
    openclip_arch: str | None = None
    openclip_tag: str | None = None
    card: ModelCard | None = None


def known_models() -> list[str]:
    return sorted(MODELS) + ["openclip:<arch>/<tag>", "<path to a vsearch train checkpoint>"]


def resolve(name: str | None) -> ModelSpec:
    """Any accepted model name -> its spec. Reads no weights (cheap: used to validate options)."""
    name = name or DEFAULT_MODEL
    if name in MODELS:
        card = MODELS[name]
        return ModelSpec("registered", name, dict(card.config), WEIGHTS_DIR / card.weights if card.weights else None,
                         card=card)
    if name.startswith("openclip:"):
        arch, _, tag = name[len("openclip:"):].partition("/")
        if not arch:
            raise UnknownModelError(f"{name!r}: expected openclip:<arch>/<tag>, e.g. openclip:ViT-B-32/laion2b_s34b_b79k")
        return ModelSpec("openclip", name, {"family": "openclip", "arch": arch, "tag": tag or None}, None, arch, tag or None)
    p = Path(name).expanduser()
    if p.suffix == ".safetensors" or p.exists():
        if not p.is_file():
            raise UnknownModelError(f"{name!r} is not a checkpoint file")
        return ModelSpec("checkpoint", str(p.resolve()), {}, p.resolve())
    raise UnknownModelError(f"unknown model {name!r}; known models: {', '.join(known_models())}")


def reranker_file(model_name: str) -> Path | None:
    """The ITM reranker shipped for a registered model, if its file is there."""
    card = MODELS.get(model_name)
    if card is None or not card.reranker or not (WEIGHTS_DIR / card.reranker).is_file():
        return None
    return WEIGHTS_DIR / card.reranker
