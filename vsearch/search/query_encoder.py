"""Query encoding: a text or an image -> a vector in the collection's space.

The collection's model is a ModelHandle (models/handle.py) built from its stored record: text
queries run through the ONNX text graph and image queries through the ONNX image graph when
those are exported (a cold `vsearch query`, by text or by image, then never imports PyTorch);
otherwise the model itself (loaded with PyTorch on first use) encodes them. A caller that hands in
a model (or a model name) gets that model, except that image queries of a collection ingested at
another precision than fp32 always go through that precision's graph.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable

import numpy as np
from PIL import Image

from ..models.identity import ModelRecord
from ..models.precision import DEFAULT_PRECISION
from .query_image import read_image


class QueryEncoder:
    def __init__(self, model_record: ModelRecord, model: Callable[[], Any], torch_free: bool = True,
                 device: str | None = None, cache_size: int = 0):
        self._record = model_record
        self._model = model              # loads the collection's model on first call
        self._torch_free = torch_free    # False when the caller handed in a model or a model name
        self._device = device
        self._handle = None
        self._handle_lock = threading.Lock()
        self._texts = TextCache(cache_size)

    @property
    def handle(self):
        """The collection's model as a handle (no PyTorch until something needs it)."""
        if self._handle is None:
            with self._handle_lock:
                if self._handle is None:
                    from ..models.handle import ModelHandle

                    self._handle = ModelHandle.open(record=self._record, load=self._model, device=self._device)
        return self._handle

    def text(self, text: str) -> np.ndarray:
        v = self._texts.get(text)
        if v is None:
            v = self.handle.encode_texts([text])[0] if self._torch_free else self._model().encode_texts([text])[0]
            v = self._texts.put(text, v)
        return v

    def cache_stats(self) -> dict[str, int]:
        return self._texts.stats()

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


class TextCache:
    """The query vectors of the last `size` distinct texts (least recently used goes first),
    shared by threads. Vectors handed out are read-only: every caller gets the same array."""

    def __init__(self, size: int):
        self.size = max(0, int(size))
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, text: str) -> np.ndarray | None:
        if not self.size:
            return None
        with self._lock:
            v = self._vectors.get(text)
            if v is None:
                self.misses += 1
                return None
            self._vectors.move_to_end(text)
            self.hits += 1
            return v

    def put(self, text: str, vector: np.ndarray) -> np.ndarray:
        if not self.size:
            return vector
        vector = np.array(vector, dtype=np.float32)   # a private copy, then frozen
        vector.setflags(write=False)
        with self._lock:
            self._vectors[text] = vector
            self._vectors.move_to_end(text)
            while len(self._vectors) > self.size:
                self._vectors.popitem(last=False)
        return vector

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {"hits": self.hits, "misses": self.misses, "size": len(self._vectors), "capacity": self.size}
