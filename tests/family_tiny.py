"""A model family that exists only in the tests: a few thousand random weights, no download, that
declares some fast paths (ONNX image and text graphs, token outputs, its final feature map, its
preprocessing, a torch-free tokenizer) and not others — what a new family (SigLIP, MobileCLIP)
would plug in. tests/test_families.py registers it beside vsearch's own families."""
from __future__ import annotations

from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any, Iterator

import numpy as np
import torch
from torch import nn

from vsearch.models.base import DualEncoder
from vsearch.models.families import FAMILIES, Capabilities, Family
from vsearch.models.preprocess import Preprocess

CONFIG = {"family": "tiny-test", "image_size": 16, "embed_dim": 12, "width": 8, "max_text_len": 16}


class CharTokenizer:
    """Torch-free, like the tokenizers library's: `encode_batch` -> .ids and .attention_mask, padded."""

    def __init__(self, max_len: int):
        self.max_len = max_len

    def encode_batch(self, texts: list[str]) -> list[SimpleNamespace]:
        ids = [[1 + (ord(c) % 120) for c in t[: self.max_len]] or [0] for t in texts]
        n = max(len(i) for i in ids)
        return [SimpleNamespace(ids=i + [0] * (n - len(i)), attention_mask=[1] * len(i) + [0] * (n - len(i))) for i in ids]


def _preprocess(cfg: dict[str, Any]) -> Preprocess:
    return Preprocess(size=cfg["image_size"], mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25), interpolation="bilinear")


def _caps(cfg: dict[str, Any]) -> Capabilities:
    return Capabilities(onnx_image=True, onnx_text=True, token_outputs=True, feature_map=f"tiny-conv@{cfg['image_size']}")


class TinyDual(DualEncoder):
    def __init__(self, name: str, cfg: dict[str, Any], state: dict | None, fingerprint: str | None):
        super().__init__()
        torch.manual_seed(0)
        w, d = cfg["width"], cfg["embed_dim"]
        self.name, self.config, self.embed_dim, self._fingerprint = name, dict(cfg), d, fingerprint
        self.preprocess = _preprocess(cfg)
        self.tokenizer = CharTokenizer(cfg["max_text_len"])
        self.conv = nn.Conv2d(3, w, 4, stride=4)
        self.image_head = nn.Linear(w, d)
        self.embed = nn.Embedding(128, w)
        self.text_head = nn.Linear(w, d)
        if state:
            self.load_state_dict(state)

    @classmethod
    def from_config(cls, name, config, state, fingerprint, pretrained_towers=True) -> "TinyDual":
        return cls(name, config, state, fingerprint)

    @property
    def fingerprint(self) -> str | None:
        return self._fingerprint

    def image_features_and_map(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        fmap = torch.relu(self.conv(pixels))
        return self.image_head(fmap.mean((2, 3))), fmap

    def image_features(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.image_features_and_map(pixels)[0]

    def image_tokens(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.image_features_and_map(pixels)[1].flatten(2).transpose(1, 2)

    def _ids(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        enc = self.tokenizer.encode_batch(texts)
        return (torch.tensor(np.array([e.ids for e in enc]), device=self.device),
                torch.tensor(np.array([e.attention_mask for e in enc]), device=self.device))

    def text_features_from_ids(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        m = mask.to(torch.float32).unsqueeze(-1)
        return self.text_head((self.embed(ids) * m).sum(1) / m.sum(1).clamp_min(1.0))

    def text_features(self, texts: list[str]) -> torch.Tensor:
        return self.text_features_from_ids(*self._ids(texts))

    def text_tokens(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        ids, mask = self._ids(texts)
        return self.embed(ids), mask.bool()

    def trained_state(self) -> dict[str, torch.Tensor]:
        return {k: v.detach().clone() for k, v in self.state_dict().items()}


@contextmanager
def registered() -> Iterator[None]:
    FAMILIES["tiny-test"] = Family("family_tiny:TinyDual", _caps, _preprocess, lambda cfg: CharTokenizer(cfg["max_text_len"]))
    try:
        yield
    finally:
        FAMILIES.pop("tiny-test", None)
