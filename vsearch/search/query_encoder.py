"""Query encoding: a text or an image -> a vector in the collection's space.

The collection's model is a ModelHandle (models/handle.py) built from its stored record: text
queries run through the ONNX text graph and image queries through the ONNX image graph when
those are exported (a cold `vsearch query`, by text or by image, then never imports PyTorch);
otherwise the model itself (loaded with PyTorch on first use) encodes them. A caller that hands in
a model (or a model name) gets that model, except that image queries of a collection ingested at
another precision than fp32 always go through that precision's graph.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np
from PIL import Image

from ..models.identity import ModelRecord
from ..models.precision import DEFAULT_PRECISION
from .query_image import read_image


class QueryEncoder:
    def __init__(self, model_record: ModelRecord, model: Callable[[], Any], torch_free: bool = True,
                 device: str | None = None):
        self._record = model_record
        self._model = model              # loads the collection's model on first call
        self._torch_free = torch_free    # False when the caller handed in a model or a model name
        self._device = device
        self._handle = None

    @property
    def handle(self):
        """The collection's model as a handle (no PyTorch until something needs it)."""
        if self._handle is None:
            from ..models.handle import ModelHandle

            self._handle = ModelHandle.open(record=self._record, load=self._model, device=self._device)
        return self._handle

    def text(self, text: str) -> np.ndarray:
        if self._torch_free:
            return self.handle.encode_texts([text])[0]
        return self._model().encode_texts([text])[0]

    def image(self, image: str | Path | Image.Image) -> np.ndarray:
        # A collection ingested at reduced precision is queried through the same graph (the handle
        # takes the precision from the record), whoever supplied the model.
        if self._torch_free or self.handle.precision != DEFAULT_PRECISION:
            from ..models.image_encoder import encode_images

            h = self.handle
            pp = h.preprocess
            return encode_images(h, pp.to_pixels(read_image(image, pp.size))[None])[0]
        model = self._model()
        return model.encode_images([read_image(image, model.preprocess.size)])[0]
