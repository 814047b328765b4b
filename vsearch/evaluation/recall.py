"""Recall@K for text->image and image->text retrieval, as CLIP_benchmark defines it: a query
scores at K if any correct item is among its top K. Each image has several correct captions.

Ties are counted against the query: a wrong item scoring exactly as high as the best correct
one ranks ahead of it. Scores are therefore never flattered by tie order.
"""
from __future__ import annotations

import numpy as np

KS = (1, 5, 10)


def _pessimistic_rank(scores: np.ndarray, positive: np.ndarray) -> np.ndarray:
    """Per row: how many negatives score >= the best positive. rank 0 = first place."""
    best_pos = np.where(positive, scores, -np.inf).max(axis=1, keepdims=True)
    return ((scores >= best_pos) & ~positive).sum(axis=1)


def recall_at_k(sim: np.ndarray, caption_image: np.ndarray, ks=KS) -> dict[str, dict[str, float]]:
    """sim: [n_texts, n_images] similarities; caption_image[t] = index of text t's image.
    Returns percentages: {"text_to_image": {"R@1": …}, "image_to_text": {…}}."""
    sim = np.asarray(sim, dtype=np.float32)
    caption_image = np.asarray(caption_image)
    n_texts, n_images = sim.shape
    t2i_pos = np.zeros((n_texts, n_images), dtype=bool)
    t2i_pos[np.arange(n_texts), caption_image] = True
    t2i_rank = _pessimistic_rank(sim, t2i_pos)
    i2t_rank = _pessimistic_rank(sim.T, t2i_pos.T)
    return {
        "text_to_image": {f"R@{k}": float(100.0 * (t2i_rank < k).mean()) for k in ks},
        "image_to_text": {f"R@{k}": float(100.0 * (i2t_rank < k).mean()) for k in ks},
    }


def rsum(recalls: dict[str, dict[str, float]]) -> float:
    return sum(v for d in recalls.values() for v in d.values())
