"""Query encoding: a text or an image -> a vector in the collection's space.

Text queries run through the torch-free ONNX text graph when the model has one exported (a cold
`vsearch query` then never imports PyTorch); otherwise, and for images, the model itself (loaded
with PyTorch on first use) encodes them.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np
from PIL import Image

from .query_image import read_image


class QueryEncoder:
    def __init__(self, model_record: dict[str, Any], model: Callable[[], Any], torch_free: bool = True):
        self._record = model_record
        self._model = model              # loads the collection's model on first call
        self._torch_free = torch_free    # False when the caller handed in a model or a model name
        self._text = None

    def text(self, text: str) -> np.ndarray:
        if self._torch_free:
            if self._text is None:
                from ..models.onnx_runtime import text_encoder_for

                self._text = text_encoder_for(self._record) or False
            if self._text:
                return self._text.encode_texts([text])[0]
        return self._model().encode_texts([text])[0]

    def image(self, image: str | Path | Image.Image) -> np.ndarray:
        model = self._model()
        return model.encode_images([read_image(image, model.preprocess.size)])[0]
