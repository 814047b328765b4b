"""Recall@K after an ITM reranker reorders each query's dual-encoder top k, and the rerank depth
sweep (recall and added latency per depth)."""
from __future__ import annotations

import numpy as np

from ..pipeline.decode import decode_files
from .encoding import batched
from ..progress import Reporter, track
from .recall import recall_at_k


def _rerank_matrix(sim: np.ndarray, k: int, score_fn, alpha: float) -> np.ndarray:
    """Scores where each row's top k (by `sim`) are replaced by ITM scores placed above the rest."""
    out = sim.copy()
    if k <= 0:
        return out
    top = np.argsort(-sim, axis=1, kind="stable")[:, :k]
    rows = np.repeat(np.arange(len(sim)), top.shape[1])
    cols = top.reshape(-1)
    out[rows, cols] = 1e3 + score_fn(rows, cols) + alpha * sim[rows, cols]
    return out


def rerank_recalls(sim: np.ndarray, caption_image: np.ndarray, k: int, score_pairs, alpha: float = 0.0) -> dict:
    """Recall@K after the ITM reorders each query's dual-encoder top k, in both directions.
    `score_pairs(text_rows, image_idx) -> logits`."""
    t2i = _rerank_matrix(sim, k, lambda r, c: score_pairs(r, c), alpha)
    i2t = _rerank_matrix(sim.T, k, lambda r, c: score_pairs(c, r), alpha).T
    return {"text_to_image": recall_at_k(t2i, caption_image)["text_to_image"],
            "image_to_text": recall_at_k(i2t, caption_image)["image_to_text"]}


class PairScorer:
    """ITM scores for (caption, image) pairs of one benchmark split, from precomputed inputs."""

    def __init__(self, reranker, pairs, workers: int | None = None, progress: Reporter | None = None):
        import torch

        from ..models.onnx_export import fast_image_trunk

        towers = reranker.towers
        pp = towers.preprocess
        run = fast_image_trunk(towers, towers.image)
        mems = []
        with torch.inference_mode():
            batches = batched(decode_files(pairs.images, pp, workers), 64)
            for b in track(batches, progress, "rerank inputs", total=len(pairs.images), unit="img", weight=len):
                fmap = run(pp.normalize(np.stack([d.pixels for d in b])))
                mems.append(reranker.head.image_memory(fmap.flatten(2).transpose(1, 2)))
            self.mem = torch.cat(mems)
            hidden, masks = [], []
            for i in range(0, len(pairs.captions), 256):
                h, m = reranker.text_hidden(pairs.captions[i:i + 256])
                hidden.append(h)
                masks.append(m)
        t = max(h.shape[1] for h in hidden)
        self.hidden = torch.cat([torch.nn.functional.pad(h, (0, 0, 0, t - h.shape[1])) for h in hidden])
        self.mask = torch.cat([torch.nn.functional.pad(m, (0, t - m.shape[1])) for m in masks])
        self.reranker = reranker

    def __call__(self, text_rows: np.ndarray, image_idx: np.ndarray, batch: int = 1024) -> np.ndarray:
        import torch

        out = []
        for i in range(0, len(text_rows), batch):
            tr = torch.as_tensor(text_rows[i:i + batch])
            ii = torch.as_tensor(image_idx[i:i + batch])
            mask = self.mask[tr]
            t = int(mask.sum(1).max())
            out.append(self.reranker.score(self.mem[ii], self.hidden[tr, :t], mask[:, :t]))
        return np.concatenate(out) if out else np.zeros(0, np.float32)


def rerank_sweep(sim: np.ndarray, pairs, scorer: PairScorer, ks=(0, 8, 16, 32, 64), alpha: float = 0.0,
                 latency_queries: int = 30) -> list[dict]:
    """Recall@K for each rerank depth k (0 = the dual encoder alone) with the median added
    latency of one text query: encoding its text for the ITM and scoring k stored images."""
    import statistics
    import time

    rr = scorer.reranker
    rows = []
    for k in ks:
        r = recall_at_k(sim, pairs.caption_image) if k == 0 else rerank_recalls(sim, pairs.caption_image, k, scorer, alpha)
        lat = []
        if k > 0:
            for q in range(latency_queries):
                text = pairs.captions[q]
                cand = np.argsort(-sim[q])[:k]
                t0 = time.perf_counter()
                h, m = rr.text_hidden([text])
                rr.score(scorer.mem[cand], h, m)
                lat.append((time.perf_counter() - t0) * 1000)
        rows.append({"k": k, **r, "latency_ms": statistics.median(lat) if lat else 0.0})
    return rows
