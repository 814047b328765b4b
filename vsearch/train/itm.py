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

from ..cache import cache_dir
from ..errors import InvalidOptionError
from ..evaluation.pairs import load_pairs
from ..evaluation.recall import recall_at_k
from ..evaluation.rerank import rerank_recalls
from ..models import load_model, save_checkpoint
from ..models.itm import ITMConfig, ITMHead, locked_towers
from ..progress import Reporter, report
from .checkpointing import load_state, save_state, seed_everything, state_path
from .itm_data import TokenData, dual_similarities, group_logits, hard_negatives, listwise_groups, score_pairs
from .schedule import lr_factor


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
    cache_dir: Path | None = None    # default: the vsearch cache's train/ folder

    def __post_init__(self) -> None:
        if self.objective not in ("listwise", "bce"):
            raise InvalidOptionError(f"unknown ITM objective {self.objective!r}; known: listwise, bce")
        if self.inputs not in ("towers", "aligned"):
            raise InvalidOptionError(f"unknown ITM inputs {self.inputs!r}; known: towers, aligned")
        if self.style not in ("cross", "single"):
            raise InvalidOptionError(f"unknown ITM style {self.style!r}; known: cross, single")
        if self.cache_dir is None:
            object.__setattr__(self, "cache_dir", cache_dir("train"))


def train_itm(cfg: ITMTrainConfig, on_epoch: Callable[[dict], None] | None = None,
              progress: Reporter | None = None) -> dict[str, Any]:
    seed_everything(cfg.seed)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    run = _prepare(cfg, progress)
    history: list[dict] = []
    best, start = -1.0, 0
    modules = {"head": run.head, "log_alpha": run.log_alpha}
    if cfg.resume and state_path(out).is_file():
        st = load_state(out, modules, run.opt)
        start, run.step, best, history = st["epoch"] + 1, st["step"], st["best"], st["history"]
    step_fn = _listwise_step if run.listwise else _bce_step
    for epoch in range(start, cfg.epochs):
        rec = _epoch(run, epoch, step_fn, progress)
        history.append(rec)
        extra = {"epoch": epoch + 1, "dev": rec["dev_rerank"], "alpha": rec.pop("alpha"),
                 "train_config": json.loads(json.dumps(dataclasses.asdict(cfg), default=str)),
                 "dual_encoder": cfg.dual_encoder, "dual_fingerprint": run.dual.fingerprint}
        save_checkpoint(out / "last.safetensors", run.icfg.to_json(), run.head.state_dict(), extra)
        if rec["score"] > best:
            best = rec["score"]
            save_checkpoint(out / "best.safetensors", run.icfg.to_json(), run.head.state_dict(), extra)
        save_state(out, modules, run.opt, {"epoch": epoch, "step": run.step, "best": best, "history": history})
        if on_epoch:
            on_epoch(rec)
    chosen = _choose_fusion(run, out)
    return {"best": str(out / "best.safetensors"), "history": history, "alpha": chosen["alpha"], "default_k": chosen["k"]}


@dataclass
class _Run:
    """What training reads and changes: data, the dual encoder's similarities and hard negatives,
    the head and its optimiser."""
    cfg: ITMTrainConfig
    train_d: TokenData
    dev_d: TokenData
    dual: Any
    dev_sim: np.ndarray
    train_sim16: torch.Tensor
    owner: np.ndarray                # caption row -> its image
    img_neg: np.ndarray
    txt_neg: np.ndarray
    icfg: ITMConfig
    head: ITMHead
    log_alpha: torch.nn.Parameter
    params: list
    opt: torch.optim.Optimizer
    rng: np.random.Generator
    caps_of: list[np.ndarray]        # image -> its caption rows
    step: int = 0

    @property
    def listwise(self) -> bool:
        return self.cfg.objective == "listwise"

    @property
    def n_img(self) -> int:
        return len(self.train_d.pairs.images)


