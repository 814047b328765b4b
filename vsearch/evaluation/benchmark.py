"""Scoring a model on a benchmark split (Recall@K both ways, with and without the hubness
correction and the reranker), and text->image Recall@K of a collection from a queries file."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import QueryError, VsearchError
from ..limits import MAX_RERANK_DEPTH, rerank_depth
from ..models.precision import check_precision_name
from ..progress import Reporter
from .recall import KS, recall_at_k


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
                       limit: int | None = None, progress: Reporter | None = None, rerank: bool = False,
                       rerank_k: int | None = None, sweep: tuple[int, ...] | None = None,
                       reranker=None, hubness: bool = True, precision: str = "fp32") -> EvalResult:
    """Encode a benchmark split's images and captions with `model` and score Recall@K both ways.
    `precision`: the image encoder's (models/precision.py); captions are encoded as always.
    With `hubness` (and a model that has one) each direction is ranked as search ranks it, with
    the hubness correction; the plain cosine figures are kept under `extra["uncorrected"]`."""
    from ..models import load_model
    from .encoding import encode_image_files, encode_texts
    from .pairs import load_pairs

    for depth, what in ([(rerank_k, "--rerank-k")] if rerank_k is not None else []) + [(d, "--sweep") for d in sweep or ()]:
        rerank_depth(depth, MAX_RERANK_DEPTH, what)  # refused before any work
    check_precision_name(precision)
    if model is None or isinstance(model, str):
        model = load_model(model)
    pairs = load_pairs(root, split, limit=limit)
    img, failed = encode_image_files(model, pairs.images, batch_size=batch_size, workers=workers, progress=progress,
                                     precision=precision)
    if failed:
        raise VsearchError(f"{len(failed)} benchmark images could not be read, e.g. {failed[0][0]}: {failed[0][1]}")
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
    result.extra["precision"] = precision
    if corrected:
        result.extra["uncorrected"] = plain
    if rerank or sweep:
        from ..models.itm import load_reranker
        from .rerank import PairScorer, rerank_sweep

        rr = load_reranker(model.name, reranker)
        if rr is None:
            raise VsearchError(f"model {model.name!r} has no reranker")
        scorer = PairScorer(rr, pairs, workers, progress)
        n = len(pairs.images)  # a depth past the images there are is all of them (vsearch/limits.py)
        k = rerank_depth(rr.default_k if rerank_k is None else rerank_k, n, "--rerank-k")
        depths = tuple(dict.fromkeys(rerank_depth(d, n, "--sweep") for d in sweep or ()))
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
    return EvalResult(m.model.name, f"collection:{collection.name}", m.counts["images"], len(rows), t2i, {})


