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
    hard_skip: int = 0               # ... after skipping its first few (often true matches)
    random_negatives: float = 0.5    # fraction of extra random negatives per positive
    dev_images: int = 300            # dev slice scored each epoch (rerank of the top dev_k)
    limit_train: int | None = None
    dev_k: int = 16
    inputs: str = "towers"           # towers | aligned (through the dual encoder's heads; see models/itm.py)
    objective: str = "bce"           # bce (binary match, ALBEF ITM) | listwise (softmax over a candidate group, on top of the dual score)
    group: int = 8                   # listwise: candidates per query (1 correct + hard and random wrong ones)
    random_in_group: int = 2         # listwise: how many of the wrong candidates are random, not hard
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

        self.aligned = False

    def align(self, head: ITMHead, dual, cache_dir: Path, progress: bool) -> None:
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
    so re-runs (resume, a sweep of settings) skip the encoding. None for untrained weights."""
    import hashlib

    if dual.fingerprint == "untrained":
        return None
    key = hashlib.sha1(f"{dual.fingerprint}|{Path(pairs.root).resolve()}|{pairs.split}|{len(pairs.images)}|"
                       f"{len(pairs.captions)}".encode()).hexdigest()[:16]
    return Path(cache_dir) / f"{kind}-{key}"


def aligned_text_cache(dual, head: ITMHead, pairs: Pairs, cache_dir: Path, progress: bool) -> tuple[torch.Tensor, torch.Tensor]:
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
        for i in tqdm(range(0, len(ids), 256), desc=f"word tokens ({pairs.split})", disable=not progress):
            rows = order[i:i + 256]
            t = int(mask[rows].sum(1).max())
            h = dual.text.tail(dual.text.trunk(ids[rows, :t], mask[rows, :t]), mask[rows, :t])
            out[rows, :t] = head.text_adapter(h).half()
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"tokens": out, "mask": mask}, path)
    return out, mask


@torch.inference_mode()
def dual_similarities(dual, data: TokenData, cache_dir: Path = Path(".cache/vsearch")) -> np.ndarray:
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

    base = _dual_cache("dual", dual, pairs, cache_dir)
    path = base.with_suffix(".npz") if base else None
    if path is not None and path.is_file():
        d = np.load(path)
        return d["text"].astype(np.float32) @ d["image"].astype(np.float32).T
    img, _ = encode_image_files(dual, pairs.images)
    txt = encode_texts(dual, pairs.captions)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, text=txt.astype(np.float32), image=img.astype(np.float32))
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


def _hard_negatives(sim: np.ndarray, owner: np.ndarray, pool: int, skip: int = 0) -> tuple[np.ndarray, np.ndarray]:
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


def _listwise_groups(rows: np.ndarray, owner: np.ndarray, img_neg: np.ndarray, txt_neg: np.ndarray,
                     caps_of: list[np.ndarray], n_img: int, cfg: ITMTrainConfig, rng) -> tuple[np.ndarray, np.ndarray]:
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


def _group_logits(head: ITMHead, data: "TokenData", t_rows: np.ndarray, i_rows: np.ndarray, views: torch.Tensor) -> torch.Tensor:
    """ITM logits for every pair of the groups; each distinct image view is projected once."""
    flat_i = torch.as_tensor(i_rows.reshape(-1))
    key = views * len(data.pairs.images) + flat_i
    uniq, inv = torch.unique(key, return_inverse=True)
    u_views, u_imgs = uniq // len(data.pairs.images), uniq % len(data.pairs.images)
    mem = data.memory(head, u_views, u_imgs)[inv]
    h, m = data.text(torch.as_tensor(t_rows.reshape(-1)))
    return head(mem, h, m, text_is_features=data.aligned).view(t_rows.shape)


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
    train_sim = dual_similarities(dual, train_d, cfg.cache_dir)
    dev_sim = dual_similarities(dual, dev_d, cfg.cache_dir)
    owner = train_p.caption_image
    img_neg, txt_neg = _hard_negatives(train_sim, owner, cfg.hard_pool, cfg.hard_skip)
    train_sim16 = torch.from_numpy(train_sim.astype(np.float16))
    del train_sim

    aligned = {}
    if cfg.inputs == "aligned":
        if not isinstance(dual, AlignLite) or dual.config.get("image_tail_stages") != 0:
            raise ValueError("aligned ITM inputs need an align-lite dual encoder with a locked image tower")
        aligned = dict(inputs="aligned", embed_dim=dual.embed_dim, head_hidden=dual.config["head_hidden"],
                       dual_encoder=cfg.dual_encoder)
    icfg = ITMConfig(style=cfg.style, width=cfg.width, layers=cfg.layers, image_token_dim=cfg.image_token_dim,
                     image_tokens=int(train_d.img.shape[-1] * train_d.img.shape[-2]), **aligned)
    head = ITMHead(icfg)
    if aligned:
        head.image_adapter.load_state_dict(dual.image.head.state_dict())
        head.text_adapter.load_state_dict(dual.text.head.state_dict())
        dual.eval()
        train_d.align(head, dual, cfg.cache_dir, cfg.progress)
        dev_d.align(head, dual, cfg.cache_dir, cfg.progress)
        # The stored-token projection starts as the principal axes of image positions in the
        # joint space: a random one loses most of what word-to-position matching needs.
        sample = train_d.aimg[0, :: max(1, train_d.aimg.shape[1] // 1000)].float().reshape(-1, icfg.embed_dim)
        _, _, v = torch.pca_lowrank(sample - sample.mean(0), q=icfg.image_token_dim, center=False)
        with torch.no_grad():
            head.shared_proj.weight.copy_(v[:, :icfg.image_token_dim].T)
    # Listwise: the fused score is ITM logit + alpha * dual similarity (as at query time), so the
    # head starts from the dual encoder's ranking and learns what it gets wrong.
    log_alpha = torch.nn.Parameter(torch.tensor(math.log(20.0)))
    params = [p for p in head.parameters() if p.requires_grad] + ([log_alpha] if cfg.objective == "listwise" else [])
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    rng = np.random.default_rng(cfg.seed)
    listwise = cfg.objective == "listwise"
    if cfg.objective not in ("listwise", "bce"):
        raise ValueError(f"unknown ITM objective {cfg.objective!r}; known: listwise, bce")
    caps_of = [np.flatnonzero(owner == i) for i in range(len(train_p.images))]
    # One caption per image per epoch (a different one each epoch) keeps a CPU epoch to minutes.
    steps_per_epoch = (len(train_p.images) if listwise else len(owner)) // cfg.batch_size
    total = steps_per_epoch * cfg.epochs
    history: list[dict] = []
    best, start, step = -1.0, 0, 0
    state_path = out / "last.state.pt"
    if cfg.resume and state_path.is_file():
        st = torch.load(state_path, weights_only=False)
        head.load_state_dict(st["head"])
        log_alpha.data.copy_(st.get("log_alpha", log_alpha.detach()))
        opt.load_state_dict(st["optimizer"])
        start, step, best, history = st["epoch"] + 1, st["step"], st["best"], st["history"]
    n_img = len(train_p.images)
    n_random = int(cfg.batch_size * cfg.random_negatives)
    for epoch in range(start, cfg.epochs):
        head.train()
        erng = np.random.default_rng(cfg.seed * 1000 + epoch)
        if listwise:
            perm = np.array([c[erng.integers(len(c))] for c in caps_of])[erng.permutation(len(caps_of))]
        else:
            perm = erng.permutation(len(owner))
        losses = []
        bar = tqdm(range(steps_per_epoch), desc=f"itm epoch {epoch + 1}/{cfg.epochs}", disable=not cfg.progress)
        for s in bar:
            rows = perm[s * cfg.batch_size:(s + 1) * cfg.batch_size]
            lr = cfg.lr * min(1.0, (step + 1) / 50) * 0.5 * (1 + math.cos(math.pi * min(1.0, step / max(1, total))))
            for g in opt.param_groups:
                g["lr"] = lr
            if listwise:
                t_rows, i_rows = _listwise_groups(rows, owner, img_neg, txt_neg, caps_of, n_img, cfg, rng)
                views = torch.as_tensor(rng.integers(0, train_d.img.shape[0], t_rows.size))
                dual_sim = train_sim16[torch.as_tensor(t_rows), torch.as_tensor(i_rows)].float()
                fused = _group_logits(head, train_d, t_rows, i_rows, views) + log_alpha.exp() * dual_sim
                loss = F.cross_entropy(fused, torch.zeros(len(fused), dtype=torch.long))
                opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(params, 1.0)
                opt.step()
                losses.append(loss.item())
                step += 1
                bar.set_postfix(loss=f"{np.mean(losses[-20:]):.3f}", alpha=f"{log_alpha.exp().item():.1f}")
                continue
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
            h, m = train_d.text(torch.as_tensor(t_all))
            mem = train_d.memory(head, views, torch.as_tensor(i_all))
            logits = head(mem, h, m, text_is_features=train_d.aligned)
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
            alpha_now = float(log_alpha.exp()) if listwise else 0.0
            dev = rerank_recalls(dev_sim, dev_p.caption_image, cfg.dev_k,
                                 lambda tr, ii: score_pairs(head, dev_d, tr, ii), alpha_now)
        score = dev["text_to_image"]["R@1"] + dev["image_to_text"]["R@1"]
        rec = {"epoch": epoch + 1, "loss": float(np.mean(losses)), "dev_rerank": dev, "dev_base": base, "score": score}
        history.append(rec)
        if cfg.progress:
            tqdm.write(f"itm epoch {epoch + 1}: loss {rec['loss']:.3f}  dev R@1 t2i {base['text_to_image']['R@1']:.1f} -> "
                       f"{dev['text_to_image']['R@1']:.1f}, i2t {base['image_to_text']['R@1']:.1f} -> {dev['image_to_text']['R@1']:.1f}")
        extra = {"epoch": epoch + 1, "dev": dev, "alpha": alpha_now, "train_config": json.loads(json.dumps(dataclasses.asdict(cfg), default=str)),
                 "dual_encoder": cfg.dual_encoder, "dual_fingerprint": dual.fingerprint}
        save_checkpoint(out / "last.safetensors", icfg.to_json(), head.state_dict(), extra)
        if score > best:
            best = score
            save_checkpoint(out / "best.safetensors", icfg.to_json(), head.state_dict(), extra)
        torch.save({"head": head.state_dict(), "log_alpha": log_alpha.detach(), "optimizer": opt.state_dict(), "epoch": epoch, "step": step,
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
            for alpha in sorted({0.0, 5.0, 10.0, 20.0, 40.0, round(float(best_extra.get("alpha", 0.0)), 2)}):
                d = rerank_recalls(dev_sim, dev_p.caption_image, k, scorer, alpha)
                grid.append({"k": k, "alpha": alpha, "score": d["text_to_image"]["R@1"] + d["image_to_text"]["R@1"], "dev": d})
    # Prefer the smallest k within 0.2 points of the best: latency grows with k.
    top = max(g["score"] for g in grid)
    chosen = min((g for g in grid if g["score"] >= top - 0.2), key=lambda g: (g["k"], -g["score"]))
    best_extra.update({"alpha": chosen["alpha"], "default_k": chosen["k"], "dev_choice": chosen, "dev_grid": grid})
    save_checkpoint(out / "best.safetensors", icfg.to_json(), best_state, best_extra)
    return {"best": str(out / "best.safetensors"), "history": history, "alpha": chosen["alpha"], "default_k": chosen["k"]}
