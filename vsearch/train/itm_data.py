"""The ITM reranker's training data: frozen image tokens and text hidden states of a split
(from the same trunk caches as dual-encoder training), the dual encoder's similarities, and
hard negatives mined from them."""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from ..evaluation.pairs import Pairs
from ..models.itm import ITMHead
from ..progress import Reporter, report
from .features import image_trunk_cache, text_trunk_cache


class TokenData:
    """Frozen image feature-map tokens and text hidden states of one split."""

    def __init__(self, towers, pairs: Pairs, cfg, hflip: bool, progress: Reporter | None = None):
        self.pairs = pairs
        self.towers = towers.capabilities  # whose feature maps and hidden states these are
        self.img = image_trunk_cache(towers, pairs, cfg.cache_dir, hflip, cfg.workers, progress=progress)
        self.txt, self.mask = text_trunk_cache(towers, pairs, cfg.cache_dir, progress=progress)

        self.aligned = False

    def align(self, head: ITMHead, dual, cache_dir: Path, progress: Reporter | None = None) -> None:
        """Aligned inputs: image positions through the (frozen) image adapter once, and the dual
        encoder's word tokens through the text adapter once, kept in fp16."""
        self.aimg = torch.zeros((*self.img.shape[:2], self.img.shape[-1] * self.img.shape[-2], head.cfg.embed_dim),
                                dtype=torch.float16)
        with torch.inference_mode():
            for v in range(self.img.shape[0]):
                for i in range(0, self.img.shape[1], 256):
                    self.aimg[v, i:i + 256] = head.image_adapter(self.img[v, i:i + 256].float().flatten(2).transpose(1, 2)).half()
        self.atxt, self.amask = aligned_text_cache(dual, head, self.pairs, cache_dir, progress)
        self.aligned = True

    def memory(self, head: ITMHead, views, idx) -> torch.Tensor:
        """The head's image memory for (view, image) pairs."""
        if self.aligned:
            return head.shared_proj(self.aimg[views, idx].float())
        return head.image_memory(self.img[views, idx].float().flatten(2).transpose(1, 2))

    def text(self, rows) -> tuple[torch.Tensor, torch.Tensor]:
        """Word inputs of caption rows: hidden states, or (aligned) adapted word tokens."""
        txt, mask = (self.atxt, self.amask[rows]) if self.aligned else (self.txt, self.mask[rows])
        t = int(mask.sum(1).max())
        return txt[rows, :t].float(), mask[:, :t]


def _dual_cache(kind: str, dual, pairs: Pairs, cache_dir: Path) -> Path | None:
    """Where a dual encoder's outputs on one split are cached: keyed by its weights and the data,
    so re-runs (resume, a sweep of settings) skip the encoding. None for unidentified weights."""
    if not dual.identified:
        return None
    key = hashlib.sha1(f"{dual.fingerprint}|{Path(pairs.root).resolve()}|{pairs.split}|{len(pairs.images)}|"
                       f"{len(pairs.captions)}".encode()).hexdigest()[:16]
    return Path(cache_dir) / f"{kind}-{key}"


