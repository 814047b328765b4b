"""Training the ITM reranker on image–caption pairs, with hard negatives mined by the dual encoder.

The towers stay frozen: image feature maps and text hidden states come from the same caches as
dual-encoder training (align-lite with nothing tuned), so an epoch costs only the fusion layers.
For every positive pair the batch also holds, ALBEF-style, one hard negative image for the
caption and one hard negative caption for the image — drawn from the dual encoder's top
matches that are not correct — plus random negatives. A caption of the same image is never a
negative.
"""
from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch.nn import functional as F
from tqdm import tqdm

from ..benchmark import Pairs, load_pairs
from ..evaluate import recall_at_k, rerank_recalls
from ..models import load_model, save_checkpoint
from ..models.align_lite import AlignLite
from ..models.itm import ITMConfig, ITMHead, locked_towers
from .features import image_trunk_cache, text_trunk_cache
from .loop import seed_everything


@dataclass(frozen=True)
class ITMTrainConfig:
    data: Path
    out: Path
    dual_encoder: str = "align-lite"
    style: str = "cross"
    width: int = 256
    layers: int = 2
    image_token_dim: int = 64
    epochs: int = 5
    batch_size: int = 96             # positive pairs per step (x3 with negatives, + random)
    lr: float = 3e-4
    weight_decay: float = 0.05
    hard_pool: int = 16              # negatives drawn from the dual encoder's top-N wrong matches
    random_negatives: float = 0.5    # fraction of extra random negatives per positive
    dev_images: int = 300            # dev slice scored each epoch (rerank of the top dev_k)
    limit_train: int | None = None
    dev_k: int = 16
    seed: int = 0
    resume: bool = False
    workers: int | None = None
    cache_dir: Path = Path(".cache/vsearch")
    progress: bool = True


class TokenData:
    """Frozen image feature-map tokens and text hidden states of one split."""

    def __init__(self, towers: AlignLite, pairs: Pairs, cfg: ITMTrainConfig, hflip: bool):
        self.pairs = pairs
        self.img = image_trunk_cache(towers, pairs, cfg.cache_dir, hflip, cfg.workers, progress=cfg.progress)
        self.txt, self.mask = text_trunk_cache(towers, pairs, cfg.cache_dir, progress=cfg.progress)

    def image_tokens(self, idx, view=None) -> torch.Tensor:
        v = 0 if view is None else view
        return self.img[v, idx].float().flatten(2).transpose(1, 2)  # [n, positions, 1280]

    def text(self, rows) -> tuple[torch.Tensor, torch.Tensor]:
        mask = self.mask[rows]
        t = int(mask.sum(1).max())
        return self.txt[rows, :t].float(), mask[:, :t]


@torch.inference_mode()
def dual_similarities(dual, data: TokenData) -> np.ndarray:
    """[n_captions, n_images] dual-encoder similarities, from the cached trunks when the dual
    encoder's towers are locked at the same points, else by encoding the split."""
    pairs = data.pairs
    if isinstance(dual, AlignLite) and dual.image.split == 7 and dual.text.split == dual.text.n_layers:
        img = torch.cat([dual.image.from_trunk(data.img[0, i:i + 256].float()) for i in range(0, data.img.shape[1], 256)])
        txt = []
        for i in range(0, len(pairs.captions), 512):
            h, m = data.text(slice(i, i + 512))
            txt.append(dual.text.from_trunk(h, m))
        img, txt = F.normalize(img, dim=-1), F.normalize(torch.cat(txt), dim=-1)
        return (txt @ img.T).numpy()
    from ..pipeline.encode import encode_image_files, encode_texts

    img, _ = encode_image_files(dual, pairs.images)
    return encode_texts(dual, pairs.captions) @ img.T


