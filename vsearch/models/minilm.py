"""The all-MiniLM-L6-v2 text tower (a 6-layer BERT), in plain PyTorch.

Written out rather than imported from transformers for two reasons measured here: importing
transformers' BertModel costs ~4.7 s, which alone breaks the cold `vsearch query` budget, and
training needs to run the layers one at a time (a cached frozen trunk + a tuned tail), which
transformers' internal mask plumbing changes between releases. The parameter names match the
Hugging Face checkpoint so the packaged safetensors load as they are; a test checks the output
against transformers.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from .packaged import minilm_dir


@dataclass(frozen=True)
class BertConfig:
    vocab_size: int = 30522
    hidden_size: int = 384
    num_hidden_layers: int = 6
    num_attention_heads: int = 12
    intermediate_size: int = 1536
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12

    @classmethod
    def from_json(cls, path: Path) -> "BertConfig":
        raw = json.loads(Path(path).read_text())
        return cls(**{k: raw[k] for k in cls.__dataclass_fields__ if k in raw})


class _Dense(nn.Module):
    def __init__(self, d_in: int, d_out: int, eps: float | None = None):
        super().__init__()
        self.dense = nn.Linear(d_in, d_out)
        if eps is not None:
            self.LayerNorm = nn.LayerNorm(d_out, eps=eps)


class _SelfAttention(nn.Module):
    def __init__(self, cfg: BertConfig):
        super().__init__()
        self.query = nn.Linear(cfg.hidden_size, cfg.hidden_size)
        self.key = nn.Linear(cfg.hidden_size, cfg.hidden_size)
        self.value = nn.Linear(cfg.hidden_size, cfg.hidden_size)
        self.heads = cfg.num_attention_heads


class _Attention(nn.Module):
    def __init__(self, cfg: BertConfig):
        super().__init__()
        self.self = _SelfAttention(cfg)
        self.output = _Dense(cfg.hidden_size, cfg.hidden_size, cfg.layer_norm_eps)


class BertLayer(nn.Module):
    def __init__(self, cfg: BertConfig):
        super().__init__()
        self.attention = _Attention(cfg)
        self.intermediate = _Dense(cfg.hidden_size, cfg.intermediate_size)
        self.output = _Dense(cfg.intermediate_size, cfg.hidden_size, cfg.layer_norm_eps)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """x: [n, t, h]; mask: [n, t] bool, True for real tokens."""
        sa = self.attention.self
        n, t, h = x.shape
        split = lambda y: y.view(n, t, sa.heads, h // sa.heads).transpose(1, 2)  # noqa: E731
        q, k, v = split(sa.query(x)), split(sa.key(x)), split(sa.value(x))
        attn = F.scaled_dot_product_attention(q, k, v, attn_mask=mask[:, None, None, :])
        attn = attn.transpose(1, 2).reshape(n, t, h)
        out = self.attention.output
        x = out.LayerNorm(x + out.dense(attn))
        inter = F.gelu(self.intermediate.dense(x))
        return self.output.LayerNorm(x + self.output.dense(inter))


class _Embeddings(nn.Module):
    def __init__(self, cfg: BertConfig):
        super().__init__()
        self.word_embeddings = nn.Embedding(cfg.vocab_size, cfg.hidden_size, padding_idx=0)
        self.position_embeddings = nn.Embedding(cfg.max_position_embeddings, cfg.hidden_size)
        self.token_type_embeddings = nn.Embedding(cfg.type_vocab_size, cfg.hidden_size)
        self.LayerNorm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        pos = torch.arange(ids.shape[1], device=ids.device)
        x = self.word_embeddings(ids) + self.position_embeddings(pos)[None] + self.token_type_embeddings.weight[0]
        return self.LayerNorm(x)


class _Encoder(nn.Module):
    def __init__(self, cfg: BertConfig):
        super().__init__()
        self.layer = nn.ModuleList(BertLayer(cfg) for _ in range(cfg.num_hidden_layers))


class BertModel(nn.Module):
    """Embeddings + encoder layers; `run_layers` lets a caller run any contiguous slice."""

    def __init__(self, cfg: BertConfig):
        super().__init__()
        self.config = cfg
        self.embeddings = _Embeddings(cfg)
        self.encoder = _Encoder(cfg)

    def run_layers(self, x: torch.Tensor, mask: torch.Tensor, start: int, stop: int) -> torch.Tensor:
        for layer in self.encoder.layer[start:stop]:
            x = layer(x, mask)
        return x

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.run_layers(self.embeddings(ids), mask, 0, len(self.encoder.layer))


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    m = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * m).sum(1) / m.sum(1).clamp_min(1e-6)


class Tokenizer:
    """The packaged WordPiece tokenizer, returning torch tensors."""

    def __init__(self, max_len: int):
        from .packaged import minilm_tokenizer

        self._tok = minilm_tokenizer(max_len)
        self.max_len = max_len

    def __call__(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        enc = self._tok.encode_batch(list(texts))
        ids = torch.tensor([e.ids for e in enc], dtype=torch.long)
        mask = torch.tensor([e.attention_mask for e in enc], dtype=torch.bool)
        return ids, mask


def load_minilm(pretrained: bool = True) -> tuple[BertModel, Path]:
    """The MiniLM encoder with its packaged weights (or random ones, for tests), and its folder."""
    folder = minilm_dir()
    model = BertModel(BertConfig.from_json(folder / "config.json"))
    if pretrained:
        from safetensors.torch import load_file

        state = load_file(str(folder / "model.safetensors"))
        state = {k: v for k, v in state.items() if not k.startswith("pooler.") and k != "embeddings.position_ids"}
        model.load_state_dict(state, strict=True)
    return model, folder
