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
                       limit: int | None = None, progress: bool = False) -> EvalResult:
    """Encode a benchmark split's images and captions with `model` and score Recall@K both ways."""
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
    r = recall_at_k(txt @ img.T, pairs.caption_image)
    return EvalResult(model.name, pairs.split, len(pairs.images), len(pairs.captions), r["text_to_image"], r["image_to_text"])


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
    return EvalResult(collection.info()["model"], f"collection:{collection.name}", collection.info()["counts"]["images"],
                      len(rows), t2i, {})
