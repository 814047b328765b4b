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

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

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

    def __post_init__(self) -> None:
        # Banks are stored in fp16: round now so a saved and reloaded correction is the same one.
        self.texts = np.ascontiguousarray(np.asarray(self.texts, dtype=np.float16), dtype=np.float32)
        self.images = np.ascontiguousarray(np.asarray(self.images, dtype=np.float16), dtype=np.float32)

    # The centres cost a bank x bank product (~1 s): computed when biases are, never at model load.
    @cached_property
    def _centre_img(self) -> float:
        return float(_lse(self.images @ self.texts.T, self.beta_t2i).mean())

    @cached_property
    def _centre_txt(self) -> float:
        return float(_lse(self.texts @ self.images.T, self.beta_i2t).mean())

    def image_bias(self, image_vectors: np.ndarray) -> np.ndarray:
        """float32 [n]: added to cos(text, image) for text -> image ranking."""
        lse = _lse(np.asarray(image_vectors, dtype=np.float32) @ self.texts.T, self.beta_t2i)
        return (-self.lambda_t2i * (lse - self._centre_img)).astype(np.float32)

    def text_bias(self, text_vectors: np.ndarray) -> np.ndarray:
        """float32 [n]: added to cos(image, text) for image -> text ranking."""
        lse = _lse(np.asarray(text_vectors, dtype=np.float32) @ self.images.T, self.beta_i2t)
        return (-self.lambda_i2t * (lse - self._centre_txt)).astype(np.float32)

    @cached_property
    def signature(self) -> str:
        """Changes whenever the banks or the strengths do (stored biases are then recomputed)."""
        import hashlib

        h = hashlib.sha1(np.array([self.beta_t2i, self.lambda_t2i, self.beta_i2t, self.lambda_i2t]).tobytes())
        h.update(self.texts.tobytes())
        h.update(self.images.tobytes())
        return h.hexdigest()[:16]

    def to_state(self) -> dict:
        import torch

        return {"hubness.texts": torch.from_numpy(self.texts).half(), "hubness.images": torch.from_numpy(self.images).half(),
                "hubness.params": torch.tensor([self.beta_t2i, self.lambda_t2i, self.beta_i2t, self.lambda_i2t])}

    @classmethod
    def from_state(cls, state: dict) -> "Hubness | None":
        if not all(k in state for k in STATE_KEYS):
            return None
        b1, l1, b2, l2 = (float(x) for x in state["hubness.params"])
        return cls(state["hubness.texts"].float().numpy(), state["hubness.images"].float().numpy(), b1, l1, b2, l2)

    def save(self, path: Path, fingerprint: str) -> Path:
        from safetensors.torch import save_file

        from ..atomic import atomic_write

        state = self.to_state()
        return atomic_write(path, lambda tmp: save_file(state, str(tmp), metadata={"fingerprint": fingerprint}),
                            point="hubness")


def load_sidecar(weights: str | Path, fingerprint: str) -> Hubness | None:
    """The correction saved beside `weights`, if any and if it was fitted for this very model."""
    path = sidecar_path(weights)
    if not path.is_file():
        return None
    from safetensors import safe_open

    from ..errors import CheckpointError

    try:
        with safe_open(str(path), "pt") as f:
            if (f.metadata() or {}).get("fingerprint") != fingerprint:
                raise CheckpointError(f"{path} was fitted for another model; refit it with `vsearch fit-hubness` or delete it")
            state = {k: f.get_tensor(k) for k in f.keys()}
    except CheckpointError:
        raise
    except Exception as e:
        raise CheckpointError(f"{path} is damaged ({e}); refit it with `vsearch fit-hubness` or delete it") from e
    return Hubness.from_state(state)


def lookup(bias_ids: np.ndarray, bias: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Stored biases of `ids` (any shape; -1 = no item) from (ascending `bias_ids`, `bias`):
    (float32 values, 0 where unknown; bool mask of the known ones)."""
    if len(bias_ids) == 0:
        return np.zeros(ids.shape, dtype=np.float32), np.zeros(ids.shape, dtype=bool)
    pos = np.clip(np.searchsorted(bias_ids, ids), 0, len(bias_ids) - 1)
    known = (bias_ids[pos] == ids) & (ids >= 0)
    return np.where(known, bias[pos], 0.0).astype(np.float32), known


def reuse_or_compute(correct, ids: np.ndarray, vecs: np.ndarray,
                     prev: tuple[np.ndarray, np.ndarray] | None) -> np.ndarray:
    """Biases for `ids`: taken from `prev` (ascending ids, biases) where known, computed by
    `correct(vectors)` otherwise."""
    bias, known = lookup(*prev, ids) if prev is not None else lookup(np.zeros(0, np.int64), np.zeros(0), ids)
    if (~known).any():
        bias[~known] = correct(vecs[~known])
    return bias


def _lse(sims: np.ndarray, beta: float, chunk: int = 4096) -> np.ndarray:
    """(1/beta) * logsumexp(beta * sims) over each row, in float64 for stability."""
    out = np.empty(len(sims), dtype=np.float64)
    for i in range(0, len(sims), chunk):
        z = beta * sims[i:i + chunk].astype(np.float64)
        m = z.max(axis=1, keepdims=True)
        out[i:i + chunk] = (m[:, 0] + np.log(np.exp(z - m).sum(axis=1))) / beta
    return out
