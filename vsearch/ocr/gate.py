"""Which images likely hold text, at a cost small beside encoding them: the OCR engine's own text
detector (PP-OCRv4's DBNet, one ONNX Runtime thread) run on the picture shrunk to GATE_SIDE
pixels, scored by the share of pixels it calls text.

Measured on the words benchmark's dev library (benchmarks/ocr.py): at 128 px it costs ~4 ms of CPU
an image and passes ~92 % of the photos with signs, ~90 % of what it passes holding text, but
misses documents, whose lines are 2-3 px there: pictures that look like pages get a second look
at 256 px. The vector model's own similarity to prompts such as "a sign with text" or "a
screenshot" (free at ingest) separated them far worse (AUC 0.81-0.87; documents ranked 52nd to
139th of 1,103)."""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
from PIL import Image

from ..errors import VsearchError

GATE_SIDE = 128          # pixels of the longer side the detector sees
PAGE_SIDE = 256          # ... and for a picture that looks like a page (a document, a screenshot)
PAGE_SHARE = 0.4         # a page: at least this share of its pixels in one brightness band (the paper)
GATE_THRESHOLD = 0.003   # share of those pixels called text above which an image is OCRed
_PIXEL_THRESHOLD = 0.3   # DBNet's own binarisation threshold


def detector_path() -> str:
    import os

    try:
        import rapidocr_onnxruntime
    except ImportError as e:
        raise VsearchError('OCR needs the ocr extra: pip install "vsearch[ocr]"') from e
    return os.path.join(os.path.dirname(rapidocr_onnxruntime.__file__), "models", "ch_PP-OCRv4_det_infer.onnx")


class TextLook(NamedTuple):
    share: float        # of the pixels called text
    prob: np.ndarray    # the detector's text probability map [1, 1, h, w] it was decided on


class TextGate:
    def __init__(self, side: int = GATE_SIDE, threshold: float = GATE_THRESHOLD, threads: int = 1,
                 page_side: int | None = PAGE_SIDE):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(detector_path(), options, providers=["CPUExecutionProvider"])
        self._input = self._session.get_inputs()[0].name
        self.side, self.threshold, self.page_side = side, threshold, page_side

    def _pixels(self, img: Image.Image, side: int) -> np.ndarray:
        w, h = img.size
        scale = side / max(w, h)
        size = (max(32, round(w * scale / 32) * 32), max(32, round(h * scale / 32) * 32))
        a = np.asarray(img.convert("RGB").resize(size, Image.BILINEAR), dtype=np.float32)
        return ((a / 127.5) - 1.0).transpose(2, 0, 1)[None]

    def _look(self, img: Image.Image, side: int) -> TextLook:
        prob = self._session.run(None, {self._input: self._pixels(img, side)})[0]
        return TextLook(float(np.count_nonzero(prob > _PIXEL_THRESHOLD)) / prob.size, prob)

    def look(self, img: Image.Image) -> TextLook:
        """The share of the shrunk picture's pixels the detector calls text (0 to 1), and its map
        (which the OCR engine reuses instead of detecting again). A page's lines are too thin to
        see at GATE_SIDE: a picture that looks like one is looked at again at PAGE_SIDE (~8 % of
        photos look like pages: sky, snow, walls; that look costs ~4x the first)."""
        found = self._look(img, self.side)
        if found.share < self.threshold and self.page_side and looks_like_page(img):
            again = self._look(img, self.page_side)
            found = again if again.share > found.share else found
        return found

    def score(self, img: Image.Image) -> float:
        return self.look(img).share

    def likely(self, img: Image.Image) -> bool:
        return self.score(img) >= self.threshold


def looks_like_page(img: Image.Image) -> bool:
    """Whether most of a picture is one brightness (paper, a screen's background)."""
    grey = np.asarray(img.convert("L").resize((64, 64), Image.BILINEAR))
    return np.bincount((grey // 16).ravel(), minlength=16).max() >= PAGE_SHARE * grey.size
