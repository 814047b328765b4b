"""A model's identity as a collection records it, and the check that refuses another model.
Torch-free, so that opening a collection does not import PyTorch."""
from __future__ import annotations

from typing import Any

from ..errors import ModelMismatchError, ModelUnavailableError


def model_record(model) -> dict[str, Any]:
    return {"name": model.name, "config": model.config, "fingerprint": model.fingerprint, "embed_dim": model.embed_dim}


def check_model(expected: dict[str, Any], model, collection: str) -> None:
    if expected["fingerprint"] != model.fingerprint or expected["config"] != model.config:
        raise ModelMismatchError(
            f"collection {collection!r} was built with model {expected['name']!r} "
            f"(fingerprint {expected['fingerprint']}); {model.name!r} (fingerprint {model.fingerprint}) "
            f"cannot search it. Use --model {expected['name']}, or ingest into a new collection with --collection.")


def require_identified(model) -> None:
    """Only a model whose weights are identified may build a collection: vectors of random or
    unsaved weights are noise that changes between processes."""
    if model.fingerprint is None:
        raise ModelUnavailableError(
            f"model {model.name!r} has no identified weights (an open_clip architecture without a pretrained tag, "
            f"or heads never saved); name a pretrained tag (openclip:<arch>/<tag>), or train it with `vsearch train` "
            f"and pass the checkpoint path as --model")
