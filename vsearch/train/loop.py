"""The training loop: dual encoders on image–caption pairs, best checkpoint chosen on dev.

Two data paths (train/tasks.py) share one loop: cached trunks (minutes on a CPU) and end to end.
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

from ..atomic import atomic_write
from ..cache import cache_dir
from ..errors import InvalidOptionError
from ..evaluation.pairs import load_pairs
from ..evaluation.recall import recall_at_k, rsum
from ..models import build_untrained, resolve, save_checkpoint
from ..progress import Reporter, report
from . import losses
from .checkpointing import load_state, save_state, seed_everything, state_path
from .schedule import set_lr
from .tasks import CachedTask, EndToEndTask

MODES = ("heads", "partial", "lit", "full")


@dataclass(frozen=True)
class TrainConfig:
    data: Path
    out: Path
    model: str = "align-lite"
    mode: str = "partial"              # heads | partial | lit | full (see README)
    image_tail_stages: int | None = None
    text_tail_layers: int | None = None
    dropout: float | None = None       # head dropout (model default 0.1)
    head_hidden: int | None = None     # head MLP width (model default 1024)
    image_pool_heads: int | None = None  # learned attention pooling over the feature map (0 = mean)
    loss: str = "clip"                 # clip | align | siglip
    label_smoothing: float = 0.1       # ALIGN loss only
    epochs: int = 10
    batch_size: int = 256
    lr: float = 1e-3                   # heads and temperature
    tail_lr: float = 1e-4              # tuned tower layers
    weight_decay: float = 0.05
    warmup_steps: int = 50
    hflip: bool = True
    captions_per_epoch: str = "all"    # all | one (one random caption per image per epoch)
    train_split: str = "train"
    dev_split: str = "dev"
    limit_train: int | None = None
    limit_dev: int | None = None
    seed: int = 0
    resume: bool = False
    workers: int | None = None
    cache_dir: Path | None = None      # default: the vsearch cache's train/ folder
    device: str | None = None

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise InvalidOptionError(f"unknown mode {self.mode!r}; known: {', '.join(MODES)}")
        if self.loss not in losses.LOSSES:
            raise InvalidOptionError(f"unknown loss {self.loss!r}; known: {', '.join(losses.LOSSES)}")
        if self.epochs < 1 or self.batch_size < 2:
            raise InvalidOptionError("--epochs must be at least 1 and --batch-size at least 2")
        if self.cache_dir is None:
            object.__setattr__(self, "cache_dir", cache_dir("train"))


@dataclass
class TrainResult:
    best_checkpoint: Path
    last_checkpoint: Path
    best_epoch: int
    best_dev: dict[str, dict[str, float]]
    history: list[dict[str, Any]]


def preset(name: str) -> dict[str, Any]:
    """Settings that reproduce a shipped model (chosen on Flickr8k dev)."""
    presets = {
        "align-lite": dict(model="align-lite", mode="lit", text_tail_layers=2, loss="clip", epochs=4,
                           batch_size=256, lr=5e-4, tail_lr=5e-5, dropout=0.5, weight_decay=0.5, hflip=True,
                           captions_per_epoch="all"),
    }
    if name not in presets:
        raise InvalidOptionError(f"unknown preset {name!r}; known: {', '.join(presets)}")
    return presets[name]


def _tails(cfg: TrainConfig, model_cfg: dict[str, Any]) -> dict[str, Any]:
    out = dict(model_cfg)
    if cfg.mode == "heads":
        out.update(image_tail_stages=0, text_tail_layers=0)
    elif cfg.mode == "lit":
        out.update(image_tail_stages=0, text_tail_layers=6)
    if cfg.image_tail_stages is not None:
        out["image_tail_stages"] = cfg.image_tail_stages
    if cfg.text_tail_layers is not None:
        out["text_tail_layers"] = cfg.text_tail_layers
    if cfg.dropout is not None:
        out["dropout"] = cfg.dropout
    if cfg.head_hidden is not None:
        out["head_hidden"] = cfg.head_hidden
    if cfg.image_pool_heads is not None:
        out["image_pool_heads"] = cfg.image_pool_heads
    return out


def _build_model(cfg: TrainConfig):
    spec = resolve(cfg.model)
    overrides = _tails(cfg, spec.config) if spec.card is not None else None  # registered: tune tails as asked
    model = build_untrained(cfg.model, config_overrides=overrides)
    if hasattr(model, "build"):
        model.build()
    return model.to(cfg.device or ("cuda" if torch.cuda.is_available() else "cpu"))


def _loss_fn(cfg: TrainConfig, model) -> tuple[Callable, list[torch.nn.Parameter]]:
    if cfg.loss == "clip":
        return (lambda i, t, a, b: losses.clip_loss(i, t, model.logit_scale, a, b)), []
    if cfg.loss == "align":
        return (lambda i, t, a, b: losses.align_loss(i, t, model.logit_scale, a, b, cfg.label_smoothing)), []
    if cfg.loss == "siglip":
        bias = torch.nn.Parameter(torch.tensor(-10.0, device=model.device))
        with torch.no_grad():
            model.logit_scale.fill_(math.log(10.0))
        return (lambda i, t, a, b: losses.siglip_loss(i, t, model.logit_scale, bias, a, b)), [bias]
    raise InvalidOptionError(f"unknown loss {cfg.loss!r}; known: {', '.join(losses.LOSSES)}")


def train(cfg: TrainConfig, on_epoch: Callable[[dict], None] | None = None, progress: Reporter | None = None) -> TrainResult:
    seed_everything(cfg.seed)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    train_pairs = load_pairs(cfg.data, cfg.train_split, cfg.limit_train)
    dev_pairs = load_pairs(cfg.data, cfg.dev_split, cfg.limit_dev)
    model = _build_model(cfg)
    cached = model.capabilities.cached_trunks and cfg.mode != "full"
    task = (CachedTask if cached else EndToEndTask)(model, train_pairs, dev_pairs, cfg, progress)
    loss_fn, extra_params = _loss_fn(cfg, model)
    groups = [{"params": task.params_head + extra_params, "lr": cfg.lr}]
    if task.params_tail:
        groups.append({"params": task.params_tail, "lr": cfg.tail_lr if cached else cfg.lr})
    opt = torch.optim.AdamW(groups, weight_decay=cfg.weight_decay)
    steps_per_epoch = sum(1 for _ in task.batches(np.random.default_rng(0)))
    total = max(1, steps_per_epoch * cfg.epochs)
    base_lrs = [g["lr"] for g in opt.param_groups]
    modules = {"model": model, **({"loss_params": torch.nn.ParameterList(extra_params)} if extra_params else {})}

    start_epoch, step, best, best_epoch, history = 0, 0, -1.0, -1, []
    best_dev: dict = {}
    train_cfg_json = json.loads(json.dumps(dataclasses.asdict(cfg), default=str))
    if cfg.resume and state_path(out).is_file():
        st = load_state(out, modules, opt)
        start_epoch, step, best, best_epoch = st["epoch"] + 1, st["step"], st["best"], st["best_epoch"]
        history, best_dev = st["history"], st["best_dev"]
    for epoch in range(start_epoch, cfg.epochs):
        rng = np.random.default_rng(cfg.seed * 1000 + epoch)
        task.train_mode()
        losses_seen = []
        name = f"epoch {epoch + 1}/{cfg.epochs}"
        for i, rows in enumerate(task.batches(rng)):
            set_lr(opt, base_lrs, step, total, cfg.warmup_steps)
            img, txt, a, b = task.embed(rows, rng)
            loss = loss_fn(img, txt, a, b)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            with torch.no_grad():
                model.logit_scale.clamp_(0, math.log(100))
            losses_seen.append(loss.item())
            step += 1
            report(progress, name, i + 1, steps_per_epoch, "step", f"loss {np.mean(losses_seen[-20:]):.3f}")
        model.eval()
        dimg, dtxt = task.dev_embeddings()
        dev = recall_at_k(dtxt @ dimg.T, dev_pairs.caption_image)
        score = rsum(dev)
        rec = {"epoch": epoch + 1, "loss": float(np.mean(losses_seen)) if losses_seen else float("nan"),
               "dev": dev, "dev_rsum": score}
        history.append(rec)
        report(progress, name, steps_per_epoch, steps_per_epoch, "step",
               f"loss {rec['loss']:.3f}, dev R@1 t2i {dev['text_to_image']['R@1']:.1f} i2t {dev['image_to_text']['R@1']:.1f}")
        ckpt_cfg = dict(model.config)
        extra = {"epoch": epoch + 1, "dev": dev, "train_config": train_cfg_json}
        save_checkpoint(out / "last.safetensors", ckpt_cfg, model.trained_state(), extra)
        if score > best:
            best, best_epoch, best_dev = score, epoch + 1, dev
            save_checkpoint(out / "best.safetensors", ckpt_cfg, model.trained_state(), extra)
        save_state(out, modules, opt, {"epoch": epoch, "step": step, "best": best, "best_epoch": best_epoch,
                                       "history": history, "best_dev": best_dev})
        atomic_write(out / "history.json", json.dumps(history, indent=1).encode(), point="history", durable=False)
        if on_epoch:
            on_epoch(rec)
    return TrainResult(out / "best.safetensors", out / "last.safetensors", best_epoch, best_dev, history)
