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
    # "towers": raw tower outputs. "aligned": both sides first pass (frozen copies of) the dual
    # encoder's projection heads, token by token, so the fusion starts from token vectors that
    # already live in one joint space; a late-interaction term (each word's best-matching image
    # position, averaged) then scores them from the first step.
    inputs: str = "towers"
    embed_dim: int = 256            # aligned: the dual encoder's joint space
    head_hidden: int = 1024         # aligned: its projection heads' hidden width
    dual_encoder: str | None = None  # aligned: whose text tower produces the text tokens

    def to_json(self) -> dict[str, Any]:
        return {"family": "itm", **asdict(self)}


class ITMHead(nn.Module):
    def __init__(self, cfg: ITMConfig):
        super().__init__()
        self.cfg = cfg
        w = cfg.width
        self.aligned = cfg.inputs == "aligned"
        if cfg.inputs not in ("towers", "aligned"):
            raise ValueError(f"unknown ITM inputs {cfg.inputs!r}; known: towers, aligned")
        if self.aligned:
            from .align_lite import ProjectionHead

            self.image_adapter = ProjectionHead(cfg.image_dim, cfg.head_hidden, cfg.embed_dim, 0.0)
            self.text_adapter = ProjectionHead(cfg.text_dim, cfg.head_hidden, cfg.embed_dim, 0.0)
            for p in (*self.image_adapter.parameters(), *self.text_adapter.parameters()):
                p.requires_grad_(False)
            # One projection for both sides keeps image and word tokens comparable after it.
            self.shared_proj = nn.Linear(cfg.embed_dim, cfg.image_token_dim, bias=False)
            nn.init.orthogonal_(self.shared_proj.weight)
            self.li_scale = nn.Parameter(torch.tensor(10.0))
            text_dim = cfg.embed_dim
        else:
            self.bottleneck = nn.Sequential(nn.LayerNorm(cfg.image_dim), nn.Linear(cfg.image_dim, cfg.image_token_dim))
            text_dim = cfg.text_dim
        self.image_in = nn.Linear(cfg.image_token_dim, w)
        self.image_pos = nn.Parameter(torch.zeros(1, cfg.image_tokens, w))
        self.text_in = nn.Sequential(nn.LayerNorm(text_dim), nn.Linear(text_dim, w))
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
        if self.aligned:  # start as dual score + late interaction; the fusion learns corrections
            nn.init.zeros_(self.out[1].weight)
            nn.init.zeros_(self.out[1].bias)

    @property
    def image_bottleneck(self) -> nn.Module:
        """Feature-map tokens [n, positions, image_dim] -> stored tokens [n, positions, image_token_dim]."""
        return nn.Sequential(self.image_adapter, self.shared_proj) if self.aligned else self.bottleneck

    def image_memory(self, feature_tokens: torch.Tensor) -> torch.Tensor:
        """[n, positions, image_dim] -> [n, positions, image_token_dim] (stored by collections)."""
        return self.image_bottleneck(feature_tokens)

    def text_features(self, text_hidden: torch.Tensor) -> torch.Tensor:
        """What the fusion reads per word: the text tower's hidden states, or (aligned) their
        joint-space projection. Training caches this."""
        return self.text_adapter(text_hidden) if self.aligned else text_hidden

    def forward(self, image_mem: torch.Tensor, text_hidden: torch.Tensor, text_mask: torch.Tensor,
                text_is_features: bool = False) -> torch.Tensor:
        """Match logits [n] for n (image, text) pairs."""
        image_mem = image_mem.to(self.image_in.weight.dtype)
        feats = text_hidden if text_is_features else self.text_features(text_hidden)
        img = self.image_in(image_mem) + self.image_pos[:, : image_mem.shape[1]]
        txt = self.text_in(feats)
        pad = ~text_mask
        if self.cfg.style == "cross":
            logit = self.out(self.fusion(txt, img, tgt_key_padding_mask=pad)[:, 0]).squeeze(-1)
        else:
            n = img.shape[0]
            seq = torch.cat([self.cls.expand(n, -1, -1), img + self.type_emb[0], txt + self.type_emb[1]], dim=1)
            seq_pad = torch.cat([torch.zeros(n, 1 + img.shape[1], dtype=torch.bool, device=pad.device), pad], dim=1)
            logit = self.out(self.fusion(seq, src_key_padding_mask=seq_pad)[:, 0]).squeeze(-1)
        if self.aligned:
            logit = logit + self.li_scale * late_interaction(self.shared_proj(feats), image_mem, text_mask)
        return logit


def late_interaction(words: torch.Tensor, image_mem: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over words of the best cosine with any image position (FILIP-style), per pair."""
    from torch.nn import functional as F

    sim = torch.einsum("ntd,npd->ntp", F.normalize(words, dim=-1), F.normalize(image_mem, dim=-1)).amax(-1)
    m = mask.to(sim.dtype)
    return (sim * m).sum(-1) / m.sum(-1).clamp_min(1)


def locked_towers(device: str = "cpu"):
    """The reranker's frozen inputs: the pretrained towers the registry names (RERANKER_TOWERS)."""
    from .families import build
    from .registry import RERANKER_TOWERS

    return build("reranker-towers", RERANKER_TOWERS, None, "pretrained-towers").to(device).eval()


class Reranker:
    """A trained ITM head plus the frozen towers that feed it."""

    def __init__(self, head: ITMHead, fingerprint: str, alpha: float = 0.0, default_k: int = 16,
                 dual_fingerprint: str | None = None):
        self.head = head.eval()
        self.fingerprint = fingerprint
        self.alpha = alpha          # final score = ITM logit + alpha * dual-encoder similarity
        self.default_k = default_k
        self._towers = None
        self._dual = None
        self.dual_fingerprint = dual_fingerprint

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

    @property
    def dual(self):
        """Aligned inputs: the dual encoder whose text tower makes the word tokens."""
        if self._dual is None:
            from .loading import load_model

            dual = load_model(self.head.cfg.dual_encoder, "cpu")
            if self.dual_fingerprint and dual.fingerprint != self.dual_fingerprint:
                from ..errors import CheckpointError

                raise CheckpointError(
                    f"this reranker was trained on {self.head.cfg.dual_encoder!r} with fingerprint {self.dual_fingerprint}, "
                    f"but that model is now {dual.fingerprint}; retrain it with `vsearch train-itm`")
            self._dual = dual
        return self._dual

    @torch.inference_mode()
    def text_hidden(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        if self.head.aligned:
            h, mask = self.dual.text_tokens(texts)
            return h.cpu().float(), mask.cpu()
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


def load_reranker(model_name: str, path=None) -> "Reranker | None":
    """The reranker in checkpoint `path` if given (one trained with `vsearch train-itm`), else
    the one shipped for a registered model, else None."""
    from pathlib import Path

    from .registry import reranker_file

    if path is not None:
        from ..errors import CheckpointError

        if not Path(path).is_file():
            raise CheckpointError(f"no reranker checkpoint at {path}; train one with `vsearch train-itm`")
        return load_reranker_file(path)
    shipped = reranker_file(model_name)
    return load_reranker_file(shipped) if shipped else None


def load_reranker_file(path) -> Reranker:
    from .checkpoint import file_digest, read_checkpoint

    cfg, state, extra = read_checkpoint(path)
    cfg = {k: v for k, v in cfg.items() if k != "family"}
    head = ITMHead(ITMConfig(**cfg))
    head.load_state_dict(state)
    return Reranker(head, file_digest(path), float(extra.get("alpha", 0.0)), int(extra.get("default_k", 16)),
                    extra.get("dual_fingerprint"))
