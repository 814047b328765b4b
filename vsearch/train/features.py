"""Cached trunk outputs of locked towers (a family with cached_trunks: models/families.py), so that
training touches only the tails and heads. Cache files are keyed by everything that changes their
content."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import torch

from ..evaluation.pairs import Pairs
from ..models.onnx_export import fast_image_trunk
from ..evaluation.encoding import batched, decode_pixels
from ..progress import Reporter, report


def _key(kind: str, model, pairs: Pairs, extra: dict) -> str:
    """Only what changes a cache's content: the tower, where it is split (the model's trunk_key),
    and the data."""
    blob = json.dumps({"kind": kind, **model.trunk_key(kind), "root": str(Path(pairs.root).resolve()),
                       "split": pairs.split, "n": len(pairs.images), "first": pairs.images[0].name, **extra},
                      sort_keys=True)
    return hashlib.sha1(blob.encode()).hexdigest()[:16]


@torch.inference_mode()
def image_trunk_cache(model, pairs: Pairs, cache_dir: Path, hflip: bool, workers: int | None = None,
                      batch_size: int = 64, progress: Reporter | None = None) -> torch.Tensor:
    """fp16 [views, n_images, C, H, W]; view 1 (if hflip) is the mirrored image."""
    path = Path(cache_dir) / f"img-{_key('image', model, pairs, {'hflip': hflip})}.pt"
    if path.is_file():
        return torch.load(path, weights_only=True)
    tower = model.image.eval()
    run = fast_image_trunk(model, tower)
    chunks: list[list[torch.Tensor]] = [[] for _ in range(2 if hflip else 1)]
    task, done = f"cache image trunk ({pairs.split})", 0
    for batch in batched(decode_pixels(pairs.images, model.preprocess, workers), batch_size):
        pix = np.stack(batch)
        views = [pix, pix[:, :, ::-1].copy()] if hflip else [pix]
        for v, arr in enumerate(views):
            chunks[v].append(run(model.preprocess.normalize(arr).to(model.device)).half().cpu())
        done += len(batch)
        report(progress, task, done, len(pairs.images), "img")
    feats = torch.stack([torch.cat(c) for c in chunks]).contiguous()
    _save(feats, path)
    return feats


def _save(obj, path: Path) -> None:
    from ..atomic import atomic_write

    atomic_write(path, lambda tmp: torch.save(obj, tmp), point="train-cache", durable=False)


@torch.inference_mode()
def text_trunk_cache(model, pairs: Pairs, cache_dir: Path, batch_size: int = 256,
                     progress: Reporter | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(fp16 hidden states [n_captions, T, h], bool mask [n_captions, T])."""
    path = Path(cache_dir) / f"txt-{_key('text', model, pairs, {})}.pt"
    if path.is_file():
        d = torch.load(path, weights_only=True)
        return d["hidden"], d["mask"]
    tower = model.text.eval()
    ids, mask = tower.tokenizer(pairs.captions)
    hidden = None
    order = torch.argsort(mask.sum(1))  # length-sorted batches: little padding to compute on
    for i in range(0, len(ids), batch_size):
        rows = order[i:i + batch_size]
        t = int(mask[rows].sum(1).max())
        h = tower.trunk(ids[rows, :t].to(model.device), mask[rows, :t].to(model.device))
        if hidden is None:
            hidden = torch.zeros((*ids.shape, h.shape[-1]), dtype=torch.float16)
        hidden[rows, :t] = h.half().cpu()
        report(progress, f"cache text trunk ({pairs.split})", min(i + batch_size, len(ids)), len(ids), "text")
    _save({"hidden": hidden, "mask": mask}, path)
    return hidden, mask
