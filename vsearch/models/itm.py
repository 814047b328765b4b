"""ITM cross-encoder: does this caption match this image? Used to rerank the dual encoder's top k.

It reads the towers' token-level outputs — the image tower's last feature map (7x7 positions
for EfficientNet-Lite at 224) and the text tower's last hidden states — projects both to one
width and fuses them with a few transformer layers, then a binary match head scores the pair:

  * `cross` (ALBEF style): text tokens attend to themselves and, by cross-attention, to the
    image tokens; the first text token ([CLS]) is scored;
  * `single` (VisualBERT/UNITER style): one sequence [CLS; image; text] through self-attention.

Image tokens first pass a small bottleneck (`image_token_dim`) so that collections can store
them per image at ingest and rerank without re-reading any photo.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import nn


@dataclass(frozen=True)
class ITMConfig:
    style: str = "cross"            # cross | single
    image_dim: int = 1280
    text_dim: int = 384
    image_tokens: int = 64          # 8x8 for EfficientNet-Lite1 at 240
    image_token_dim: int = 64       # what a collection stores per image position
    width: int = 256
    layers: int = 2
    heads: int = 4
    dropout: float = 0.1

    def to_json(self) -> dict[str, Any]:
        return {"family": "itm", **asdict(self)}


class ITMHead(nn.Module):
    def __init__(self, cfg: ITMConfig):
        super().__init__()
        self.cfg = cfg
        w = cfg.width
        self.image_bottleneck = nn.Sequential(nn.LayerNorm(cfg.image_dim), nn.Linear(cfg.image_dim, cfg.image_token_dim))
        self.image_in = nn.Linear(cfg.image_token_dim, w)
        self.image_pos = nn.Parameter(torch.zeros(1, cfg.image_tokens, w))
        self.text_in = nn.Sequential(nn.LayerNorm(cfg.text_dim), nn.Linear(cfg.text_dim, w))
        if cfg.style == "cross":
            layer = nn.TransformerDecoderLayer(w, cfg.heads, 4 * w, cfg.dropout, batch_first=True, norm_first=True)
            self.fusion = nn.TransformerDecoder(layer, cfg.layers)
        elif cfg.style == "single":
            self.cls = nn.Parameter(torch.zeros(1, 1, w))
            self.type_emb = nn.Parameter(torch.zeros(2, w))
            layer = nn.TransformerEncoderLayer(w, cfg.heads, 4 * w, cfg.dropout, batch_first=True, norm_first=True)
            self.fusion = nn.TransformerEncoder(layer, cfg.layers, enable_nested_tensor=False)
        else:
            raise ValueError(f"unknown ITM style {cfg.style!r}; known: cross, single")
        self.out = nn.Sequential(nn.LayerNorm(w), nn.Linear(w, 1))
        nn.init.normal_(self.image_pos, std=0.02)

    def image_memory(self, feature_tokens: torch.Tensor) -> torch.Tensor:
        """[n, positions, image_dim] -> [n, positions, image_token_dim] (stored by collections)."""
        return self.image_bottleneck(feature_tokens)

    def forward(self, image_mem: torch.Tensor, text_hidden: torch.Tensor, text_mask: torch.Tensor) -> torch.Tensor:
        """Match logits [n] for n (image, text) pairs."""
        img = self.image_in(image_mem.to(self.image_in.weight.dtype)) + self.image_pos[:, : image_mem.shape[1]]
        txt = self.text_in(text_hidden)
        pad = ~text_mask
        if self.cfg.style == "cross":
            fused = self.fusion(txt, img, tgt_key_padding_mask=pad)
            return self.out(fused[:, 0]).squeeze(-1)
        n = img.shape[0]
        seq = torch.cat([self.cls.expand(n, -1, -1), img + self.type_emb[0], txt + self.type_emb[1]], dim=1)
        seq_pad = torch.cat([torch.zeros(n, 1 + img.shape[1], dtype=torch.bool, device=pad.device), pad], dim=1)
        return self.out(self.fusion(seq, src_key_padding_mask=seq_pad)[:, 0]).squeeze(-1)


def locked_towers(device: str = "cpu"):
    """align-lite's pretrained towers with nothing tuned: the reranker's frozen inputs."""
    from .align_lite import AlignLite
    from .registry import ARCHITECTURES

    cfg = dict(ARCHITECTURES["align-lite"], image_tail_stages=0, text_tail_layers=0)
    return AlignLite("align-lite-towers", cfg, None, "towers").to(device).eval()


class Reranker:
    """A trained ITM head plus the frozen towers that feed it."""

    def __init__(self, head: ITMHead, fingerprint: str, alpha: float = 0.0, default_k: int = 16):
        self.head = head.eval()
        self.fingerprint = fingerprint
        self.alpha = alpha          # final score = ITM logit + alpha * dual-encoder similarity
        self.default_k = default_k
        self._towers = None

    def reads_feature_map_of(self, model) -> bool:
        """True when `model`'s image tower ends in exactly the feature map this reranker reads
        (align-lite with a locked, pretrained image tower of the same variant and size), so
        ingest can store the reranker's tokens from the same forward pass."""
        cfg = getattr(model, "config", {}) or {}
        ref = self.towers.config
        return (cfg.get("family") == "align-lite" and cfg.get("image_tail_stages") == 0
                and cfg.get("image_variant") == ref["image_variant"] and cfg.get("image_size") == ref["image_size"])

    @property
    def towers(self):
        if self._towers is None:
            self._towers = locked_towers()
        return self._towers

    @torch.inference_mode()
    def image_memory(self, pixels: torch.Tensor) -> torch.Tensor:
        """Float pixel batch -> stored-size image tokens [n, positions, image_token_dim]."""
        fmap = self.towers.image.feature_map(pixels)
        return self.head.image_memory(fmap.flatten(2).transpose(1, 2))

    @torch.inference_mode()
    def text_hidden(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        t = self.towers.text
        ids, mask = t.tokenizer(texts)
        return t.trunk(ids, mask), mask

    @torch.inference_mode()
    def score(self, image_mem: torch.Tensor, hidden: torch.Tensor, mask: torch.Tensor) -> np.ndarray:
        """Logits for pairs; a single image or a single text is broadcast against the other side."""
        n = max(len(image_mem), len(hidden))
        if len(image_mem) == 1 and n > 1:
            image_mem = image_mem.expand(n, -1, -1)
        if len(hidden) == 1 and n > 1:
            hidden, mask = hidden.expand(n, -1, -1), mask.expand(n, -1)
        return self.head(image_mem, hidden, mask).float().numpy()


def load_reranker(model_name: str) -> "Reranker | None":
    """The reranker shipped for a registered model, or None."""
    from .registry import RERANKERS, WEIGHTS_DIR

    fname = RERANKERS.get(model_name)
    if not fname or not (WEIGHTS_DIR / fname).is_file():
        return None
    return load_reranker_file(WEIGHTS_DIR / fname)


def load_reranker_file(path) -> Reranker:
    from .checkpoint import file_digest, read_checkpoint

    cfg, state, extra = read_checkpoint(path)
    cfg = {k: v for k, v in cfg.items() if k != "family"}
    head = ITMHead(ITMConfig(**cfg))
    head.load_state_dict(state)
    return Reranker(head, file_digest(path), float(extra.get("alpha", 0.0)), int(extra.get("default_k", 16)))
