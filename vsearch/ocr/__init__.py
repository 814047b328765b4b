"""Text in pictures, opt-in (`vsearch ingest --ocr`): a cheap gate decides which images likely hold
text (gate.py), and only those are read by the OCR engine (engine.py); reader.py runs both in an
ingest's decode workers. Both run RapidOCR's ONNX
models (PP-OCRv4 detection and recognition), which ship inside its wheel: nothing is downloaded.
Install with `pip install "vsearch[ocr]"`."""
from .engine import OcrEngine, ocr_available
from .gate import GATE_SIDE, GATE_THRESHOLD, TextGate, TextLook
from .reader import TextRead, TextReader, text_reader

__all__ = ["OcrEngine", "TextGate", "TextLook", "TextRead", "TextReader", "text_reader", "ocr_available",
           "GATE_SIDE", "GATE_THRESHOLD"]
