"""Photos and texts of a dataset encoded outside any collection: what evaluation (benchmarks,
rerank sweeps) and training (trunk caches, hubness banks, int8 calibration, ITM similarities)
share. Files are read and decoded by the ingest's decode stage (pipeline/decode.py), encoded by
the model's fastest backend (models/image_encoder.py). Importing it imports no PyTorch."""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from ..errors import VsearchError
from ..models.handle import ModelHandle
from ..models.image_encoder import ImageEncoder
from ..pipeline.decode import decode_files
from ..progress import Reporter, report

__all__ = ["autocast", "batched", "decode_pixels", "encode_image_files", "encode_texts"]


def batched(items: Iterable, n: int) -> Iterator[list]:
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) == n:
            yield batch
            batch = []
    if batch:
        yield batch


def autocast(model):
    import torch

    if model.device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.float16)
    return torch.autocast("cpu", enabled=False)


def encode_image_files(model, paths: list[Path], batch_size: int = 64, workers: int | None = None,
                       progress: Reporter | None = None, backend: str = "auto",
                       task: str = "encode images", precision: str | None = None) -> tuple[np.ndarray, list[tuple[Path, str]]]:
    """Vectors [len(paths), d] (zero rows for failures) and the failures with reasons. `model`: a
    DualEncoder or a ModelHandle; `precision`: the image encoder's (default: the handle's, fp32)."""
    encoder = ImageEncoder(model, backend, precision=precision)
    out = np.zeros((len(paths), model.embed_dim), dtype=np.float32)
    failed: list[tuple[Path, str]] = []
    idx = 0
    report(progress, task, 0, len(paths), "img")
    for batch in batched(decode_files(paths, encoder.preprocess, workers), batch_size):
        good = [(idx + j, d) for j, d in enumerate(batch) if d.pixels is not None]
        failed += [(paths[idx + j], d.error or "") for j, d in enumerate(batch) if d.pixels is None]
        if good:
            out[[g[0] for g in good]] = encoder([g[1].pixels for g in good])
        idx += len(batch)
        report(progress, task, idx, len(paths), "img")
    return out, failed


def encode_texts(model, texts: list[str], batch_size: int = 256, progress: Reporter | None = None,
                 task: str = "encode texts") -> np.ndarray:
    """Normalised vectors of texts. `model`: a DualEncoder (PyTorch) or a ModelHandle (the ONNX
    text graph when exported)."""
    if not texts:
        return np.zeros((0, model.embed_dim), dtype=np.float32)
    chunks = []
    for i in range(0, len(texts), batch_size):
        if isinstance(model, ModelHandle):
            chunks.append(model.encode_texts(texts[i:i + batch_size], batch_size))
        else:
            with autocast(model):
                chunks.append(model.encode_texts(texts[i:i + batch_size]))
        report(progress, task, min(i + batch_size, len(texts)), len(texts), "text")
    return np.concatenate(chunks)


def decode_pixels(paths: list[Path], preprocess, workers: int | None = None) -> Iterator[np.ndarray]:
    """Decoded pixels of every file, in order; a file that cannot be decoded is an error
    (training and benchmark data must be complete, unlike an ingested folder)."""
    for path, d in zip(paths, decode_files(paths, preprocess, workers)):
        if d.pixels is None:
            raise VsearchError(f"{path} could not be decoded: {d.error}")
        yield d.pixels
