"""Export a model's towers to ONNX (needs PyTorch); models/onnx_runtime.py runs the graphs.

The image graph is the whole image path (trunk, tail, pooling, head, L2 normalisation),
optionally with a second output: an ITM reranker's image tokens of the same final feature map;
its description (preprocessing, outputs) is written beside it, last. The text graph is the whole
text path. Exports are cached (models/onnx_runtime.py names the files), keyed by the weights
fingerprint, so only identified models reuse one.
"""
from __future__ import annotations

import json
import uuid
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..atomic import atomic_write
from ..cache import cache_dir
from .onnx_runtime import (OnnxImageEncoder, export_info, export_info_path, image_export_path, read_export_info,
                           text_export_path)


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
    """A model whose family declares `feature_map`: the embedding and the reranker's tokens."""
    feats, fmap = model.image_features_and_map(x)
    return F.normalize(feats, dim=-1), bottleneck(fmap.flatten(2).transpose(1, 2))


def _onnx_export(module: nn.Module, args: tuple, tmp: Path, **kwargs) -> None:
    with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notices: not the user's concern
        torch.onnx.export(module.eval(), args, str(tmp), opset_version=17, dynamo=False, do_constant_folding=True,
                          **kwargs)


def export_module(module: nn.Module, size: int, path: Path, output: str | tuple[str, ...] = "embedding") -> Path:
    """Export `module(pixels [n,3,size,size])` to ONNX at `path` (atomic; reused if present)."""
    if path.is_file():
        return path
    outputs = [output] if isinstance(output, str) else list(output)

    def write(tmp: Path) -> None:
        _onnx_export(module, (torch.zeros(2, 3, size, size),), tmp, input_names=["pixels"], output_names=outputs,
                     dynamic_axes={"pixels": {0: "n"}, **{o: {0: "n"} for o in outputs}})

    return atomic_write(path, write, point="onnx-export", durable=False)


def _export_described(module: nn.Module, model, path: Path, outputs: tuple[str, ...]) -> Path:
    """An image graph plus its description (written last: together they are the export)."""
    if read_export_info(path) is not None:
        return path
    path.unlink(missing_ok=True)  # a graph without its description is from an older vsearch: made again
    export_module(module, model.preprocess.size, path, outputs)
    info = export_info(model.preprocess, list(outputs), model.embed_dim)
    atomic_write(export_info_path(path), json.dumps(info).encode(), point="onnx-export", durable=False)
    return path


def export_image_tower(model, path: Path | None = None) -> Path:
    _ = model.image if hasattr(model, "image") else None  # lazy towers: build now
    if path is None:
        # Only identified weights may share a cached export; others get a throwaway one.
        path = (image_export_path(model.fingerprint) if model.identified
                else cache_dir("onnx") / f"unidentified-{uuid.uuid4().hex}-image.onnx")
    return _export_described(_ImagePath(model), model, path, ("embedding",))


def export_image_tower_with_tokens(model, reranker) -> Path:
    if not model.identified:
        raise ValueError("only a model with identified weights is exported with reranker tokens")
    return _export_described(_ImagePathWithTokens(model, reranker.head.image_bottleneck), model,
                             image_export_path(model.fingerprint, reranker.fingerprint), ("embedding", "tokens"))


def quantize_int8(fp32_path: Path, calibration: np.ndarray, path: Path | None = None) -> Path:
    """Static int8 quantisation (QDQ), calibrated on float pixel batches [n, 3, h, w], with the
    settings of the shipped int8 path (models/int8.py)."""
    from onnxruntime.quantization import CalibrationDataReader, quantize_static

    from .int8 import quantize_options

    path = path or fp32_path.with_name(fp32_path.stem + "-int8.onnx")
    if path.is_file():
        return path

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.batches = iter([{"pixels": calibration[i:i + 16].astype(np.float32)} for i in range(0, len(calibration), 16)])

        def get_next(self):
            return next(self.batches, None)

    quantize_static(str(fp32_path), str(path), Reader(), **quantize_options())
    return path


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

        key = model.trunk_key("image")
        name = "-".join(["trunk", *map(str, key["tower"].values()), str(key["split_at"])]) + ".onnx"
        enc = OnnxImageEncoder(export_module(Trunk(), model.preprocess.size, cache_dir("onnx") / name, "trunk"))
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
        return F.normalize(self.model.text_features_from_ids(ids, mask), dim=-1)


def export_text_tower(model) -> Path | None:
    """Export the text path for torch-free text queries (models/onnx_runtime.py)."""
    if not model.capabilities.onnx_text or not model.identified:
        return None
    path = text_export_path(model.fingerprint)
    if path.is_file():
        return path
    _ = model.text if hasattr(model, "text") else None  # lazy towers: build now
    wrapped = _TextPath(model).eval()
    ids = torch.ones(2, 8, dtype=torch.long)
    mask = torch.ones(2, 8, dtype=torch.long)

    def write(tmp: Path) -> None:
        _onnx_export(wrapped, (ids, mask), tmp, input_names=["ids", "mask"], output_names=["embedding"],
                     dynamic_axes={"ids": {0: "n", 1: "t"}, "mask": {0: "n", 1: "t"}, "embedding": {0: "n"}})

    return atomic_write(path, write, point="onnx-export", durable=False)
