"""Encode stage: batches of decoded pixels -> normalised vectors; and helpers that decode + encode
a list of files (evaluation, feature caches)."""
from __future__ import annotations

import gc
import multiprocessing as mp
import os
from collections.abc import Iterable, Iterator
from functools import partial
from pathlib import Path

import numpy as np
import torch

from .decode import Decoded, decode_file


def default_workers() -> int:
    return max(1, min(8, (os.cpu_count() or 2) - 1))


def iter_decoded(paths: list[Path], preprocess, workers: int | None = None, known: set | None = None) -> Iterator[Decoded]:
    """Decode files in order, in worker processes (overlapping with whatever the caller does)."""
    workers = default_workers() if workers is None else workers
    fn = partial(decode_file, preprocess=preprocess, known=known or frozenset())
    if workers <= 0 or len(paths) < 8:
        yield from map(fn, paths)
        return
    ctx = mp.get_context("fork")  # workers never touch torch; fork shares `known` for free
    # Garbage the parent has not collected yet (say a Collection caught in an exception's reference
    # cycle, with its ONNX session) would be collected in a worker, where freeing the session waits
    # forever for threads that fork did not copy.
    gc.collect()
    with ctx.Pool(workers) as pool:
        yield from pool.imap(fn, paths, chunksize=4)


def iter_pixels(paths: list[Path], preprocess, workers: int | None = None) -> Iterator[np.ndarray]:
    """Decoded pixels of every file, in order; a file that cannot be decoded is an error
    (training and benchmark data must be complete, unlike an ingested folder)."""
    for path, d in zip(paths, iter_decoded(paths, preprocess, workers)):
        if d.pixels is None:
            raise ValueError(f"{path} could not be decoded: {d.error}")
        yield d.pixels


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
    if model.device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.float16)
    return torch.autocast("cpu", enabled=False)


def encode_pixel_batch(model, pixels: list[np.ndarray]) -> np.ndarray:
    with autocast(model):
        return model.encode_images(np.stack(pixels))


class ImageEncoder:
    """Encodes batches of uint8 pixels with the fastest backend available for the model.

    On a CPU, align-lite's image path runs through ONNX Runtime (measured ~4x eager PyTorch
    here, identical vectors: cosine 1.0000; see benchmarks/encode.py). The export happens once
    per model fingerprint and is cached; if it fails, PyTorch is used.
    """

    def __init__(self, model, backend: str = "auto", reranker=None):
        self.model = model
        self.backend = "torch"
        self._onnx = None
        # With a reranker that reads this model's final feature map, each batch also yields
        # the reranker's image tokens, from the same forward pass.
        self.reranker = reranker if reranker is not None and reranker.reads_feature_map_of(model) else None
        if backend not in ("auto", "torch", "onnx"):
            raise ValueError(f"unknown encoder backend {backend!r}; known: auto, torch, onnx")
        wants_onnx = backend == "onnx" or (backend == "auto" and model.device.type == "cpu" and not model.training
                                           and model.fingerprint != "untrained"
                                           and model.config.get("family") == "align-lite")
        if wants_onnx:
            try:
                from ..models.onnx_export import OnnxImageEncoder, export_image_tower, export_image_tower_with_tokens

                path = export_image_tower_with_tokens(model, self.reranker) if self.reranker else export_image_tower(model)
                self._onnx = OnnxImageEncoder(path)
                self.backend = "onnx"
            except Exception as e:  # onnxruntime missing or export failed: PyTorch still works
                if backend == "onnx":
                    raise
                import warnings

                warnings.warn(f"ONNX Runtime unavailable ({e}); encoding with PyTorch", stacklevel=2)
        if self.backend == "torch" and model.device.type == "cpu":
            model.to(memory_format=torch.channels_last)

    def __call__(self, pixels: list[np.ndarray] | np.ndarray) -> np.ndarray:
        return self.encode(pixels)[0]

    def encode(self, pixels: list[np.ndarray] | np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """(vectors [n, d], reranker tokens [n, positions, dim] or None)."""
        batch = np.stack(pixels) if isinstance(pixels, list) else pixels
        if self._onnx is not None:
            out = self._onnx.encode_all(self.model.preprocess.normalize(batch).contiguous())
            return out[0], (out[1] if self.reranker is not None else None)
        if self.reranker is None:
            return encode_pixel_batch(self.model, list(batch)), None
        from ..models.onnx_export import image_vectors_and_tokens

        x = self.model.preprocess.normalize(batch).to(self.model.device)
        with torch.inference_mode(), autocast(self.model):
            vec, tok = image_vectors_and_tokens(self.model, self.reranker.head.image_bottleneck.to(x.device), x)
        return vec.float().cpu().numpy(), tok.float().cpu().numpy()


def encode_image_files(model, paths: list[Path], batch_size: int = 64, workers: int | None = None,
                       progress: bool = False, backend: str = "auto") -> tuple[np.ndarray, list[tuple[Path, str]]]:
    """Vectors [len(paths), d] (zero rows for failures) and the failures with reasons."""
    from tqdm import tqdm

    encoder = ImageEncoder(model, backend)
    out = np.zeros((len(paths), model.embed_dim), dtype=np.float32)
    failed: list[tuple[Path, str]] = []
    bar = tqdm(total=len(paths), unit="img", disable=not progress, desc="images")
    idx = 0
    for batch in batched(iter_decoded(paths, model.preprocess, workers), batch_size):
        good = [(idx + j, d) for j, d in enumerate(batch) if d.pixels is not None]
        failed += [(paths[idx + j], d.error or "") for j, d in enumerate(batch) if d.pixels is None]
        if good:
            out[[g[0] for g in good]] = encoder([g[1].pixels for g in good])
        idx += len(batch)
        bar.update(len(batch))
    bar.close()
    return out, failed


def encode_texts(model, texts: list[str], batch_size: int = 256, progress: bool = False) -> np.ndarray:
    from tqdm import tqdm

    if not texts:
        return np.zeros((0, model.embed_dim), dtype=np.float32)
    chunks = []
    for i in tqdm(range(0, len(texts), batch_size), disable=not progress, desc="texts", unit="batch"):
        with autocast(model):
            chunks.append(model.encode_texts(texts[i:i + batch_size]))
    return np.concatenate(chunks)
