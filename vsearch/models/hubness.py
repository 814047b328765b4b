"""Hubness correction for cross-modal search (inverted softmax over a reference bank).

Some images sit close to almost every caption ("hubs") and crowd the top of many text queries;
some captions do the same for image queries. Inverted softmax (Smith et al., 2017; QB-Norm,
Bogolin et al., 2022) scores a pair against how well the item matches a fixed bank of the
other modality:

    corrected(t, i) = cos(t, i) - lambda * (1/beta) * log sum_{t' in bank} exp(beta * cos(t', i))

The subtracted term depends on the item only, so it is one number per image (or per text),
computed once when the item is stored and added to its cosine at query time. It is centred on
the bank itself, so corrected scores stay on the cosine scale. The banks are the model's own
embeddings of its training images and one caption per training image, kept in a sidecar file
beside the weights (`<weights>.hubness.safetensors`): adding or refitting it leaves the model's
fingerprint, and so every collection built with it, unchanged.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

STATE_KEYS = ("hubness.texts", "hubness.images", "hubness.params")


def sidecar_path(weights: str | Path) -> Path:
    p = Path(weights)
    return p.with_name(p.name.removesuffix(".safetensors") + ".hubness.safetensors")


@dataclass
class Hubness:
    texts: np.ndarray            # float32 [m, d]: bank of caption vectors (corrects images)
    images: np.ndarray           # float32 [m, d]: bank of image vectors (corrects texts)
    beta_t2i: float = 15.0
    lambda_t2i: float = 0.75
    beta_i2t: float = 10.0
    lambda_i2t: float = 1.0
    # The centres when known already (saved with the banks), and where those of a sidecar's
    # correction are remembered otherwise (load_sidecar sets both).
    centres: dict[str, float] = field(default_factory=dict, repr=False, compare=False)
    centres_file: Path | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Banks are stored in fp16: round now so a saved and reloaded correction is the same one.
        self.texts = np.ascontiguousarray(np.asarray(self.texts, dtype=np.float16), dtype=np.float32)
        self.images = np.ascontiguousarray(np.asarray(self.images, dtype=np.float16), dtype=np.float32)

    # The centres cost a bank x bank product (~1.5 s here): computed when biases are, never at model
    # load; a saved correction carries them, and an older sidecar's are remembered in the cache,
    # so an ingest of a few photos does not pay for them.
    @cached_property
    def _centre_img(self) -> float:
        return self._centre("image", lambda: float(_lse_of_products(self.images, self.texts, self.beta_t2i).mean()))

    @cached_property
    def _centre_txt(self) -> float:
        return self._centre("text", lambda: float(_lse_of_products(self.texts, self.images, self.beta_i2t).mean()))

    def _centre(self, key: str, compute) -> float:
        if isinstance(self.centres.get(key), float):
            return self.centres[key]
        known = _read_json(self.centres_file) if self.centres_file is not None else {}
        if isinstance(known.get(key), float):
            return known[key]
        value = compute()
        if self.centres_file is not None:
            _write_json(self.centres_file, {**known, key: value})
        return value

    def image_bias(self, image_vectors: np.ndarray) -> np.ndarray:
        """float32 [n]: added to cos(text, image) for text -> image ranking."""
        lse = _lse_of_products(np.asarray(image_vectors, dtype=np.float32), self.texts, self.beta_t2i)
        return (-self.lambda_t2i * (lse - self._centre_img)).astype(np.float32)

    def text_bias(self, text_vectors: np.ndarray) -> np.ndarray:
        """float32 [n]: added to cos(image, text) for image -> text ranking."""
        lse = _lse_of_products(np.asarray(text_vectors, dtype=np.float32), self.images, self.beta_i2t)
        return (-self.lambda_i2t * (lse - self._centre_txt)).astype(np.float32)

    @cached_property
    def signature(self) -> str:
        """Changes whenever the banks or the strengths do (stored biases are then recomputed)."""
        import hashlib

        h = hashlib.sha1(np.array([self.beta_t2i, self.lambda_t2i, self.beta_i2t, self.lambda_i2t]).tobytes())
        h.update(self.texts.tobytes())
        h.update(self.images.tobytes())
        return h.hexdigest()[:16]

    def to_state(self) -> dict[str, np.ndarray]:
        return {"hubness.texts": self.texts.astype(np.float16), "hubness.images": self.images.astype(np.float16),
                "hubness.params": np.array([self.beta_t2i, self.lambda_t2i, self.beta_i2t, self.lambda_i2t], np.float32)}

    @classmethod
    def from_state(cls, state: dict) -> "Hubness | None":
        """From numpy arrays (or tensors) under STATE_KEYS; None when they are not all there."""
        if not all(k in state for k in STATE_KEYS):
            return None
        b1, l1, b2, l2 = (float(x) for x in _array(state["hubness.params"]))
        return cls(_array(state["hubness.texts"]), _array(state["hubness.images"]), b1, l1, b2, l2)

    def save(self, path: Path, fingerprint: str) -> Path:
        from safetensors.numpy import save_file

        from ..atomic import atomic_write

        state = self.to_state()
        meta = {"fingerprint": fingerprint, "centres": json.dumps({"image": self._centre_img, "text": self._centre_txt})}
        return atomic_write(path, lambda tmp: save_file(state, str(tmp), metadata=meta), point="hubness")


def load_sidecar(weights: str | Path, fingerprint: str) -> Hubness | None:
    """The correction saved beside `weights`, if any and if it was fitted for this very model."""
    path = sidecar_path(weights)
    if not path.is_file():
        return None
    from safetensors import safe_open

    from ..cache import cache_dir
    from ..errors import CheckpointError

    try:
        with safe_open(str(path), "np") as f:  # numpy: loading a correction never imports PyTorch
            meta = f.metadata() or {}
            if meta.get("fingerprint") != fingerprint:
                raise CheckpointError(f"{path} was fitted for another model; refit it with `vsearch fit-hubness` or delete it")
            state = {k: f.get_tensor(k) for k in f.keys()}
        centres = json.loads(meta["centres"]) if "centres" in meta else {}  # older sidecars have none
    except CheckpointError:
        raise
    except Exception as e:
        raise CheckpointError(f"{path} is damaged ({e}); refit it with `vsearch fit-hubness` or delete it") from e
    h = Hubness.from_state(state)
    if h is not None:
        h.centres = {k: float(v) for k, v in centres.items() if k in ("image", "text") and isinstance(v, float)}
        h.centres_file = cache_dir("hubness") / f"{h.signature}.json"
    return h


def lookup(bias_ids: np.ndarray, bias: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Stored biases of `ids` (any shape; -1 = no item) from (ascending `bias_ids`, `bias`):
    (float32 values, 0 where unknown; bool mask of the known ones)."""
    if len(bias_ids) == 0:
        return np.zeros(ids.shape, dtype=np.float32), np.zeros(ids.shape, dtype=bool)
    pos = np.clip(np.searchsorted(bias_ids, ids), 0, len(bias_ids) - 1)
    known = (bias_ids[pos] == ids) & (ids >= 0)
    return np.where(known, bias[pos], 0.0).astype(np.float32), known


