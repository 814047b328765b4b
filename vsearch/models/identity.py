"""A model's identity as a collection records it, and the check that refuses another model.
Torch-free, so that opening a collection does not import PyTorch."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import ModelMismatchError, ModelUnavailableError


@dataclass(frozen=True)
class ModelRecord:
    """The manifest's `model` (docs/FORMAT.md): which weights made a collection's vectors."""
    name: str
    config: dict[str, Any]            # the architecture, as data (models/registry.py)
    fingerprint: str | None           # the weights' digest (None: unidentified weights)
    embed_dim: int
    precision: str | None = None      # the image encoder's (models/precision.py); None: recorded before the field

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> "ModelRecord":
        return cls(raw["name"], raw["config"], raw["fingerprint"], int(raw["embed_dim"]), raw.get("precision"))

    def to_json(self) -> dict[str, Any]:
        out = {"name": self.name, "config": self.config, "fingerprint": self.fingerprint, "embed_dim": self.embed_dim}
        return out if self.precision is None else {**out, "precision": self.precision}


def model_record(model, precision: str | None = None) -> ModelRecord:
    return ModelRecord(model.name, model.config, model.fingerprint, model.embed_dim, precision)


def check_model(expected: ModelRecord, model, collection: str) -> None:
    if expected.fingerprint != model.fingerprint or expected.config != model.config:
        raise ModelMismatchError(
            f"collection {collection!r} was built with model {expected.name!r} "
            f"(fingerprint {expected.fingerprint}); {model.name!r} (fingerprint {model.fingerprint}) "
            f"cannot search it. Use --model {expected.name}, or ingest into a new collection with --collection.")


def require_identified(model) -> None:
    """Only a model whose weights are identified may build a collection: vectors of random or
    unsaved weights are noise that changes between processes."""
    if model.fingerprint is None:
        raise ModelUnavailableError(
            f"model {model.name!r} has no identified weights (an open_clip architecture without a pretrained tag, "
            f"or heads never saved); name a pretrained tag (openclip:<arch>/<tag>), or train it with `vsearch train` "
            f"and pass the checkpoint path as --model")
