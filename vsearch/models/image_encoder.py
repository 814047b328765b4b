"""Image encoding: uint8 pixel batches -> L2-normalised vectors (and, for a reranker that reads the
same feature map, its image tokens), by the fastest backend the model has.

On a CPU, a model whose image path exports to ONNX (capability `onnx_image`) runs through ONNX
Runtime, whatever the batch count: ~4x eager PyTorch here with the same vectors (cosine 1.0000,
tests/test_models.py), and no PyTorch import at all once the graph is cached. PyTorch serves a
CUDA device (fp16 autocast), `backend="torch"`, training-mode models and families that do not
export; if ONNX Runtime fails under `auto`, PyTorch takes over with a warning.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..errors import InvalidOptionError
from .handle import ModelHandle
from .precision import DEFAULT_PRECISION, check_precision_name
from .token_reranker import TokenReranker

if TYPE_CHECKING:
    from .base import DualEncoder

BACKENDS = ("auto", "torch", "onnx")


def encoder_for(handle: ModelHandle, backend: str = "auto", reranker: TokenReranker | None = None) -> "ImageEncoder":
    """The handle's image encoder for this backend, reranker and the handle's precision, made
    once (an ONNX Runtime session is worth keeping)."""
    key = (backend, reranker.fingerprint if reranker else None, handle.precision)
    if key not in handle.encoders:
        handle.encoders[key] = ImageEncoder(handle, backend, reranker, handle.precision)
    return handle.encoders[key]


def encode_images(handle: ModelHandle, pixels: np.ndarray | list[np.ndarray]) -> np.ndarray:
    """uint8 [n, h, w, 3] (the model's `preprocess.to_pixels`) -> normalised float32 [n, d]."""
    return encoder_for(handle).encode(pixels)[0]


class ImageEncoder:
    def __init__(self, model: "ModelHandle | DualEncoder", backend: str = "auto", reranker=None,
                 precision: str | None = None):
        """`precision`: fp32 or int8 (models/precision.py); default: the handle's (fp32 for a model)."""
        if backend not in BACKENDS:
            raise ValueError(f"unknown encoder backend {backend!r}; known: {', '.join(BACKENDS)}")
        self.handle = ModelHandle.open(model)
        self.precision = check_precision_name(precision or self.handle.precision)
        reduced = self.precision != DEFAULT_PRECISION
        if reduced and backend == "torch":
            raise InvalidOptionError(f"{self.precision} image encoding runs through ONNX Runtime, not the torch backend")
        rr = TokenReranker.of(reranker) if reranker is not None else None
        # With a reranker that reads this model's final feature map, each batch also yields the
        # reranker's image tokens, from the same forward pass.
        self.reranker = rr if self.handle.reads_feature_map(rr) else None
        self.backend = "torch"
        self._onnx = None
        if reduced or self.handle.wants_onnx(backend):
            try:
                from .onnx_runtime import OnnxImageEncoder

                self._onnx = OnnxImageEncoder(self.handle.exports.image_graph(self.reranker, self.precision))
                self.backend = "onnx"
            except Exception as e:  # onnxruntime missing or export failed: PyTorch still works (at fp32 only)
                if backend == "onnx" or reduced:
                    raise
                import warnings

                warnings.warn(f"ONNX Runtime unavailable ({e}); encoding with PyTorch", stacklevel=2)
        if self.backend == "torch":
            model = self.handle.torch_model()
            if model.device.type == "cpu":
                import torch

                model.to(memory_format=torch.channels_last)
        self.preprocess = self.handle.preprocess

    @property
    def model(self) -> "DualEncoder":
        """The PyTorch model (loaded if it was not)."""
        return self.handle.torch_model()

    def __call__(self, pixels: list[np.ndarray] | np.ndarray) -> np.ndarray:
        return self.encode(pixels)[0]

    def encode(self, pixels: list[np.ndarray] | np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """(vectors [n, d], reranker tokens [n, positions, dim] or None) of uint8 [n, h, w, 3]."""
        batch = np.stack(pixels) if isinstance(pixels, list) else np.asarray(pixels)
        if self._onnx is not None:
            out = self._onnx.encode_all(self.preprocess.normalize_array(batch))
            return out[0], (out[1] if self.reranker is not None else None)
        return self._encode_torch(batch)

    def _encode_torch(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        import torch

        model = self.handle.torch_model()
        x = model.preprocess.normalize(batch).to(model.device)
        autocast = torch.autocast("cuda", dtype=torch.float16) if model.device.type == "cuda" else torch.autocast("cpu", enabled=False)
        if self.reranker is None:
            with autocast:
                return model.encode_images(x), None
        from .onnx_export import image_vectors_and_tokens

        with torch.inference_mode(), autocast:
            vec, tok = image_vectors_and_tokens(model, self.reranker.head.image_bottleneck.to(x.device), x)
        return vec.float().cpu().numpy(), tok.float().cpu().numpy()
