"""What `vsearch ingest --ocr` runs beside each decode, in the decode worker: the gate on the picture
decoded for the model anyway, and, only when it says the picture likely holds text, the OCR engine
on the file decoded again at OCR_SIDE (the model's picture, ~240 px, is too small to read a sign).
One gate and one engine per process, made on first use (ONNX sessions are never forked), each on
one thread: the workers are the parallelism."""
from __future__ import annotations

from typing import Callable, NamedTuple

from PIL import Image

from .engine import OCR_SIDE, OcrEngine
from .gate import TextGate


class TextRead(NamedTuple):
    text: str       # "" when the gate passed it by or the engine found nothing
    gated: bool     # the gate passed it to the engine


class TextReader:
    def __init__(self):
        self.gate = TextGate()
        self.engine = OcrEngine()

    def read(self, picture: Image.Image, larger: Callable[[int], Image.Image]) -> TextRead:
        """The text of a picture (`picture`: the file decoded at any size of at least the gate's;
        `larger(side)`: the file decoded again with sides of at least `side`, called only when the
        gate passes it)."""
        look = self.gate.look(picture)
        if look.share < self.gate.threshold:
            return TextRead("", False)
        return TextRead(self.engine.read(larger(OCR_SIDE), look), True)


_reader: TextReader | None = None


def text_reader() -> TextReader:
    """This process's reader."""
    global _reader
    if _reader is None:
        _reader = TextReader()
    return _reader
