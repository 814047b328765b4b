"""Models: registry, dual encoders, ITM reranker. `load_model(name)` gives a DualEncoder.

Imports are lazy so that torch-free paths (a cold text query) never import PyTorch.
"""
from __future__ import annotations

from .registry import ARCHITECTURES, DEFAULT_MODEL, ModelSpec, known_models, resolve

__all__ = ["DualEncoder", "load_model", "build_untrained", "default_device", "resolve", "known_models",
           "DEFAULT_MODEL", "save_checkpoint", "read_checkpoint", "ModelSpec", "ARCHITECTURES"]

_LAZY = {
    "DualEncoder": ".base",
    "load_model": ".loading",
    "build_untrained": ".loading",
    "default_device": ".loading",
    "save_checkpoint": ".checkpoint",
    "read_checkpoint": ".checkpoint",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(name)
