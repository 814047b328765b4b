"""Model families: the one place that knows, from a model's config alone (no weights, no torch),
what kind of model it is, how to build it and what it can do.

Adding a family is one `Family` row here plus its module. Code elsewhere asks for capabilities
(`capabilities(config).onnx_text`), never for family names. Each capability is a promise the
family's model class keeps — the contract below, which tests/test_families.py checks for every
registered family:

  onnx_image     the image path exports to ONNX (fast CPU ingest; no PyTorch once exported):
                 `image_features(pixels)` traces
  onnx_text      the text path exports to ONNX and runs without PyTorch:
                 `text_features_from_ids(ids, mask)`, fed by the family's `text_tokenizer(config)`
  token_outputs  `image_tokens(pixels)` and `text_tokens(texts)`: what an ITM reranker reads
  feature_map    names the final image feature map when it is the pretrained, untuned one; then
                 `image_features_and_map(pixels)` gives the features and that map from one pass (a
                 reranker reading the same map takes its tokens from the ingest's forward pass)
  text_states    names the final text hidden states when they are the pretrained, untuned ones
                 (the reranker's cached text inputs)
  cached_trunks  locked tower trunks can be cached, so training touches only tails and heads:
                 towers `image`, `text` with `trunk`, `from_trunk`, `tail_prefixes()`;
                 `trunk_key(kind)` (what a cached trunk depends on) and `train_tails()`
  itm_aligned    its projection heads apply token by token (`image.head`, `text.head`,
                 `text_tokens`; config `head_hidden`): "aligned" ITM reranker inputs
and, as data: `preprocess(config)`, the image preprocessing when the config alone tells it.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, fields
from typing import Any, Callable

from ..errors import UnknownModelError
from .preprocess import Preprocess


@dataclass(frozen=True)
class Capabilities:
    onnx_image: bool = False
    onnx_text: bool = False
    token_outputs: bool = False
    feature_map: str | None = None
    text_states: str | None = None
    cached_trunks: bool = False
    itm_aligned: bool = False

    def table(self) -> dict[str, bool]:
        """Each capability as yes/no (a name counts as yes)."""
        return {f.name: bool(getattr(self, f.name)) for f in fields(self)}


@dataclass(frozen=True)
class Family:
    model_class: str   # "package.module:Class", imported only when a model is built; the class has
    #                    from_config(name, config, state, fingerprint, pretrained_towers)
    capabilities: Callable[[dict[str, Any]], Capabilities] = lambda cfg: Capabilities()
    preprocess: Callable[[dict[str, Any]], Preprocess] | None = None      # None: only the built model knows
    text_tokenizer: Callable[[dict[str, Any]], Any] | None = None         # onnx_text: `encode_batch(texts)` -> .ids, .attention_mask


def _align_lite_caps(cfg: dict[str, Any]) -> Capabilities:
    image_locked, text_locked = cfg.get("image_tail_stages") == 0, cfg.get("text_tail_layers") == 0
    return Capabilities(
        onnx_image=True, onnx_text=True, token_outputs=True, cached_trunks=True, itm_aligned=image_locked,
        feature_map=f"efficientnet-{cfg.get('image_variant')}@{cfg.get('image_size')}" if image_locked else None,
        text_states=f"minilm-l6@{cfg.get('max_text_len')}" if text_locked else None)


def _align_lite_preprocess(cfg: dict[str, Any]) -> Preprocess:
    return Preprocess(size=cfg["image_size"], mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), interpolation="bicubic")


def _minilm_tokenizer(cfg: dict[str, Any]):
    from .packaged import minilm_tokenizer

    return minilm_tokenizer(cfg["max_text_len"])


FAMILIES: dict[str, Family] = {
    "align-lite": Family("vsearch.models.align_lite:AlignLite", _align_lite_caps, _align_lite_preprocess, _minilm_tokenizer),
    "openclip": Family("vsearch.models.openclip:OpenClipEncoder"),
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


def preprocess_of(config: dict[str, Any]) -> Preprocess | None:
    """The image preprocessing a config declares; None when only the built model can tell."""
    f = FAMILIES.get((config or {}).get("family"))
    return f.preprocess(config) if f is not None and f.preprocess is not None else None


def text_tokenizer(config: dict[str, Any]):
    """The torch-free tokenizer that feeds the family's exported text graph (onnx_text)."""
    f = family(config)
    if f.text_tokenizer is None:
        raise UnknownModelError(f"model family {config.get('family')!r} has no torch-free text tokenizer")
    return f.text_tokenizer(config)


def build(name: str, config: dict[str, Any], state: dict | None, fingerprint: str | None, pretrained_towers: bool = True):
    module, _, cls = family(config).model_class.partition(":")
    model_class = getattr(importlib.import_module(module), cls)
    return model_class.from_config(name, config, state, fingerprint, pretrained_towers)
