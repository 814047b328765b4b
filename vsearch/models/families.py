"""Model families: the one place that knows, from a model's config alone (no weights, no torch),
what kind of model it is, how to build it and what it can do.

Adding a family is one `Family` row here plus its module. Code elsewhere asks for
capabilities (`capabilities(config).onnx_text`), never for family names.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from ..errors import UnknownModelError


@dataclass(frozen=True)
class Capabilities:
    onnx_image: bool = False       # the image path exports to ONNX (fast CPU ingest, no torch once exported)
    onnx_text: bool = False        # the text path exports to ONNX (torch-free text queries)
    cached_trunks: bool = False    # locked tower trunks can be cached, so training touches only tails + heads
    feature_map: str | None = None  # identity of the image tower's final feature map when it is the
    #                                 pretrained, untuned one (an ITM reranker reading the same map can
    #                                 take its tokens from the ingest forward pass)


@dataclass(frozen=True)
class Family:
    capabilities: Callable[[dict[str, Any]], Capabilities]
    build: Callable[..., Any]      # (name, config, state, fingerprint, pretrained_towers) -> DualEncoder


def _align_lite_caps(cfg: dict[str, Any]) -> Capabilities:
    locked = cfg.get("image_tail_stages") == 0
    return Capabilities(onnx_image=True, onnx_text=True, cached_trunks=True,
                        feature_map=f"efficientnet-{cfg.get('image_variant')}@{cfg.get('image_size')}" if locked else None)


def _build_align_lite(name, config, state, fingerprint, pretrained_towers=True):
    from .align_lite import AlignLite

    return AlignLite(name, config, state, fingerprint, pretrained_towers)


def _build_openclip(name, config, state, fingerprint, pretrained_towers=True):
    from .openclip import OpenClipEncoder

    extra = {k: v for k, v in config.items() if k not in ("family", "arch", "tag")}
    # Weights from a checkpoint replace the pretrained tag's: do not download them first.
    return OpenClipEncoder(name, config["arch"], None if state else config.get("tag"), state, fingerprint, extra)


FAMILIES: dict[str, Family] = {
    "align-lite": Family(_align_lite_caps, _build_align_lite),
    "openclip": Family(lambda cfg: Capabilities(), _build_openclip),
}


def family(config: dict[str, Any]) -> Family:
    name = (config or {}).get("family")
    if name not in FAMILIES:
        raise UnknownModelError(f"model family {name!r} is not known to this vsearch (known: {', '.join(FAMILIES)})")
    return FAMILIES[name]


def capabilities(config: dict[str, Any]) -> Capabilities:
    """What a model of this config can do; an unknown family can do nothing special."""
    name = (config or {}).get("family")
    return FAMILIES[name].capabilities(config) if name in FAMILIES else Capabilities()


def build(name: str, config: dict[str, Any], state: dict | None, fingerprint: str | None, pretrained_towers: bool = True):
    return family(config).build(name, config, state, fingerprint, pretrained_towers)
