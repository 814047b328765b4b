"""Fit a model's hubness correction (models/hubness.py) on a benchmark's train split, with its
strength chosen on dev, and save it beside the weights."""
from __future__ import annotations

from pathlib import Path

from ..benchmark import load_pairs
from ..models.hubness import Hubness, fit, sidecar_path


def fit_hubness(model, weights: str | Path, data: str | Path, train_split: str = "train", dev_split: str = "dev",
                workers: int | None = None, progress: bool = False, limit: int | None = None) -> tuple[Hubness, dict, Path]:
    """Encode train and dev with `model` (loaded from `weights`), fit, and write the sidecar.
    Returns (correction, dev recalls it reached, sidecar path)."""
    import numpy as np

    from ..pipeline.encode import encode_image_files, encode_texts

    emb = {}
    for split in (train_split, dev_split):
        pairs = load_pairs(data, split, limit)
        img, failed = encode_image_files(model, pairs.images, workers=workers, progress=progress)
        if failed:
            raise ValueError(f"{len(failed)} images of {split} could not be read, e.g. {failed[0]}")
        rows = np.arange(len(pairs.captions))
        if split == train_split:  # the text bank keeps one caption per image: encode only those
            rows = np.searchsorted(pairs.caption_image, np.arange(len(pairs.images)))
        emb[split] = (img, encode_texts(model, [pairs.captions[i] for i in rows], progress=progress),
                      pairs.caption_image[rows])
    (ti, tt, tci), (di, dt, dci) = emb[train_split], emb[dev_split]
    h, dev = fit(ti, tt, tci, di, dt, dci)
    path = h.save(sidecar_path(weights), model.fingerprint)
    return h, dev, path
