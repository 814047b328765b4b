"""Recall@K for text->image and image->text retrieval, as CLIP_benchmark defines it: a query
scores at K if any correct item is among its top K. Each image has several correct captions.

Ties are counted against the query: a wrong item scoring exactly as high as the best correct
one ranks ahead of it. Scores are therefore never flattered by tie order.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

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


@dataclass
class EvalResult:
    model: str
    split: str
    n_images: int
    n_texts: int
    text_to_image: dict[str, float]
    image_to_text: dict[str, float]
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        extra = d.pop("extra")
        d.update(extra)
        return d


def evaluate_benchmark(root, split: str = "test", model=None, batch_size: int = 64, workers: int | None = None,
                       limit: int | None = None, progress: bool = False, rerank: bool = False,
                       rerank_k: int | None = None, sweep: tuple[int, ...] | None = None,
                       reranker=None, hubness: bool = True) -> EvalResult:
    """Encode a benchmark split's images and captions with `model` and score Recall@K both ways.
    With `hubness` (and a model that has one) each direction is ranked as search ranks it, with
    the hubness correction; the plain cosine figures are kept under `extra["uncorrected"]`."""
    from .benchmark import load_pairs
    from .models import load_model
    from .pipeline.encode import encode_image_files, encode_texts

    if model is None or isinstance(model, str):
        model = load_model(model)
    pairs = load_pairs(root, split, limit=limit)
    img, failed = encode_image_files(model, pairs.images, batch_size=batch_size, workers=workers, progress=progress)
    if failed:
        raise ValueError(f"{len(failed)} benchmark images could not be read, e.g. {failed[0]}")
    txt = encode_texts(model, pairs.captions, batch_size=256, progress=progress)
    sim = txt @ img.T
    r = plain = recall_at_k(sim, pairs.caption_image)
    corrected = hubness and model.hubness is not None
    if corrected:
        h = model.hubness
        r = {"text_to_image": recall_at_k(sim + h.image_bias(img)[None, :], pairs.caption_image)["text_to_image"],
             "image_to_text": recall_at_k(sim + h.text_bias(txt)[:, None], pairs.caption_image)["image_to_text"]}
    result = EvalResult(model.name, pairs.split, len(pairs.images), len(pairs.captions), r["text_to_image"], r["image_to_text"])
    result.extra["hubness_corrected"] = corrected
    if corrected:
        result.extra["uncorrected"] = plain
    if rerank or sweep:
        from .errors import VsearchError
        from .models.itm import load_reranker

        rr = load_reranker(model.name, reranker)
        if rr is None:
            raise VsearchError(f"model {model.name!r} has no reranker")
        scorer = PairScorer(rr, pairs, workers, progress)
        k = rr.default_k if rerank_k is None else rerank_k
        depths = tuple(sweep or ())
        rows = rerank_sweep(sim, pairs, scorer, depths + ((k,) if k not in depths else ()), rr.alpha)
        chosen = next(x for x in rows if x["k"] == k)
        rows = [x for x in rows if x["k"] in depths]
        result.extra["rerank"] = {"k": k, "text_to_image": chosen["text_to_image"], "image_to_text": chosen["image_to_text"],
                                  "latency_ms": chosen["latency_ms"]}
        if sweep:
            result.extra["sweep"] = rows
    return result


def evaluate_collection(collection, queries_file, ks=KS) -> EvalResult:
    """Text->image Recall@K on an ingested collection: a CSV with columns `query` and `relevant`
    (one or more paths relative to the ingested folder, separated by '|')."""
    import csv
    from pathlib import Path

    from .errors import QueryError

    with open(Path(queries_file), newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    if not rows or not {"query", "relevant"} <= set(rows[0]):
        raise QueryError(f"{queries_file} needs the columns query,relevant (relevant: paths separated by '|')")
    kmax = max(ks)
    hits = {k: 0 for k in ks}
    for r in rows:
        relevant = {p.strip() for p in r["relevant"].split("|") if p.strip()}
        found = collection.search(r["query"], k=kmax)
        ranks = [i for i, h in enumerate(found) if h.relpath in relevant
                 or any(Path(d).name in relevant or d.endswith("/" + x) for d in h.duplicates for x in relevant)]
        for k in ks:
            hits[k] += bool(ranks and ranks[0] < k)
    t2i = {f"R@{k}": 100.0 * hits[k] / len(rows) for k in ks}
    m = collection.store.manifest
    return EvalResult(m.model["name"], f"collection:{collection.name}", m.counts["images"], len(rows), t2i, {})


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

    def __init__(self, reranker, pairs, workers: int | None = None, progress: bool = False):
        import torch
        from tqdm import tqdm

        from .models.onnx_export import fast_image_trunk
        from .pipeline.encode import batched, iter_decoded

        towers = reranker.towers
        pp = towers.preprocess
        run = fast_image_trunk(towers, towers.image)
        mems = []
        with torch.inference_mode():
            for b in tqdm(list(batched(iter_decoded(pairs.images, pp, workers), 64)), disable=not progress, desc="rerank inputs"):
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
