"""Seeding and resumable run state, shared by both training loops.

The state a run resumes from (`last.state.safetensors`: model and optimizer tensors, RNG state,
and a JSON record of epoch, step, best score and history) is written atomically and holds
tensors and JSON only: no pickle, so a state file cannot run code when loaded.
"""
from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..atomic import atomic_write
from ..errors import CheckpointError

STATE_FILE = "last.state.safetensors"


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def state_path(out: Path) -> Path:
    return Path(out) / STATE_FILE


def save_state(out: Path, modules: dict[str, Any], optimizer: torch.optim.Optimizer, record: dict[str, Any]) -> Path:
    """`modules`: name -> nn.Module or tensor (saved by name); `record`: JSON-able progress."""
    from safetensors.torch import save_file

    tensors: dict[str, torch.Tensor] = {"rng": torch.get_rng_state()}
    for name, m in modules.items():
        items = m.state_dict().items() if hasattr(m, "state_dict") else [("", m)]
        # Copies: safetensors refuses tensors that share storage (tied weights).
        tensors.update({f"{name}.{k}" if k else name: v.detach().cpu().clone().contiguous() for k, v in items})
    opt = optimizer.state_dict()
    for pid, st in opt["state"].items():
        for k, v in st.items():
            tensors[f"optimizer.{pid}.{k}"] = torch.as_tensor(v).detach().cpu().clone().contiguous()
    meta = {"record": json.dumps(record), "param_groups": json.dumps(opt["param_groups"]),
            "modules": json.dumps(sorted(modules))}
    return atomic_write(state_path(out), lambda tmp: save_file(tensors, str(tmp), metadata=meta), point="train-state")


def load_state(out: Path, modules: dict[str, Any], optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """Restore modules, optimizer and RNG from `out`; returns the saved record."""
    from safetensors import safe_open

    path = state_path(out)
    try:
        with safe_open(str(path), "pt") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as e:
        raise CheckpointError(f"cannot resume from {path} ({e}); start again without --resume") from e
    for name, m in modules.items():
        if hasattr(m, "load_state_dict"):
            part = {k[len(name) + 1:]: v for k, v in tensors.items() if k.startswith(name + ".")}
            m.load_state_dict(part, strict=False)
        else:
            m.data.copy_(tensors[name])
    state: dict[int, dict[str, torch.Tensor]] = {}
    for k, v in tensors.items():
        if k.startswith("optimizer."):
            _, pid, name = k.split(".", 2)
            state.setdefault(int(pid), {})[name] = v
    optimizer.load_state_dict({"state": state, "param_groups": json.loads(meta["param_groups"])})
    torch.set_rng_state(tensors["rng"])
    return json.loads(meta["record"])
