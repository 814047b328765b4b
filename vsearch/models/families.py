"""Model families: the one place that knows, from a model's config alone (no weights, no torch),
what kind of model it is, how to build it and what it can do.

Adding a family is one `Family` row here plus its module. Code elsewhere asks for
capabilities (`capabilities(config).onnx_text`), never for family names.
"""
from __future__ import annotations

import importlib
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
    model_class: str   # "module:Class" under vsearch.models, imported only when a model is built;
    #                    the class has from_config(name, config, state, fingerprint, pretrained_towers)


def _align_lite_caps(cfg: dict[str, Any]) -> Capabilities:
    locked = cfg.get("image_tail_stages") == 0
    return Capabilities(onnx_image=True, onnx_text=True, cached_trunks=True,
                        feature_map=f"efficientnet-{cfg.get('image_variant')}@{cfg.get('image_size')}" if locked else None)


FAMILIES: dict[str, Family] = {
    "align-lite": Family(_align_lite_caps, "align_lite:AlignLite"),
    "openclip": Family(lambda cfg: Capabilities(), "openclip:OpenClipEncoder"),
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
    module, _, cls = family(config).model_class.partition(":")
    model_class = getattr(importlib.import_module(f"{__package__}.{module}"), cls)
    return model_class.from_config(name, config, state, fingerprint, pretrained_towers)
