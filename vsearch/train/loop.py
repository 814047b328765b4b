"""The training loop: dual encoders on image–caption pairs, best checkpoint chosen on dev.

Two data paths share one loop:
  * cached (align-lite with locked trunks): trunk outputs are computed once and the loop trains
    the tower tails, heads and temperature on them — minutes on a CPU;
  * end-to-end (open_clip architectures, or any model whose towers are fully tuned): images are
    decoded and pushed through the whole image tower every step.
"""
from __future__ import annotations

import dataclasses
import json
import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch
from torch.nn import functional as F
from tqdm import tqdm

from ..benchmark import Pairs, load_pairs
from ..evaluate import recall_at_k, rsum
from ..models import build_untrained, save_checkpoint
from . import losses

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
    cache_dir: Path = Path(".cache/vsearch")
    device: str | None = None
    progress: bool = True


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
        raise ValueError(f"unknown preset {name!r}; known: {', '.join(presets)}")
    return presets[name]


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


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
    model = build_untrained(cfg.model)
    if model.config.get("family") == "align-lite":
        from ..models.align_lite import AlignLite

        model = AlignLite(cfg.model, _tails(cfg, model.config), None, "untrained").build()
    return model.to(cfg.device or ("cuda" if torch.cuda.is_available() else "cpu"))


_HEAD_PARTS = ("head.", "attn_pool.")  # trained at the head learning rate


class _CachedTask:
    """align-lite with locked trunks: batches of cached trunk outputs."""

    def __init__(self, model, train: Pairs, dev: Pairs, cfg: TrainConfig):
        self.model, self.cfg, self.train, self.dev = model, cfg, train, dev
        cache = Path(cfg.cache_dir)
        from .features import image_trunk_cache, text_trunk_cache

        self.img = image_trunk_cache(model, train, cache, cfg.hflip, cfg.workers, progress=cfg.progress)
        self.txt, self.mask = text_trunk_cache(model, train, cache, progress=cfg.progress)
        self.dev_img = image_trunk_cache(model, dev, cache, False, cfg.workers, progress=cfg.progress)[0]
        self.dev_txt, self.dev_mask = text_trunk_cache(model, dev, cache, progress=cfg.progress)
        for p in model.parameters():
            p.requires_grad_(False)
        self.params_tail = [p for t in (model.image, model.text) for n, p in t.named_parameters()
                            if any(n.startswith(x) for x in t.tail_prefixes()) and not n.startswith(_HEAD_PARTS)]
        self.params_head = [p for t in (model.image, model.text) for n, p in t.named_parameters()
                            if n.startswith(_HEAD_PARTS)] + [model.logit_scale]
        for p in self.params_tail + self.params_head:
            p.requires_grad_(True)

    def train_mode(self) -> None:
        m = self.model
        m.train()
        # Locked trunks keep their BatchNorm statistics.
        for n, mod in m.image.backbone.named_modules():
            if isinstance(mod, torch.nn.BatchNorm2d) and not any(("backbone." + n + ".").startswith(p) for p in m.image.tail_prefixes()):
                mod.eval()

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


class _EndToEndTask:
    """Any DualEncoder trained through its whole image tower (open_clip, full fine-tuning)."""

    def __init__(self, model, train: Pairs, dev: Pairs, cfg: TrainConfig):
        from ..pipeline.encode import encode_image_files

        self.model, self.cfg, self.train, self.dev = model, cfg, train, dev
        self._encode_image_files = encode_image_files
        self.pixels = self._decode_all(train.images)
        for p in model.parameters():
            p.requires_grad_(True)
        self.params_tail, self.params_head = [p for p in model.parameters()], []

    def _decode_all(self, paths):
        from ..pipeline.encode import iter_pixels

        return np.stack(list(iter_pixels(paths, self.model.preprocess, self.cfg.workers)))

    def train_mode(self) -> None:
        self.model.train()

    batches = _CachedTask.batches

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
        from ..pipeline.encode import encode_texts

        img, _ = self._encode_image_files(self.model, self.dev.images, workers=self.cfg.workers)
        return img, encode_texts(self.model, self.dev.captions)


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
    raise ValueError(f"unknown loss {cfg.loss!r}; known: {', '.join(losses.LOSSES)}")


def _state_path(out: Path) -> Path:
    return out / "last.state.pt"


