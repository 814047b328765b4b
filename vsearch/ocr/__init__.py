"""Text in pictures, opt-in (`vsearch ingest --ocr`): a cheap gate decides which images likely hold
text (gate.py), and only those are read by the OCR engine (engine.py). Both run RapidOCR's ONNX
models (PP-OCRv4 detection and recognition), which ship inside its wheel: nothing is downloaded.
Install with `pip install "vsearch[ocr]"`."""
from .engine import OcrEngine, ocr_available
from .gate import GATE_SIDE, GATE_THRESHOLD, TextGate, TextLook

__all__ = ["OcrEngine", "TextGate", "TextLook", "ocr_available", "GATE_SIDE", "GATE_THRESHOLD"]