def _prepare(cfg: ITMTrainConfig, progress: Reporter | None) -> _Run:
    train_p = load_pairs(cfg.data, "train", cfg.limit_train)
    dev_p = load_pairs(cfg.data, "dev", cfg.dev_images)
    towers = locked_towers().build()
    train_d = TokenData(towers, train_p, cfg, hflip=True, progress=progress)
    dev_d = TokenData(towers, dev_p, cfg, hflip=False, progress=progress)
    dual = load_model(cfg.dual_encoder, "cpu")
    train_sim = dual_similarities(dual, train_d, cfg.cache_dir)
    dev_sim = dual_similarities(dual, dev_d, cfg.cache_dir)
    owner = train_p.caption_image
    img_neg, txt_neg = hard_negatives(train_sim, owner, cfg.hard_pool, cfg.hard_skip)
    train_sim16 = torch.from_numpy(train_sim.astype(np.float16))
    del train_sim
    icfg, head = _head(cfg, dual, train_d, dev_d, progress)
    # Listwise: the fused score is ITM logit + alpha * dual similarity (as at query time), so the
    # head starts from the dual encoder's ranking and learns what it gets wrong.
    log_alpha = torch.nn.Parameter(torch.tensor(math.log(20.0)))
    params = [p for p in head.parameters() if p.requires_grad] + ([log_alpha] if cfg.objective == "listwise" else [])
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    caps_of = [np.flatnonzero(owner == i) for i in range(len(train_p.images))]
    return _Run(cfg, train_d, dev_d, dual, dev_sim, train_sim16, owner, img_neg, txt_neg, icfg, head, log_alpha,
                params, opt, np.random.default_rng(cfg.seed), caps_of)


