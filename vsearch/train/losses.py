"""Contrastive losses over a batch of image and text embeddings.

`image_ids[i]` / `text_ids[j]` name the image each row belongs to; pairs that share an image are
positives, so two captions of one image are never pushed apart as negatives.
"""
from __future__ import annotations

import torch
from torch.nn import functional as F


def _positives(image_ids: torch.Tensor, text_ids: torch.Tensor) -> torch.Tensor:
    return image_ids[:, None] == text_ids[None, :]


def _masked_logits(logits: torch.Tensor, pos: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Row-wise targets: the first positive; other positives are removed from the softmax."""
    target = pos.float().argmax(dim=1)
    other_pos = pos.clone()
    other_pos[torch.arange(len(target)), target] = False
    return logits.masked_fill(other_pos, float("-inf")), target


def clip_loss(img: torch.Tensor, txt: torch.Tensor, logit_scale: torch.Tensor,
              image_ids: torch.Tensor, text_ids: torch.Tensor, label_smoothing: float = 0.0) -> torch.Tensor:
    """Symmetric InfoNCE with a learnable temperature (CLIP). With label smoothing this is ALIGN's
    normalised softmax loss."""
    img, txt = F.normalize(img, dim=-1), F.normalize(txt, dim=-1)
    logits = logit_scale.exp().clamp(max=100) * img @ txt.T
    pos = _positives(image_ids, text_ids)
    l_i, t_i = _masked_logits(logits, pos)
    l_t, t_t = _masked_logits(logits.T, pos.T)
    return 0.5 * (F.cross_entropy(l_i, t_i, label_smoothing=label_smoothing)
                  + F.cross_entropy(l_t, t_t, label_smoothing=label_smoothing))


def align_loss(img, txt, logit_scale, image_ids, text_ids, label_smoothing: float = 0.1):
    return clip_loss(img, txt, logit_scale, image_ids, text_ids, label_smoothing)


def siglip_loss(img: torch.Tensor, txt: torch.Tensor, logit_scale: torch.Tensor, logit_bias: torch.Tensor,
                image_ids: torch.Tensor, text_ids: torch.Tensor) -> torch.Tensor:
    """Pairwise sigmoid loss (SigLIP): every pair is an independent binary match decision."""
    img, txt = F.normalize(img, dim=-1), F.normalize(txt, dim=-1)
    logits = logit_scale.exp() * img @ txt.T + logit_bias
    labels = _positives(image_ids, text_ids).float() * 2 - 1
    return -F.logsigmoid(labels * logits).sum() / img.shape[0]


LOSSES = ("clip", "align", "siglip")
