"""What a training step reads, per kind of model:
  * `CachedTask` (models whose locked trunks can be cached): trunk outputs are computed once and
    each step trains only the tower tails, heads and temperature on them — minutes on a CPU;
  * `EndToEndTask` (open_clip architectures, or any model trained whole): images are decoded
    once and pushed through the whole image tower every step.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from torch.nn import functional as F

from ..evaluation.pairs import Pairs
from ..progress import Reporter

_HEAD_PARTS = ("head.", "attn_pool.")  # trained at the head learning rate


class CachedTask:
    """A model whose family declares cached_trunks (models/families.py): batches of cached trunk outputs."""

    def __init__(self, model, train: Pairs, dev: Pairs, cfg, progress: Reporter | None = None):
        self.model, self.cfg, self.train, self.dev = model, cfg, train, dev
        cache = Path(cfg.cache_dir)
        from .features import image_trunk_cache, text_trunk_cache

        self.img = image_trunk_cache(model, train, cache, cfg.hflip, cfg.workers, progress=progress)
        self.txt, self.mask = text_trunk_cache(model, train, cache, progress=progress)
        self.dev_img = image_trunk_cache(model, dev, cache, False, cfg.workers, progress=progress)[0]
        self.dev_txt, self.dev_mask = text_trunk_cache(model, dev, cache, progress=progress)
        for p in model.parameters():
            p.requires_grad_(False)
        self.params_tail = [p for t in (model.image, model.text) for n, p in t.named_parameters()
                            if any(n.startswith(x) for x in t.tail_prefixes()) and not n.startswith(_HEAD_PARTS)]
        self.params_head = [p for t in (model.image, model.text) for n, p in t.named_parameters()
                            if n.startswith(_HEAD_PARTS)] + [model.logit_scale]
        for p in self.params_tail + self.params_head:
            p.requires_grad_(True)

    def train_mode(self) -> None:
        self.model.train_tails()  # locked trunks keep their statistics

    def batches(self, rng: np.random.Generator) -> Iterator[tuple]:
        owner = self.train.caption_image
        if self.cfg.captions_per_epoch == "one":
            first = np.searchsorted(owner, np.arange(len(self.train.images)))
            counts = np.bincount(owner, minlength=len(self.train.images))
            rows = first + (rng.random(len(first)) * counts).astype(np.int64)
        else:
            rows = np.arange(len(owner))
        rows = rng.permutation(rows)
        bs = self.cfg.batch_size
        for i in range(0, len(rows) - bs + 1 if len(rows) >= bs else 1, bs):
            yield rows[i:i + bs]

    def embed(self, rows: np.ndarray, rng: np.random.Generator):
        m, dev = self.model, self.model.device
        img_idx = self.train.caption_image[rows]
        views = rng.integers(0, self.img.shape[0], size=len(rows))
        f = self.img[views, img_idx].to(dev).float()
        mask = self.mask[rows]
        t = int(mask.sum(1).max())
        h = self.txt[rows, :t].to(dev).float()
        mask = mask[:, :t].to(dev)
        ids = torch.as_tensor(img_idx, device=dev)
        return m.image.from_trunk(f), m.text.from_trunk(h, mask), ids, ids

    @torch.inference_mode()
    def dev_embeddings(self) -> tuple[np.ndarray, np.ndarray]:
        m, dev = self.model, self.model.device
        img = torch.cat([m.image.from_trunk(self.dev_img[i:i + 256].to(dev).float()) for i in range(0, len(self.dev_img), 256)])
        txt = []
        for i in range(0, len(self.dev_txt), 512):
            mask = self.dev_mask[i:i + 512]
            t = int(mask.sum(1).max())
            txt.append(m.text.from_trunk(self.dev_txt[i:i + 512, :t].to(dev).float(), mask[:, :t].to(dev)))
        return F.normalize(img, dim=-1).cpu().numpy(), F.normalize(torch.cat(txt), dim=-1).cpu().numpy()


class EndToEndTask:
    """Any DualEncoder trained through its whole image tower (open_clip, full fine-tuning)."""

    def __init__(self, model, train: Pairs, dev: Pairs, cfg, progress: Reporter | None = None):
        from ..evaluation.encoding import encode_image_files

        self.model, self.cfg, self.train, self.dev = model, cfg, train, dev
        self._encode_image_files = encode_image_files
        self.pixels = self._decode_all(train.images)
        for p in model.parameters():
            p.requires_grad_(True)
        self.params_tail, self.params_head = [p for p in model.parameters()], []

    def _decode_all(self, paths):
        from ..evaluation.encoding import decode_pixels

        return np.stack(list(decode_pixels(paths, self.model.preprocess, self.cfg.workers)))

    def train_mode(self) -> None:
        self.model.train()

    batches = CachedTask.batches

    def embed(self, rows: np.ndarray, rng: np.random.Generator):
        m = self.model
        img_idx = self.train.caption_image[rows]
        pix = self.pixels[img_idx]
        if self.cfg.hflip:
            flip = rng.random(len(rows)) < 0.5
            pix = pix.copy()
            pix[flip] = pix[flip][:, :, ::-1]
        x = m.preprocess.normalize(pix).to(m.device)
        ids = torch.as_tensor(img_idx, device=m.device)
        return m.image_features(x), m.text_features([self.train.captions[r] for r in rows]), ids, ids

    def dev_embeddings(self):
        from ..evaluation.encoding import encode_texts

        img, _ = self._encode_image_files(self.model, self.dev.images, workers=self.cfg.workers)
        return img, encode_texts(self.model, self.dev.captions)
