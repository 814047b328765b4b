"""Which images likely hold text, at a cost small beside encoding them: the OCR engine's own text
detector (PP-OCRv4's DBNet, one ONNX Runtime thread) run on the picture shrunk to GATE_SIDE
pixels, scored by the share of pixels it calls text.

Measured on the words benchmark's dev library (benchmarks/ocr.py): at 128 px it costs ~3 ms an
image and finds ~93 % of the images with signs or documents, ~90 % of what it passes holding
text; the vector model's own similarity to prompts such as "a sign with text" or "a screenshot"
(free at ingest) separated them far worse (AUC 0.83-0.87 against 0.93-0.99)."""
from __future__ import annotations

import numpy as np
from PIL import Image

from ..errors import VsearchError

GATE_SIDE = 128          # pixels of the longer side the detector sees
GATE_THRESHOLD = 0.003   # share of those pixels called text above which an image is OCRed
_PIXEL_THRESHOLD = 0.3   # DBNet's own binarisation threshold


def detector_path() -> str:
    import os

    try:
        import rapidocr_onnxruntime
    except ImportError as e:
        raise VsearchError('OCR needs the ocr extra: pip install "vsearch[ocr]"') from e
    return os.path.join(os.path.dirname(rapidocr_onnxruntime.__file__), "models", "ch_PP-OCRv4_det_infer.onnx")


class TextGate:
    def __init__(self, side: int = GATE_SIDE, threshold: float = GATE_THRESHOLD, threads: int = 1):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(detector_path(), options, providers=["CPUExecutionProvider"])
        self._input = self._session.get_inputs()[0].name
        self.side, self.threshold = side, threshold

    def _pixels(self, img: Image.Image) -> np.ndarray:
        w, h = img.size
        scale = self.side / max(w, h)
        size = (max(32, round(w * scale / 32) * 32), max(32, round(h * scale / 32) * 32))
        a = np.asarray(img.convert("RGB").resize(size, Image.BILINEAR), dtype=np.float32)
        return ((a / 127.5) - 1.0).transpose(2, 0, 1)[None]

    def score(self, img: Image.Image) -> float:
        """The share of the shrunk picture's pixels the detector calls text (0 to 1)."""
        prob = self._session.run(None, {self._input: self._pixels(img)})[0]
        return float(np.count_nonzero(prob > _PIXEL_THRESHOLD)) / prob.size

    def likely(self, img: Image.Image) -> bool:
        return self.score(img) >= self.threshold
