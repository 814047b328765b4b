"""Models through ONNX Runtime, without importing PyTorch.

Importing torch costs ~2 s here, and building a tower with it ~2 s more. A model whose
capabilities include `onnx_text` / `onnx_image` has its towers exported once
(models/onnx_export.py, by whoever loads it with torch) into the cache, keyed by its weights
fingerprint; from then on text queries and image encoding (ingest, image queries) run from those
graphs with ONNX Runtime and `tokenizers` (models/handle.py decides).

An image export is complete when its description (`<export>.json`: the preprocessing the graph
expects, its outputs, the embedding width) sits beside the graph; the description is written
last, so a torch-free reader never meets a graph it cannot feed.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ..cache import cache_dir
from .families import capabilities, text_tokenizer
from .identity import ModelRecord
from .preprocess import Preprocess


def text_export_path(fingerprint: str) -> Path:
    return cache_dir("onnx") / f"{fingerprint}-text.onnx"


def image_export_path(fingerprint: str, reranker_fingerprint: str | None = None) -> Path:
    tail = f"-{reranker_fingerprint[:16]}-image-tokens" if reranker_fingerprint else "-image"
    return cache_dir("onnx") / f"{fingerprint}{tail}.onnx"


def export_info_path(export: Path) -> Path:
    return Path(export).with_suffix(".json")


def export_info(preprocess: Preprocess, outputs: list[str], embed_dim: int) -> dict[str, Any]:
    return {"preprocess": {"size": preprocess.size, "mean": list(preprocess.mean), "std": list(preprocess.std),
                           "interpolation": preprocess.interpolation, "resize_mode": preprocess.resize_mode},
            "outputs": list(outputs), "embed_dim": int(embed_dim)}


def read_export_info(export: Path) -> dict[str, Any] | None:
    """The description of a complete image export, or None (no graph, no description, or one
    this vsearch cannot read: the export is then made again)."""
    info_path = export_info_path(export)
    if not Path(export).is_file() or not info_path.is_file():
        return None
    try:
        info = json.loads(info_path.read_text(encoding="utf-8"))
        pp = info["preprocess"]
        info["preprocess"] = Preprocess(size=int(pp["size"]), mean=tuple(pp["mean"]), std=tuple(pp["std"]),
                                        interpolation=pp["interpolation"], resize_mode=pp["resize_mode"])
        info["outputs"] = [str(o) for o in info["outputs"]]
        info["embed_dim"] = int(info["embed_dim"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return info


THREADS_ENV = "VSEARCH_ORT_THREADS"  # threads per session when not given; `vsearch serve` sets 1


def session(path: Path, threads: int | None = None):
    import os

    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3  # errors only: optimising an int8 graph logs a warning per constant it folds away
    # A server runs one query per request thread: sessions that each spread one query over every
    # core would fight each other (2.4x fewer text queries/s from 2 threads on 2 cores).
    threads = threads or int(os.environ.get(THREADS_ENV) or 0)
    if threads:
        opts.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


class OnnxImageEncoder:
    """float32 pixels [n, 3, h, w] (numpy, or anything with .numpy()) -> the graph's outputs."""

    def __init__(self, path: Path, threads: int | None = None):
        self.path = Path(path)
        self.session = session(path, threads)

    def encode(self, pixels) -> np.ndarray:
        return self.encode_all(pixels)[0]

    def encode_all(self, pixels) -> list[np.ndarray]:
        x = pixels.contiguous().numpy() if hasattr(pixels, "contiguous") else pixels
        return self.session.run(None, {"pixels": np.ascontiguousarray(x, dtype=np.float32)})


class OnnxTextEncoder:
    def __init__(self, onnx_path: Path, tokenizer):
        self._tok = tokenizer
        self.session = session(onnx_path)

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        enc = self._tok.encode_batch(list(texts))
        ids = np.array([e.ids for e in enc], dtype=np.int64)
        mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
        return self.session.run(None, {"ids": ids, "mask": mask})[0]


def text_encoder_for(record: ModelRecord) -> OnnxTextEncoder | None:
    """The torch-free text encoder of a model (by its record), if its export exists."""
    if not capabilities(record.config).onnx_text or not record.fingerprint:
        return None
    path = text_export_path(record.fingerprint)
    if not path.is_file():
        return None
    try:
        return OnnxTextEncoder(path, text_tokenizer(record.config))
    except Exception:  # a broken export or a missing package: the torch path still works
        return None