def aligned_text_cache(dual, head: ITMHead, pairs: Pairs, cache_dir: Path,
                       progress: Reporter | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The dual encoder's word tokens through the text adapter: (fp16 [n, T, embed], bool mask)."""
    base = _dual_cache("words", dual, pairs, cache_dir)
    path = base.with_suffix(".pt") if base else None
    if path is not None and path.is_file():
        d = torch.load(path, weights_only=True)
        return d["tokens"], d["mask"]
    ids, mask = dual.text.tokenizer(pairs.captions)
    out = torch.zeros((*ids.shape, head.cfg.embed_dim), dtype=torch.float16)
    order = torch.argsort(mask.sum(1))
    with torch.inference_mode():
        for i in range(0, len(ids), 256):
            rows = order[i:i + 256]
            t = int(mask[rows].sum(1).max())
            h = dual.text.tail(dual.text.trunk(ids[rows, :t], mask[rows, :t]), mask[rows, :t])
            out[rows, :t] = head.text_adapter(h).half()
            report(progress, f"word tokens ({pairs.split})", min(i + 256, len(ids)), len(ids), "text")
    if path is not None:
        from .features import _save

        _save({"tokens": out, "mask": mask}, path)
    return out, mask


@torch.inference_mode()
def dual_similarities(dual, data: TokenData, cache_dir: Path) -> np.ndarray:
    """[n_captions, n_images] dual-encoder similarities, from the cached trunks when the dual
    encoder's towers are the very towers cached (untuned, the same feature map and text states),
    else by encoding the split."""
    pairs = data.pairs
    mine = dual.capabilities
    if mine.cached_trunks and mine.feature_map == data.towers.feature_map and mine.text_states == data.towers.text_states:
        img = torch.cat([dual.image.from_trunk(data.img[0, i:i + 256].float()) for i in range(0, data.img.shape[1], 256)])
        txt = []
        for i in range(0, len(pairs.captions), 512):
            h, m = data.text(slice(i, i + 512))
            txt.append(dual.text.from_trunk(h, m))
        img, txt = F.normalize(img, dim=-1), F.normalize(torch.cat(txt), dim=-1)
        return (txt @ img.T).numpy()
    from ..evaluation.encoding import encode_image_files, encode_texts

    base = _dual_cache("dual", dual, pairs, cache_dir)
    path = base.with_suffix(".npz") if base else None
    if path is not None and path.is_file():
        d = np.load(path)
        return d["text"].astype(np.float32) @ d["image"].astype(np.float32).T
    img, _ = encode_image_files(dual, pairs.images)
    txt = encode_texts(dual, pairs.captions)
    if path is not None:
        from ..atomic import atomic_write

        def write(tmp: Path) -> None:
            with open(tmp, "wb") as f:
                np.savez(f, text=txt.astype(np.float32), image=img.astype(np.float32))

        atomic_write(path, write, point="train-cache", durable=False)
    return txt @ img.T


@torch.inference_mode()
def score_pairs(head: ITMHead, data: TokenData, text_rows: np.ndarray, image_idx: np.ndarray, batch: int = 512) -> np.ndarray:
    out = []
    for i in range(0, len(text_rows), batch):
        tr, ii = text_rows[i:i + batch], image_idx[i:i + batch]
        h, m = data.text(torch.as_tensor(tr))
        mem = data.memory(head, torch.zeros(len(ii), dtype=torch.long), torch.as_tensor(ii))
        out.append(head(mem, h, m, text_is_features=data.aligned).float().numpy())
    return np.concatenate(out) if out else np.zeros(0, np.float32)


def hard_negatives(sim: np.ndarray, owner: np.ndarray, pool: int, skip: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Per caption: its `pool` most similar wrong images after the first `skip`; per image, the
    same over captions of other images. Skipping the very top leaves out many unlabelled true
    matches (generic captions fit several photos)."""
    s = sim.copy()
    s[np.arange(len(owner)), owner] = -np.inf

    def top(m: np.ndarray) -> np.ndarray:
        n = pool + skip
        part = np.argpartition(-m, n, axis=1)[:, :n]
        order = np.argsort(-np.take_along_axis(m, part, 1), axis=1)
        return np.take_along_axis(part, order, 1)[:, skip:]

    return top(s), top(s.T)  # image -> captions: its own captions are masked already


def listwise_groups(rows: np.ndarray, owner: np.ndarray, img_neg: np.ndarray, txt_neg: np.ndarray,
                    caps_of: list[np.ndarray], n_img: int, cfg, rng) -> tuple[np.ndarray, np.ndarray]:
    """Candidate groups [2B, group] of (caption row, image) pairs, correct pair first: for each
    caption its image against wrong images (t->i), and for its image that caption against
    captions of other images (i->t). Wrong ones are mostly the dual encoder's hardest."""
    g, n_rand = cfg.group, cfg.random_in_group
    n_hard = g - 1 - n_rand
    t_rows, i_rows = [], []
    for r in rows:
        img = owner[r]
        hard_i = rng.choice(img_neg[r], n_hard, replace=False)
        rand_i = rng.integers(0, n_img, n_rand)
        rand_i = np.where(rand_i == img, (rand_i + 1) % n_img, rand_i)
        t_rows.append(np.full(g, r))
        i_rows.append(np.concatenate([[img], hard_i, rand_i]))
        hard_t = rng.choice(txt_neg[img], n_hard, replace=False)
        rand_t = rng.integers(0, len(owner), n_rand)
        rand_t = np.where(owner[rand_t] == img, caps_of[(img + 1) % n_img][0], rand_t)
        t_rows.append(np.concatenate([[r], hard_t, rand_t]))
        i_rows.append(np.full(g, img))
    return np.stack(t_rows), np.stack(i_rows)


def group_logits(head: ITMHead, data: "TokenData", t_rows: np.ndarray, i_rows: np.ndarray, views: torch.Tensor) -> torch.Tensor:
    """ITM logits for every pair of the groups; each distinct image view is projected once."""
    flat_i = torch.as_tensor(i_rows.reshape(-1))
    key = views * len(data.pairs.images) + flat_i
    uniq, inv = torch.unique(key, return_inverse=True)
    u_views, u_imgs = uniq // len(data.pairs.images), uniq % len(data.pairs.images)
    mem = data.memory(head, u_views, u_imgs)[inv]
    h, m = data.text(torch.as_tensor(t_rows.reshape(-1)))
    return head(mem, h, m, text_is_features=data.aligned).view(t_rows.shape)
