"""Reading the text in a picture with RapidOCR (PP-OCRv4 detection + recognition on ONNX Runtime).

Chosen over Tesseract (Debian's tesseract-ocr 5.3 through pytesseract) on the words benchmark's
rendered signs (benchmarks/ocr.py): RapidOCR read the sign's name in every one, Tesseract in
under half (signs on coloured boards, text over a photo), and RapidOCR was the faster of the two
at the pictures' own size; its models ship in its wheel, so `pip install` is the whole setup.
The picture is read at no more than OCR_SIDE pixels (a camera photo's sign is still legible there),
without the orientation classifier; at most MAX_LINES detected lines are recognised, the tallest
(a page's heading, a sign's name: recognition costs ~20 ms of CPU a line, and a full page holds
40), lines below MIN_SCORE confidence are dropped and the text kept is bounded (MAX_CHARS).
The lines are outlined from the gate's own detector map when it has one (TextLook): no second
detection (on the words benchmark: 52 instead of 67 ms of CPU for a sign photo, 185 instead of 533
for a page, every rendered name still read); a map too coarse to outline any line falls back to
detecting at the picture's size. Lines are recognised at their own width (at least REC_MIN_WIDTH
pixels at the model's 48 px height) rather than padded to RapidOCR's 320: a sign's short name costs
half (the words benchmark's 121 rendered names: 55 instead of 90 ms of CPU a picture, the same 120
read). RapidOCR's steps are called one by one for the cap and the reuse (its 1.4 series, pinned in
pyproject)."""
from __future__ import annotations

import numpy as np
from PIL import Image

from ..errors import VsearchError

OCR_SIDE = 960
MIN_SCORE = 0.5
MAX_CHARS = 4_000
MAX_LINES = 8
REC_MIN_WIDTH = 160


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
                                text_score=MIN_SCORE, rec_img_shape=[3, 48, REC_MIN_WIDTH],
                                intra_op_num_threads=threads, inter_op_num_threads=1)

    def read(self, img: Image.Image, look=None) -> str:
        """The picture's text, one detected line per line, top to bottom; "" when none. `look`: the
        gate's TextLook of this picture, whose text map gives the lines (no second detection)."""
        img = img.convert("RGB")
        if max(img.size) > OCR_SIDE:
            img = img.copy()
            img.thumbnail((OCR_SIDE, OCR_SIDE), Image.BILINEAR)
        engine = self._engine
        pixels = np.asarray(img)
        boxes = self._boxes(look.prob, pixels.shape[:2]) if look is not None else None
        if boxes is None:  # no look, or lines too small to outline at its size: detect here
            pixels, _, _ = engine.preprocess(pixels)
            pixels, _ = engine.maybe_add_letterbox(pixels, {})
            boxes, _ = engine.auto_text_det(pixels)  # top to bottom
        if boxes is None or not len(boxes):
            return ""
        if len(boxes) > MAX_LINES:
            heights = [np.linalg.norm(b[0] - b[3]) for b in boxes]
            keep = sorted(np.argsort(heights, kind="stable")[::-1][:MAX_LINES])
            boxes = [boxes[i] for i in keep]
        recognised, _ = engine.text_rec(engine.get_crop_img_list(pixels, boxes), False)
        lines = [r[0].strip() for r in recognised if r[0].strip() and r[1] >= MIN_SCORE]
        return "\n".join(lines)[:MAX_CHARS]

    def _boxes(self, prob: np.ndarray, shape: tuple[int, int]):
        """Text line boxes, in the picture's pixels, from a detector map made at any smaller size."""
        det = self._engine.text_det
        boxes, _ = det.postprocess_op(prob, shape)
        boxes = det.filter_tag_det_res(boxes, shape) if len(boxes) else boxes
        return self._engine.sorted_boxes(boxes) if len(boxes) else None
