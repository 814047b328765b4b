"""The learning-rate schedule both training loops use: linear warm-up, then cosine decay to 0."""
from __future__ import annotations

import math


def lr_factor(step: int, total: int, warmup: int) -> float:
    warm = min(1.0, (step + 1) / max(1, warmup))
    return warm * 0.5 * (1 + math.cos(math.pi * min(1.0, step / max(1, total))))


def set_lr(optimizer, base_lrs: list[float], step: int, total: int, warmup: int) -> None:
    f = lr_factor(step, total, warmup)
    for group, lr in zip(optimizer.param_groups, base_lrs):
        group["lr"] = lr * f
