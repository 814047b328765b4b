"""The dual-encoder interface every model in vsearch implements."""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn

from .preprocess import Preprocess


class DualEncoder(nn.Module):
    """Image and text towers mapping into one space; all outputs L2-normalised.

    Subclasses implement `image_features` / `text_features` (differentiable, unnormalised), and
    the methods below only where their family declares the capability that needs them
    (models/families.py; tests/test_families.py checks every family). `name`, `config` and
    `fingerprint` identify the exact model; a collection stores them and refuses any other. A
    model whose weights are not identified (fresh heads, random open_clip weights) has
    fingerprint None and cannot build a collection.
    """

    name: str
    config: dict[str, Any]
    preprocess: Preprocess
    embed_dim: int
    hubness = None  # models/hubness.Hubness when the weights come with one

    @property
    def fingerprint(self) -> str | None:
        raise NotImplementedError

    @property
    def identified(self) -> bool:
        """True when the weights come from a known file or pretrained tag."""
        return self.fingerprint is not None

    @property
    def capabilities(self):
        from .families import capabilities

        return capabilities(self.config)

    @property
    def device(self) -> torch.device:
        try:
            return next(self.parameters()).device
        except StopIteration:
            return torch.device("cpu")

    def image_features(self, pixels: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def text_features(self, texts: list[str]) -> torch.Tensor:
        raise NotImplementedError

    # --- token_outputs -------------------------------------------------------------------------
    def image_tokens(self, pixels: torch.Tensor) -> torch.Tensor:
        """[n, positions, channels]: the image tower's last feature map."""
        raise NotImplementedError

    def text_tokens(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """([n, tokens, channels], bool mask [n, tokens]): the text tower's last hidden states."""
        raise NotImplementedError

    # --- feature_map ---------------------------------------------------------------------------
    def image_features_and_map(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(`image_features`, the final feature map [n, channels, h, w]) from one forward pass."""
        raise NotImplementedError

    # --- onnx_text -----------------------------------------------------------------------------
    def text_features_from_ids(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """`text_features` from token ids and their mask (what the exported text graph computes)."""
        raise NotImplementedError

    # --- cached_trunks -------------------------------------------------------------------------
    def trunk_key(self, kind: str) -> dict[str, Any]:
        """What the cached trunk outputs of the "image" or "text" tower depend on (cache keys)."""
        raise NotImplementedError

    def train_tails(self) -> None:
        """Training mode for what training changes; the locked trunks keep their statistics."""
        raise NotImplementedError

    @torch.inference_mode()
    def encode_images(self, pixels: torch.Tensor | np.ndarray | list[Image.Image]) -> np.ndarray:
        """Normalised float32 [n, d] from a float batch, a uint8 NHWC batch or PIL images."""
        if isinstance(pixels, list):
            pixels = np.stack([self.preprocess.to_pixels(im) for im in pixels])
        if isinstance(pixels, np.ndarray) or (isinstance(pixels, torch.Tensor) and pixels.dtype == torch.uint8):
            pixels = self.preprocess.normalize(pixels)
        feats = self.image_features(pixels.to(self.device))
        return nn.functional.normalize(feats.float(), dim=-1).cpu().numpy()

    @torch.inference_mode()
    def encode_texts(self, texts: list[str]) -> np.ndarray:
        feats = self.text_features(list(texts))
        return nn.functional.normalize(feats.float(), dim=-1).cpu().numpy()