def train(cfg: TrainConfig, on_epoch: Callable[[dict], None] | None = None) -> TrainResult:
    if cfg.mode not in MODES:
        raise ValueError(f"unknown mode {cfg.mode!r}; known: {', '.join(MODES)}")
    seed_everything(cfg.seed)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    model = _build_model(cfg)
    train_pairs = load_pairs(cfg.data, cfg.train_split, cfg.limit_train)
    dev_pairs = load_pairs(cfg.data, cfg.dev_split, cfg.limit_dev)
    cached = model.config.get("family") == "align-lite" and cfg.mode != "full"
    task = (_CachedTask if cached else _EndToEndTask)(model, train_pairs, dev_pairs, cfg)
    loss_fn, extra_params = _loss_fn(cfg, model)
    groups = [{"params": task.params_head + extra_params, "lr": cfg.lr}]
    if task.params_tail:
        groups.append({"params": task.params_tail, "lr": cfg.tail_lr if cached else cfg.lr})
    opt = torch.optim.AdamW(groups, weight_decay=cfg.weight_decay)
    steps_per_epoch = sum(1 for _ in task.batches(np.random.default_rng(0)))
    total = max(1, steps_per_epoch * cfg.epochs)
    base_lrs = [g["lr"] for g in opt.param_groups]

    def set_lr(step: int) -> None:
        warm = min(1.0, (step + 1) / max(1, cfg.warmup_steps))
        cos = 0.5 * (1 + math.cos(math.pi * min(1.0, step / total)))
        for g, lr in zip(opt.param_groups, base_lrs):
            g["lr"] = lr * warm * cos

    start_epoch, step, best, best_epoch, history = 0, 0, -1.0, -1, []
    best_dev: dict = {}
    train_cfg_json = json.loads(json.dumps(dataclasses.asdict(cfg), default=str))
    if cfg.resume and _state_path(out).is_file():
        st = torch.load(_state_path(out), weights_only=False)
        model.load_state_dict(st["model"], strict=False)
        opt.load_state_dict(st["optimizer"])
        start_epoch, step, best, best_epoch = st["epoch"] + 1, st["step"], st["best"], st["best_epoch"]
        history, best_dev = st["history"], st["best_dev"]
        torch.set_rng_state(st["torch_rng"])
    for epoch in range(start_epoch, cfg.epochs):
        rng = np.random.default_rng(cfg.seed * 1000 + epoch)
        task.train_mode()
        bar = tqdm(task.batches(rng), total=steps_per_epoch, desc=f"epoch {epoch + 1}/{cfg.epochs}",
                   disable=not cfg.progress, unit="step")
        losses_seen = []
        for rows in bar:
            set_lr(step)
            img, txt, a, b = task.embed(rows, rng)
            loss = loss_fn(img, txt, a, b)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            with torch.no_grad():
                model.logit_scale.clamp_(0, math.log(100))
            losses_seen.append(loss.item())
            step += 1
            bar.set_postfix(loss=f"{np.mean(losses_seen[-20:]):.3f}")
        model.eval()
        dimg, dtxt = task.dev_embeddings()
        dev = recall_at_k(dtxt @ dimg.T, dev_pairs.caption_image)
        score = rsum(dev)
        rec = {"epoch": epoch + 1, "loss": float(np.mean(losses_seen)) if losses_seen else float("nan"),
               "dev": dev, "dev_rsum": score}
        history.append(rec)
        if cfg.progress:
            tqdm.write(f"epoch {epoch + 1}: loss {rec['loss']:.3f}  dev R@1 t2i {dev['text_to_image']['R@1']:.1f} "
                       f"i2t {dev['image_to_text']['R@1']:.1f}  rsum {score:.1f}")
        ckpt_cfg = dict(model.config)
        extra = {"epoch": epoch + 1, "dev": dev, "train_config": train_cfg_json}
        save_checkpoint(out / "last.safetensors", ckpt_cfg, model.trained_state(), extra)
        if score > best:
            best, best_epoch, best_dev = score, epoch + 1, dev
            save_checkpoint(out / "best.safetensors", ckpt_cfg, model.trained_state(), extra)
        torch.save({"model": {k: v for k, v in model.state_dict().items()}, "optimizer": opt.state_dict(),
                    "epoch": epoch, "step": step, "best": best, "best_epoch": best_epoch, "history": history,
                    "best_dev": best_dev, "torch_rng": torch.get_rng_state()}, _state_path(out))
        (out / "history.json").write_text(json.dumps(history, indent=1))
        if on_epoch:
            on_epoch(rec)
    return TrainResult(out / "best.safetensors", out / "last.safetensors", best_epoch, best_dev, history)