def reuse_or_compute(correct, ids: np.ndarray, vectors_of, prev: tuple[np.ndarray, np.ndarray] | None) -> np.ndarray:
    """Biases for `ids`: taken from `prev` (ascending ids, biases) where known, computed by
    `correct(vectors)` otherwise; `vectors_of(ids)` gives the vectors of just those."""
    bias, known = lookup(*prev, ids) if prev is not None else lookup(np.zeros(0, np.int64), np.zeros(0), ids)
    if (~known).any():
        bias[~known] = correct(vectors_of(ids[~known]))
    return bias


def reuse_or_compute_chunks(correct, ids: np.ndarray, prev: tuple[np.ndarray, np.ndarray] | None,
                            vectors_of: Callable[[np.ndarray], Iterable[tuple[np.ndarray, np.ndarray]]]) -> np.ndarray:
    """`reuse_or_compute` without every vector in memory: biases for `ids`, taken from `prev`
    where known; the vectors of the others are asked for (`vectors_of(missing ids)` yields
    (ids, vectors) chunks, in any order) and corrected a chunk at a time. An ingest that adds 10k
    photos to a 10M collection reads 10k vectors here, not 10M."""
    ids = np.asarray(ids, np.int64)
    bias, known = lookup(*prev, ids) if prev is not None else lookup(np.zeros(0, np.int64), np.zeros(0), ids)
    missing = ids[~known]
    if not len(missing):
        return bias
    order = np.argsort(ids, kind="stable")
    done = 0
    for chunk_ids, vecs in vectors_of(missing):
        rows = order[np.searchsorted(ids, chunk_ids, sorter=order)]
        bias[rows] = correct(vecs)
        done += len(chunk_ids)
    if done != len(missing):
        raise ValueError(f"{len(missing) - done} of the {len(missing)} vectors to correct were not given")
    return bias


def _lse(sims: np.ndarray, beta: float, chunk: int = 4096) -> np.ndarray:
    """(1/beta) * logsumexp(beta * sims) over each row, in float64 for stability."""
    out = np.empty(len(sims), dtype=np.float64)
    for i in range(0, len(sims), chunk):
        z = beta * sims[i:i + chunk].astype(np.float64)
        m = z.max(axis=1, keepdims=True)
        out[i:i + chunk] = (m[:, 0] + np.log(np.exp(z - m).sum(axis=1))) / beta
    return out


def _lse_of_products(a: np.ndarray, bank: np.ndarray, beta: float, chunk: int = 1024) -> np.ndarray:
    """`_lse(a @ bank.T)`, a block of rows at a time: memory stays chunk x bank, whatever len(a)."""
    out = np.empty(len(a), dtype=np.float64)
    for i in range(0, len(a), chunk):
        out[i:i + chunk] = _lse(a[i:i + chunk] @ bank.T, beta)
    return out


def _array(x) -> np.ndarray:
    return np.asarray(x.float().numpy() if hasattr(x, "numpy") else x, dtype=np.float32)


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_json(path: Path, data: dict) -> None:
    from ..atomic import atomic_write

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, json.dumps(data).encode(), point="hubness-centres", durable=False)
    except OSError:  # a read-only cache costs only time
        pass
