"""Fit a model's hubness correction (models/hubness.py) on a benchmark's train split, with its
strength chosen on dev, and save it beside the weights."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..evaluation.pairs import load_pairs
from ..evaluation.recall import recall_at_k
from ..models.hubness import Hubness, sidecar_path
from ..progress import Reporter


def fit(train_images: np.ndarray, train_captions: np.ndarray, caption_image: np.ndarray,
        dev_images: np.ndarray, dev_captions: np.ndarray, dev_caption_image: np.ndarray,
        betas=(5.0, 10.0, 15.0, 20.0), lambdas=(0.0, 0.25, 0.5, 0.75, 1.0)) -> tuple[Hubness, dict]:
    """Banks from the training split (one caption per image), beta/lambda chosen per direction
    on dev R@1 (ties broken by R@5; lambda 0 = no correction, so dev never gets worse).
    Returns the correction and the dev scores it reached."""
    first = np.searchsorted(np.asarray(caption_image), np.arange(len(train_images)))
    texts, images = train_captions[first], train_images
    sim = dev_captions @ dev_images.T
    best = {"text_to_image": (-1.0, None), "image_to_text": (-1.0, None)}
    for beta in betas:
        # The bias is linear in lambda: compute it once per beta at lambda 1, then scale.
        unit = Hubness(texts, images, beta, 1.0, beta, 1.0)
        image_unit, text_unit = unit.image_bias(dev_images), unit.text_bias(dev_captions)
        for lam in lambdas:
            t2i = recall_at_k(sim + lam * image_unit[None, :], dev_caption_image)["text_to_image"]
            i2t = recall_at_k(sim + lam * text_unit[:, None], dev_caption_image)["image_to_text"]
            for key, r in (("text_to_image", t2i), ("image_to_text", i2t)):
                score = r["R@1"] + 1e-3 * r["R@5"]
                if score > best[key][0]:
                    best[key] = (score, (beta, lam, r))
    (b1, l1, r1), (b2, l2, r2) = best["text_to_image"][1], best["image_to_text"][1]
    return Hubness(texts, images, b1, l1, b2, l2), {"text_to_image": r1, "image_to_text": r2}


def fit_hubness(model, weights: str | Path, data: str | Path, train_split: str = "train", dev_split: str = "dev",
                workers: int | None = None, progress: Reporter | None = None, limit: int | None = None) -> tuple[Hubness, dict, Path]:
    """Encode train and dev with `model` (loaded from `weights`), fit, and write the sidecar.
    Returns (correction, dev recalls it reached, sidecar path)."""
    from ..errors import VsearchError
    from ..evaluation.encoding import encode_image_files, encode_texts

    emb = {}
    for split in (train_split, dev_split):
        pairs = load_pairs(data, split, limit)
        img, failed = encode_image_files(model, pairs.images, workers=workers, progress=progress)
        if failed:
            raise VsearchError(f"{len(failed)} images of {split} could not be read, e.g. {failed[0][0]}: {failed[0][1]}")
        rows = np.arange(len(pairs.captions))
        if split == train_split:  # the text bank keeps one caption per image: encode only those
            rows = np.searchsorted(pairs.caption_image, np.arange(len(pairs.images)))
        emb[split] = (img, encode_texts(model, [pairs.captions[i] for i in rows], progress=progress),
                      pairs.caption_image[rows])
    (ti, tt, tci), (di, dt, dci) = emb[train_split], emb[dev_split]
    h, dev = fit(ti, tt, tci, di, dt, dci)
    path = h.save(sidecar_path(weights), model.fingerprint)
    return h, dev, path