def _head(cfg: ITMTrainConfig, dual, train_d: TokenData, dev_d: TokenData,
          progress: Reporter | None) -> tuple[ITMConfig, ITMHead]:
    """A new head; with aligned inputs, its adapters are the dual encoder's heads."""
    aligned = {}
    if cfg.inputs == "aligned":
        if not dual.capabilities.itm_aligned:
            raise InvalidOptionError("aligned ITM inputs need an align-lite dual encoder with a locked image tower")
        aligned = dict(inputs="aligned", embed_dim=dual.embed_dim, head_hidden=dual.config["head_hidden"],
                       dual_encoder=cfg.dual_encoder)
    icfg = ITMConfig(style=cfg.style, width=cfg.width, layers=cfg.layers, image_token_dim=cfg.image_token_dim,
                     image_tokens=int(train_d.img.shape[-1] * train_d.img.shape[-2]), **aligned)
    head = ITMHead(icfg)
    if aligned:
        head.image_adapter.load_state_dict(dual.image.head.state_dict())
        head.text_adapter.load_state_dict(dual.text.head.state_dict())
        dual.eval()
        train_d.align(head, dual, cfg.cache_dir, progress)
        dev_d.align(head, dual, cfg.cache_dir, progress)
        # The stored-token projection starts as the principal axes of image positions in the
        # joint space: a random one loses most of what word-to-position matching needs.
        sample = train_d.aimg[0, :: max(1, train_d.aimg.shape[1] // 1000)].float().reshape(-1, icfg.embed_dim)
        _, _, v = torch.pca_lowrank(sample - sample.mean(0), q=icfg.image_token_dim, center=False)
        with torch.no_grad():
            head.shared_proj.weight.copy_(v[:, :icfg.image_token_dim].T)
    return icfg, head


def _epoch(run: _Run, epoch: int, step_fn, progress: Reporter | None) -> dict[str, Any]:
    """One epoch of steps of the configured objective, then the dev rerank it gives."""
    cfg, head = run.cfg, run.head
    head.train()
    erng = np.random.default_rng(cfg.seed * 1000 + epoch)
    if run.listwise:  # one caption per image per epoch (a different one each epoch) keeps a CPU epoch to minutes
        perm = np.array([c[erng.integers(len(c))] for c in run.caps_of])[erng.permutation(run.n_img)]
    else:
        perm = erng.permutation(len(run.owner))
    steps = (run.n_img if run.listwise else len(run.owner)) // cfg.batch_size
    total = steps * cfg.epochs
    losses: list[float] = []
    task = f"itm epoch {epoch + 1}/{cfg.epochs}"
    for s in range(steps):
        for g in run.opt.param_groups:
            g["lr"] = cfg.lr * lr_factor(run.step, total, 50)
        losses.append(step_fn(run, perm[s * cfg.batch_size:(s + 1) * cfg.batch_size]))
        run.step += 1
        alpha = f", alpha {run.log_alpha.exp().item():.1f}" if run.listwise else ""
        report(progress, task, s + 1, steps, "step", f"loss {np.mean(losses[-20:]):.3f}{alpha}")
    base = recall_at_k(run.dev_sim, run.dev_d.pairs.caption_image)
    head.eval()
    with torch.inference_mode():
        alpha_now = float(run.log_alpha.exp()) if run.listwise else 0.0
        dev = rerank_recalls(run.dev_sim, run.dev_d.pairs.caption_image, cfg.dev_k,
                             lambda tr, ii: score_pairs(head, run.dev_d, tr, ii), alpha_now)
    rec = {"epoch": epoch + 1, "loss": float(np.mean(losses)), "dev_rerank": dev, "dev_base": base,
           "score": dev["text_to_image"]["R@1"] + dev["image_to_text"]["R@1"]}
    report(progress, task, steps, steps, "step",
           f"loss {rec['loss']:.3f}, dev R@1 t2i {base['text_to_image']['R@1']:.1f} -> {dev['text_to_image']['R@1']:.1f}, "
           f"i2t {base['image_to_text']['R@1']:.1f} -> {dev['image_to_text']['R@1']:.1f}")
    return {**rec, "alpha": alpha_now}


def _listwise_step(run: _Run, rows: np.ndarray) -> float:
    """Softmax over candidate groups (correct first) of ITM logit + alpha * dual similarity."""
    t_rows, i_rows = listwise_groups(rows, run.owner, run.img_neg, run.txt_neg, run.caps_of, run.n_img, run.cfg, run.rng)
    views = torch.as_tensor(run.rng.integers(0, run.train_d.img.shape[0], t_rows.size))
    dual_sim = run.train_sim16[torch.as_tensor(t_rows), torch.as_tensor(i_rows)].float()
    fused = group_logits(run.head, run.train_d, t_rows, i_rows, views) + run.log_alpha.exp() * dual_sim
    loss = F.cross_entropy(fused, torch.zeros(len(fused), dtype=torch.long))
    return _optimise(run, loss, run.params)


def _bce_step(run: _Run, rows: np.ndarray) -> float:
    """Binary match (ALBEF ITM): each caption with its image, a hard negative image and caption,
    and random pairs."""
    cfg, rng, owner = run.cfg, run.rng, run.owner
    n_random = int(cfg.batch_size * cfg.random_negatives)
    imgs = owner[rows]
    neg_img = run.img_neg[rows, rng.integers(0, cfg.hard_pool, len(rows))]
    neg_txt = run.txt_neg[imgs, rng.integers(0, cfg.hard_pool, len(rows))]
    r_rows = rng.choice(len(owner), n_random)
    r_imgs = rng.integers(0, run.n_img, n_random)
    ok = owner[r_rows] != r_imgs
    t_all = np.concatenate([rows, rows, neg_txt, r_rows[ok]])
    i_all = np.concatenate([imgs, neg_img, imgs, r_imgs[ok]])
    y = torch.tensor([1.0] * len(rows) + [0.0] * (2 * len(rows) + int(ok.sum())))
    views = torch.as_tensor(rng.integers(0, run.train_d.img.shape[0], len(i_all)))
    h, m = run.train_d.text(torch.as_tensor(t_all))
    mem = run.train_d.memory(run.head, views, torch.as_tensor(i_all))
    logits = run.head(mem, h, m, text_is_features=run.train_d.aligned)
    # Positives are a third of the pairs: weight them up to balance the classes.
    loss = F.binary_cross_entropy_with_logits(logits, y, pos_weight=torch.tensor(2.0 + cfg.random_negatives))
    return _optimise(run, loss, run.head.parameters())


def _optimise(run: _Run, loss: torch.Tensor, clipped) -> float:
    run.opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(clipped, 1.0)
    run.opt.step()
    return loss.item()


def _choose_fusion(run: _Run, out: Path) -> dict[str, Any]:
    """The score fusion (alpha) and default depth (k) chosen on dev with the best head, saved into
    its checkpoint: the smallest k within 0.2 points of the best (latency grows with k)."""
    from ..models.checkpoint import read_checkpoint

    _, best_state, best_extra = read_checkpoint(out / "best.safetensors")
    head = run.head
    head.load_state_dict(best_state)
    head.eval()
    grid = []
    dev_p = run.dev_d.pairs
    with torch.inference_mode():
        cache: dict = {}

        def scorer(tr, ii):
            key = (tr.tobytes(), ii.tobytes())
            if key not in cache:
                cache[key] = score_pairs(head, run.dev_d, tr, ii)
            return cache[key]

        for k in (8, 16, 32):
            for alpha in sorted({0.0, 5.0, 10.0, 20.0, 40.0, round(float(best_extra.get("alpha", 0.0)), 2)}):
                d = rerank_recalls(run.dev_sim, dev_p.caption_image, k, scorer, alpha)
                grid.append({"k": k, "alpha": alpha, "score": d["text_to_image"]["R@1"] + d["image_to_text"]["R@1"], "dev": d})
    top = max(g["score"] for g in grid)
    chosen = min((g for g in grid if g["score"] >= top - 0.2), key=lambda g: (g["k"], -g["score"]))
    best_extra.update({"alpha": chosen["alpha"], "default_k": chosen["k"], "dev_choice": chosen, "dev_grid": grid})
    save_checkpoint(out / "best.safetensors", run.icfg.to_json(), best_state, best_extra)
    return chosen
