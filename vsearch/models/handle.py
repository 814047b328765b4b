"""A model as ingest and queries use it, without PyTorch whenever its exports are cached.

`ModelHandle` gives what those paths need of a model, each job in its own place:
- identity: its record (name, config, fingerprint, embed_dim, the image encoder's precision) and
  what its family declares it can do (models/families.py);
- loading: the PyTorch model, built only when PyTorch must do the work (models/torch_model.py);
- preprocessing: declared by the family, else read from an export, else the model's own;
- export: the ONNX graphs, cached or made now (models/exports.py), which serve a CPU without
  PyTorch: a first run builds the model once and writes the exports the next processes use;
- the text encoder (the ONNX text graph when exported) and the hubness correction.
`ModelHandle.open` is the one way to make one.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from .exports import Exports
from .families import Capabilities, capabilities, preprocess_of
from .identity import ModelRecord, model_record
from .onnx_runtime import read_export_info, text_encoder_for
from .precision import DEFAULT_PRECISION, check_precision_name
from .preprocess import Preprocess
from .torch_model import LazyModel

if TYPE_CHECKING:
    from .base import DualEncoder
    from .hubness import Hubness

_UNSET = object()


class ModelHandle:
    def __init__(self, record: ModelRecord, torch: LazyModel, weights: Path | None = None):
        """Made by `ModelHandle.open`; `record.precision` is set."""
        self.record = record
        self.torch = torch
        self.exports = Exports(self)
        self._weights = weights
        self._hubness: Any = _UNSET
        self._preprocess: Preprocess | None = None
        self._text: Any = _UNSET
        self.encoders: dict[tuple, Any] = {}  # models/image_encoder.py encoder_for keeps its encoders here

    @classmethod
    def open(cls, model: "str | DualEncoder | ModelHandle | None" = None, *, record: ModelRecord | None = None,
             load: Callable[[], DualEncoder] | None = None, device: str | None = None,
             precision: str | None = None) -> "ModelHandle":
        """The handle of
        - `model`, a name (registered, checkpoint path, `openclip:…`; None: the default model):
          torch-free when its weights file describes it, else loaded;
        - `model`, an already-loaded DualEncoder (its hubness correction, device and mode are used
          as they are), or a handle (itself, or a copy at another precision);
        - `record`, a collection's model known by its stored record; `load()` gives (and checks)
          the PyTorch model if one is needed.
        `precision`: the image encoder's (models/precision.py); default: the record's, else fp32."""
        precision = check_precision_name(precision) if precision is not None else None
        if isinstance(model, ModelHandle):
            if precision is None or precision == model.precision:
                return model
            return cls(replace(model.record, precision=precision), model.torch, model._weights)
        if record is not None:
            return cls(replace(record, precision=precision or record.precision or DEFAULT_PRECISION),
                       LazyModel(record, load=load, device=device))
        if model is None or isinstance(model, str):
            from .loading import load_model, weights_record

            described = weights_record(model)
            if described is not None:
                record, weights = described
                record = replace(record, precision=precision or DEFAULT_PRECISION)
                return cls(record, LazyModel(record, device=device), weights)
            model = load_model(model, device)
        record = model_record(model, precision or DEFAULT_PRECISION)
        return cls(record, LazyModel(record, model=model))

    # --- identity ------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.record.name

    @property
    def config(self) -> dict[str, Any]:
        return self.record.config

    @property
    def fingerprint(self) -> str | None:
        return self.record.fingerprint

    @property
    def embed_dim(self) -> int:
        return self.record.embed_dim

    @property
    def precision(self) -> str:
        return self.record.precision

    @property
    def identified(self) -> bool:
        return self.fingerprint is not None

    @property
    def capabilities(self) -> Capabilities:
        return capabilities(self.config)

    @property
    def weights(self) -> Path | None:
        """The weights file (sidecars such as the hubness correction and int8 calibration live
        beside it); None when the registry does not know the model any more."""
        return self._weights if self._weights is not None else _weights_of(self.name)

    # --- loading -------------------------------------------------------------------------------
    def torch_model(self) -> DualEncoder:
        """The PyTorch model (loaded now if it was not), checked to be this very model."""
        return self.torch.get()

    @property
    def device_type(self) -> str:
        return self.torch.device_type

    # --- what encoding needs -------------------------------------------------------------------
    @property
    def preprocess(self) -> Preprocess:
        if self.torch.loaded is not None:
            return self.torch.loaded.preprocess
        if self._preprocess is None:  # kept: neither a config nor a complete export's description changes
            self._preprocess = preprocess_of(self.config)
        if self._preprocess is None:
            ready = self.exports.ready_image(None)  # any image export of these weights describes the preprocessing
            self._preprocess = read_export_info(ready)["preprocess"] if ready is not None else self.torch_model().preprocess
        return self._preprocess

    @property
    def hubness(self) -> Hubness | None:
        """The model's hubness correction (numpy; no PyTorch), None when it has none."""
        if self._hubness is _UNSET:
            if self.torch.loaded is not None:
                self._hubness = self.torch.loaded.hubness
            else:
                weights = self.weights
                from .hubness import load_sidecar

                self._hubness = load_sidecar(weights, self.fingerprint) if weights and self.identified else None
        return self._hubness

    def wants_onnx(self, backend: str = "auto") -> bool:
        """Whether images go through ONNX Runtime: asked for, or (auto) a CPU, an eval-mode
        model with identified weights and a family whose image path exports."""
        if backend != "auto":
            return backend == "onnx"
        if self.precision != DEFAULT_PRECISION:  # reduced precision exists only as ONNX graphs
            return True
        if self.torch.training:
            return False
        return self.identified and self.capabilities.onnx_image and self.device_type == "cpu"

    def reads_feature_map(self, reranker) -> bool:
        """True when `reranker` (models/token_reranker.py) reads exactly this model's final image
        feature map, so its tokens come from the same forward pass."""
        mine = self.capabilities.feature_map
        return reranker is not None and mine is not None and reranker.feature_map == mine

    # --- texts ---------------------------------------------------------------------------------
    def encode_texts(self, texts: list[str], batch_size: int = 256) -> np.ndarray:
        """Normalised float32 [n, d]: through the ONNX text graph when exported, else PyTorch."""
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.embed_dim), dtype=np.float32)
        if self._text is _UNSET:
            self._text = None if self.torch.on_gpu or not self.identified else text_encoder_for(self.record)
        chunks = []
        for i in range(0, len(texts), batch_size):
            chunk = texts[i:i + batch_size]
            chunks.append(self._text.encode_texts(chunk) if self._text is not None else _torch_texts(self.torch_model(), chunk))
        return np.concatenate(chunks)


def _torch_texts(model, texts: list[str]) -> np.ndarray:
    import torch

    with torch.autocast("cuda", dtype=torch.float16, enabled=model.device.type == "cuda"):
        return model.encode_texts(texts)


def _weights_of(name: str) -> Path | None:
    from ..errors import VsearchError
    from .registry import resolve

    try:
        return resolve(name).weights
    except VsearchError:  # a model this vsearch no longer knows: no correction
        return None
