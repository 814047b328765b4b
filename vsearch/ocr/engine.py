"""Reading the text in a picture with RapidOCR (PP-OCRv4 detection + recognition on ONNX Runtime).

Chosen over Tesseract (Debian's tesseract-ocr 5.3 through pytesseract) on the words benchmark's
rendered signs (benchmarks/ocr.py): RapidOCR read the sign's name in every one, Tesseract in
under half (signs on coloured boards, text over a photo), and RapidOCR was the faster of the two
at the pictures' own size; its models ship in its wheel, so `pip install` is the whole setup.
The picture is read at no more than OCR_SIDE pixels (a camera photo's sign is still legible there),
without the orientation classifier; lines below MIN_SCORE confidence are dropped and the text kept
is bounded (MAX_CHARS)."""
from __future__ import annotations

import numpy as np
from PIL import Image

from ..errors import VsearchError

OCR_SIDE = 960
MIN_SCORE = 0.5
MAX_CHARS = 4_000


def ocr_available() -> bool:
    try:
        import rapidocr_onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


class OcrEngine:
    def __init__(self, threads: int = 1):
        try:
            from rapidocr_onnxruntime import RapidOCR
        except ImportError as e:
            raise VsearchError('--ocr needs the ocr extra: pip install "vsearch[ocr]"') from e
        # limit_type "max": never upscale (the default scales the short side up to 736 px)
        self._engine = RapidOCR(det_limit_type="max", det_limit_side_len=OCR_SIDE, use_cls=False,
                                text_score=MIN_SCORE, intra_op_num_threads=threads, inter_op_num_threads=1)

    def read(self, img: Image.Image) -> str:
        """The picture's text, one detected line per line, top to bottom; "" when none."""
        img = img.convert("RGB")
        if max(img.size) > OCR_SIDE:
            img = img.copy()
            img.thumbnail((OCR_SIDE, OCR_SIDE), Image.BILINEAR)
        result, _ = self._engine(np.asarray(img), use_cls=False)
        lines = [text.strip() for _, text, score in (result or []) if text.strip() and score >= MIN_SCORE]
        return "\n".join(lines)[:MAX_CHARS]
