"""Image preprocessing split in two so that decode workers ship small uint8 arrays:
`to_pixels` (PIL -> resized, cropped uint8 HxWx3, runs in workers) and `normalize_array`
(a uint8 batch -> the float array a tower expects, runs beside the model). Neither imports torch:
`normalize` wraps `normalize_array` in a tensor for the PyTorch towers, the ONNX Runtime path
uses the array as it is.

Cost is bounded by the output size whatever the aspect ratio: "shortest" scales the short side to
`size` and keeps the centre square, so only that window is ever resized. Up to MAX_ASPECT the
whole frame is resized and cropped, exactly as vsearch always has (stored vectors stay
reproducible); beyond it (a 1x100000 strip would otherwise become a 240x24,000,000 intermediate)
just the centre window is resized, which is the same region at the same scale.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from ..imaging.modes import to_rgb

if TYPE_CHECKING:
    import torch

_RESAMPLE = {"bicubic": Image.Resampling.BICUBIC, "bilinear": Image.Resampling.BILINEAR}
MAX_ASPECT = 16  # beyond 16:1 (past any camera panorama mode) only the centre window is resized


@dataclass(frozen=True)
class Preprocess:
    size: int = 224
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)
    interpolation: str = "bicubic"
    # "shortest": resize the short side to `size` and centre-crop (CLIP's convention);
    # "squash": resize to size x size, keeping the whole frame.
    resize_mode: str = "shortest"

    def to_pixels(self, img: Image.Image) -> np.ndarray:
        """uint8 [size, size, 3] of any PIL image (any mode, any aspect ratio)."""
        img, s, resample = to_rgb(img), self.size, _RESAMPLE[self.interpolation]
        w, h = img.size
        if self.resize_mode == "squash":
            if max(w, h) > MAX_ASPECT * min(w, h):  # one axis at a time, so no pass holds size x long side
                img = img.resize((w, min(h, s)), resample) if h > w else img.resize((min(w, s), h), resample)
            img = img.resize((s, s), resample)
        else:
            scale = s / min(w, h)
            nw, nh = max(s, round(w * scale)), max(s, round(h * scale))
            left, top = (nw - s) // 2, (nh - s) // 2
            if max(nw, nh) <= MAX_ASPECT * s:
                img = img.resize((nw, nh), resample).crop((left, top, left + s, top + s))
            else:
                sx, sy = w / nw, h / nh
                box = (left * sx, top * sy, min(w, (left + s) * sx), min(h, (top + s) * sy))
                img = img.resize((s, s), resample, box=box)
        return np.array(img, dtype=np.uint8)

    def normalize_array(self, pixels: np.ndarray, channels_last: bool = False) -> np.ndarray:
        """uint8 [n, h, w, 3] -> float32 [n, 3, h, w], (x / 255 - mean) / std. C-contiguous (what ONNX
        Runtime takes), or with channels_last a view whose memory stays [n, h, w, 3]."""
        x = np.asarray(pixels).astype(np.float32)
        x /= np.float32(255.0)
        x -= np.asarray(self.mean, np.float32)
        x /= np.asarray(self.std, np.float32)
        x = x.transpose(0, 3, 1, 2)
        return x if channels_last else np.ascontiguousarray(x)

    def normalize(self, pixels: "np.ndarray | torch.Tensor") -> "torch.Tensor":
        """uint8 [n, h, w, 3] -> float32 tensor [n, 3, h, w] in channels_last memory order."""
        import torch

        if isinstance(pixels, torch.Tensor):
            pixels = pixels.cpu().numpy()
        return torch.from_numpy(self.normalize_array(pixels, channels_last=True))

    def __call__(self, img: Image.Image) -> "torch.Tensor":
        return self.normalize(self.to_pixels(img)[None])[0]
