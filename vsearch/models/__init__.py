"""Models: registry, families, dual encoders, ITM reranker. `load_model(name)` gives a DualEncoder.

Imports are lazy so that torch-free paths (a cold text query) never import PyTorch.
"""
from __future__ import annotations

import importlib

from .families import Capabilities, capabilities
from .registry import ARCHITECTURES, DEFAULT_MODEL, MODELS, ModelCard, ModelSpec, known_models, resolve

_LAZY = {
    "DualEncoder": ".base",
    "load_model": ".loading",
    "build_untrained": ".loading",
    "default_device": ".loading",
    "save_checkpoint": ".checkpoint",
    "read_checkpoint": ".checkpoint",
}

__all__ = ["ARCHITECTURES", "DEFAULT_MODEL", "MODELS", "Capabilities", "ModelCard", "ModelSpec", "capabilities",
           "known_models", "resolve", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(name)
