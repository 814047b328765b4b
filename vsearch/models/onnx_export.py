"""Run a model's image tower through ONNX Runtime (faster than eager PyTorch on CPUs).

The exported graph is the whole image path (trunk, tail, pooling, head, L2 normalisation) and is
cached next to the user's other caches, keyed by the model fingerprint. Optional int8 static
quantisation (QDQ, calibrated on the caller's images) trades a little accuracy for speed; keep
it only where dev recall holds (see benchmarks/encode.py).
"""
from __future__ import annotations

import os
import uuid
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .fast_text import cache_dir


class _ImagePath(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.model.image_features(x), dim=-1)


class _ImagePathWithTokens(nn.Module):
    """One pass, two outputs: the embedding and the reranker's image tokens of the same final
    feature map (valid when the image tower's feature map is the reranker's input)."""

    def __init__(self, model, bottleneck: nn.Module):
        super().__init__()
        self.model = model
        self.bottleneck = bottleneck

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return image_vectors_and_tokens(self.model, self.bottleneck, x)


def image_vectors_and_tokens(model, bottleneck: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    tower = model.image
    fmap = tower.feature_map(x)
    return F.normalize(tower.head(tower.pool(fmap)), dim=-1), bottleneck(fmap.flatten(2).transpose(1, 2))


def export_module(module: nn.Module, size: int, path: Path, output: str | tuple[str, ...] = "embedding") -> Path:
    """Export `module(pixels [n,3,size,size])` to ONNX at `path` (atomic; reused if present)."""
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    outputs = [output] if isinstance(output, str) else list(output)
    with torch.inference_mode(False), torch.no_grad():
        torch.onnx.export(module.eval(), (torch.zeros(2, 3, size, size),), str(tmp), input_names=["pixels"],
                          output_names=outputs, dynamic_axes={"pixels": {0: "n"}, **{o: {0: "n"} for o in outputs}},
                          opset_version=17, dynamo=False)
    os.replace(tmp, path)
    return path


def export_image_tower(model, path: Path | None = None) -> Path:
    _ = model.image if hasattr(model, "image") else None  # lazy towers: build now
    if path is None:
        # Only a fingerprinted model (weights from a file) may reuse a cached export.
        tag = model.fingerprint if model.fingerprint != "untrained" else f"untrained-{uuid.uuid4().hex}"
        path = cache_dir() / f"{tag}-image.onnx"
    return export_module(_ImagePath(model), model.preprocess.size, path)


def export_image_tower_with_tokens(model, reranker) -> Path:
    _ = model.image
    if model.fingerprint == "untrained":
        raise ValueError("only a model with weights from a file is exported with reranker tokens")
    path = cache_dir() / f"{model.fingerprint}-{reranker.fingerprint[:16]}-image-tokens.onnx"
    return export_module(_ImagePathWithTokens(model, reranker.head.image_bottleneck), model.preprocess.size, path,
                         ("embedding", "tokens"))


def quantize_int8(fp32_path: Path, calibration: np.ndarray, path: Path | None = None) -> Path:
    """Static int8 quantisation (QDQ), calibrated on float pixel batches [n, 3, h, w]."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    path = path or fp32_path.with_name(fp32_path.stem + "-int8.onnx")
    if path.is_file():
        return path

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.batches = iter([{"pixels": calibration[i:i + 16].astype(np.float32)} for i in range(0, len(calibration), 16)])

        def get_next(self):
            return next(self.batches, None)

    quantize_static(str(fp32_path), str(path), Reader(), quant_format=QuantFormat.QDQ,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=True)
    return path


class OnnxImageEncoder:
    """`encode(float pixels [n,3,h,w]) -> float32 [n,d]` through ONNX Runtime."""

    def __init__(self, path: Path, threads: int | None = None):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            opts.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])

    def encode(self, pixels: torch.Tensor | np.ndarray) -> np.ndarray:
        return self.encode_all(pixels)[0]

    def encode_all(self, pixels: torch.Tensor | np.ndarray) -> list[np.ndarray]:
        x = pixels.contiguous().numpy() if isinstance(pixels, torch.Tensor) else np.ascontiguousarray(pixels)
        return self.session.run(None, {"pixels": x.astype(np.float32)})


def fast_image_trunk(model, tower):
    """The trunk through ONNX Runtime on a CPU (~4x eager PyTorch), else PyTorch."""
    if model.device.type != "cpu":
        return tower.trunk
    try:
        class Trunk(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.tower = tower  # registered, so the export sees weights as parameters

            def forward(self, x):
                return self.tower.trunk(x)

        name = f"trunk-{model.config['image_variant']}-{model.config['image_size']}-{tower.split}.onnx"
        enc = OnnxImageEncoder(export_module(Trunk(), model.preprocess.size, cache_dir() / name, "trunk"))
        return lambda x: torch.from_numpy(enc.encode(x))
    except Exception as e:  # pragma: no cover - onnxruntime missing or export failed
        import warnings

        warnings.warn(f"ONNX export of the image trunk failed ({e}); caching with PyTorch", stacklevel=2)
        return tower.trunk


class _TextPath(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        t = self.model.text
        m = mask.bool()
        return F.normalize(t.from_trunk(t.trunk(ids, m), m), dim=-1)


def export_text_tower(model) -> Path | None:
    """Export align-lite's text path for torch-free text queries (see fast_text.py)."""
    from .fast_text import text_export_path

    if model.config.get("family") != "align-lite" or model.fingerprint == "untrained":
        return None
    path = text_export_path(model.fingerprint)
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    _ = model.text
    wrapped = _TextPath(model).eval()
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    ids = torch.ones(2, 8, dtype=torch.long)
    mask = torch.ones(2, 8, dtype=torch.long)
    with torch.inference_mode(False), torch.no_grad():
        torch.onnx.export(wrapped, (ids, mask), str(tmp), input_names=["ids", "mask"], output_names=["embedding"],
                          dynamic_axes={"ids": {0: "n", 1: "t"}, "mask": {0: "n", 1: "t"}, "embedding": {0: "n"}},
                          opset_version=17, dynamo=False)
    os.replace(tmp, path)
    return path
