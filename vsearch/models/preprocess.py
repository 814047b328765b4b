"""Image preprocessing split in two so that decode workers ship small uint8 arrays:
`to_pixels` (PIL -> resized, cropped uint8 HxWx3, runs in workers) and `normalize`
(a uint8 batch -> the float tensor a tower expects, runs beside the model)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

_RESAMPLE = {"bicubic": Image.Resampling.BICUBIC, "bilinear": Image.Resampling.BILINEAR}


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
        img = img.convert("RGB")
        s = self.size
        if self.resize_mode == "squash":
            img = img.resize((s, s), _RESAMPLE[self.interpolation])
        else:
            w, h = img.size
            scale = s / min(w, h)
            nw, nh = max(s, round(w * scale)), max(s, round(h * scale))
            img = img.resize((nw, nh), _RESAMPLE[self.interpolation])
            left, top = (nw - s) // 2, (nh - s) // 2
            img = img.crop((left, top, left + s, top + s))
        return np.array(img, dtype=np.uint8)

    def normalize(self, pixels: np.ndarray | torch.Tensor) -> torch.Tensor:
        """uint8 [n, h, w, 3] -> float32 [n, 3, h, w] in channels_last memory order."""
        x = torch.as_tensor(pixels).permute(0, 3, 1, 2).float().div_(255.0)
        mean = torch.tensor(self.mean).view(1, 3, 1, 1)
        std = torch.tensor(self.std).view(1, 3, 1, 1)
        return ((x - mean) / std).contiguous(memory_format=torch.channels_last)

    def __call__(self, img: Image.Image) -> torch.Tensor:
        return self.normalize(self.to_pixels(img)[None])[0]