@torch.inference_mode()
def score_pairs(head: ITMHead, data: TokenData, text_rows: np.ndarray, image_idx: np.ndarray, batch: int = 512) -> np.ndarray:
    out = []
    for i in range(0, len(text_rows), batch):
        tr, ii = text_rows[i:i + batch], image_idx[i:i + batch]
        h, m = data.text(torch.as_tensor(tr))
        mem = head.image_memory(data.image_tokens(torch.as_tensor(ii)))
        out.append(head(mem, h, m).float().numpy())
    return np.concatenate(out) if out else np.zeros(0, np.float32)


def _hard_negatives(sim: np.ndarray, owner: np.ndarray, pool: int) -> tuple[np.ndarray, np.ndarray]:
    """Per caption: top-`pool` wrong images; per image: top-`pool` captions of other images."""
    s = sim.copy()
    s[np.arange(len(owner)), owner] = -np.inf
    img_for_text = np.argpartition(-s, pool, axis=1)[:, :pool]
    st = s.T  # image -> captions, own captions are masked already
    text_for_img = np.argpartition(-st, pool, axis=1)[:, :pool]
    return img_for_text, text_for_img


def train_itm(cfg: ITMTrainConfig, on_epoch: Callable[[dict], None] | None = None) -> dict[str, Any]:
    seed_everything(cfg.seed)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    towers = locked_towers().build()
    train_p = load_pairs(cfg.data, "train", cfg.limit_train)
    dev_p = load_pairs(cfg.data, "dev", cfg.dev_images)
    train_d = TokenData(towers, train_p, cfg, hflip=True)
    dev_d = TokenData(towers, dev_p, cfg, hflip=False)
    dual = load_model(cfg.dual_encoder, "cpu")
    train_sim = dual_similarities(dual, train_d)
    dev_sim = dual_similarities(dual, dev_d)
    owner = train_p.caption_image
    img_neg, txt_neg = _hard_negatives(train_sim, owner, cfg.hard_pool)
    del train_sim

    icfg = ITMConfig(style=cfg.style, width=cfg.width, layers=cfg.layers, image_token_dim=cfg.image_token_dim,
                     image_tokens=int(train_d.img.shape[-1] * train_d.img.shape[-2]))
    head = ITMHead(icfg)
    opt = torch.optim.AdamW(head.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    rng = np.random.default_rng(cfg.seed)
    steps_per_epoch = len(owner) // cfg.batch_size
    total = steps_per_epoch * cfg.epochs
    history: list[dict] = []
    best, start, step = -1.0, 0, 0
    state_path = out / "last.state.pt"
    if cfg.resume and state_path.is_file():
        st = torch.load(state_path, weights_only=False)
        head.load_state_dict(st["head"])
        opt.load_state_dict(st["optimizer"])
        start, step, best, history = st["epoch"] + 1, st["step"], st["best"], st["history"]
    n_img = len(train_p.images)
    n_random = int(cfg.batch_size * cfg.random_negatives)
    for epoch in range(start, cfg.epochs):
        head.train()
        perm = np.random.default_rng(cfg.seed * 1000 + epoch).permutation(len(owner))
        losses = []
        bar = tqdm(range(steps_per_epoch), desc=f"itm epoch {epoch + 1}/{cfg.epochs}", disable=not cfg.progress)
        for s in bar:
            rows = perm[s * cfg.batch_size:(s + 1) * cfg.batch_size]
            imgs = owner[rows]
            neg_img = img_neg[rows, rng.integers(0, cfg.hard_pool, len(rows))]
            neg_txt = txt_neg[imgs, rng.integers(0, cfg.hard_pool, len(rows))]
            r_rows = rng.choice(len(owner), n_random)
            r_imgs = rng.integers(0, n_img, n_random)
            ok = owner[r_rows] != r_imgs
            t_all = np.concatenate([rows, rows, neg_txt, r_rows[ok]])
            i_all = np.concatenate([imgs, neg_img, imgs, r_imgs[ok]])
            y = torch.tensor([1.0] * len(rows) + [0.0] * (2 * len(rows) + int(ok.sum())))
            views = torch.as_tensor(rng.integers(0, train_d.img.shape[0], len(i_all)))
            img_tok = train_d.img[views, torch.as_tensor(i_all)].float().flatten(2).transpose(1, 2)
            h, m = train_d.text(torch.as_tensor(t_all))
            lr = cfg.lr * min(1.0, (step + 1) / 50) * 0.5 * (1 + math.cos(math.pi * min(1.0, step / max(1, total))))
            for g in opt.param_groups:
                g["lr"] = lr
            logits = head(head.image_memory(img_tok), h, m)
            # Positives are a third of the pairs: weight them up to balance the classes.
            loss = F.binary_cross_entropy_with_logits(logits, y, pos_weight=torch.tensor(2.0 + cfg.random_negatives))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(head.parameters(), 1.0)
            opt.step()
            losses.append(loss.item())
            step += 1
            bar.set_postfix(loss=f"{np.mean(losses[-20:]):.3f}")
        base = recall_at_k(dev_sim, dev_p.caption_image)
        head.eval()
        with torch.inference_mode():
            dev = rerank_recalls(dev_sim, dev_p.caption_image, cfg.dev_k,
                                 lambda tr, ii: score_pairs(head, dev_d, tr, ii))
        score = dev["text_to_image"]["R@1"] + dev["image_to_text"]["R@1"]
        rec = {"epoch": epoch + 1, "loss": float(np.mean(losses)), "dev_rerank": dev, "dev_base": base, "score": score}
        history.append(rec)
        if cfg.progress:
            tqdm.write(f"itm epoch {epoch + 1}: loss {rec['loss']:.3f}  dev R@1 t2i {base['text_to_image']['R@1']:.1f} -> "
                       f"{dev['text_to_image']['R@1']:.1f}, i2t {base['image_to_text']['R@1']:.1f} -> {dev['image_to_text']['R@1']:.1f}")
        extra = {"epoch": epoch + 1, "dev": dev, "train_config": json.loads(json.dumps(dataclasses.asdict(cfg), default=str)),
                 "dual_encoder": cfg.dual_encoder}
        save_checkpoint(out / "last.safetensors", icfg.to_json(), head.state_dict(), extra)
        if score > best:
            best = score
            save_checkpoint(out / "best.safetensors", icfg.to_json(), head.state_dict(), extra)
        torch.save({"head": head.state_dict(), "optimizer": opt.state_dict(), "epoch": epoch, "step": step,
                    "best": best, "history": history}, state_path)
        if on_epoch:
            on_epoch(rec)
    # Choose the score fusion and the default depth on dev, with the best head.
    from ..models.checkpoint import read_checkpoint

    _, best_state, best_extra = read_checkpoint(out / "best.safetensors")
    head.load_state_dict(best_state)
    head.eval()
    grid = []
    with torch.inference_mode():
        cache: dict = {}

        def scorer(tr, ii):
            key = (tr.tobytes(), ii.tobytes())
            if key not in cache:
                cache[key] = score_pairs(head, dev_d, tr, ii)
            return cache[key]

        for k in (8, 16, 32):
            for alpha in (0.0, 5.0, 10.0, 20.0, 40.0):
                d = rerank_recalls(dev_sim, dev_p.caption_image, k, scorer, alpha)
                grid.append({"k": k, "alpha": alpha, "score": d["text_to_image"]["R@1"] + d["image_to_text"]["R@1"], "dev": d})
    # Prefer the smallest k within 0.2 points of the best: latency grows with k.
    top = max(g["score"] for g in grid)
    chosen = min((g for g in grid if g["score"] >= top - 0.2), key=lambda g: (g["k"], -g["score"]))
    best_extra.update({"alpha": chosen["alpha"], "default_k": chosen["k"], "dev_choice": chosen, "dev_grid": grid})
    save_checkpoint(out / "best.safetensors", icfg.to_json(), best_state, best_extra)
    return {"best": str(out / "best.safetensors"), "history": history, "alpha": chosen["alpha"], "default_k": chosen["k"]}
