"""A model's identity as a collection records it, and the check that refuses another model.
Torch-free, so that opening a collection does not import PyTorch."""
from __future__ import annotations

from typing import Any

from ..errors import ModelMismatchError


def model_record(model) -> dict[str, Any]:
    return {"name": model.name, "config": model.config, "fingerprint": model.fingerprint, "embed_dim": model.embed_dim}


def check_model(expected: dict[str, Any], model, collection: str) -> None:
    if expected["fingerprint"] != model.fingerprint or expected["config"] != model.config:
        raise ModelMismatchError(
            f"collection {collection!r} was built with model {expected['name']!r} "
            f"(fingerprint {expected['fingerprint']}); {model.name!r} (fingerprint {model.fingerprint}) "
            f"cannot search it. Use --model {expected['name']}, or ingest into a new collection with --collection.")
