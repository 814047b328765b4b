"""Text in pictures: the gate passes a picture holding a sign and not a plain one; the OCR engine
reads the sign."""
import random
import sys

import numpy as np
import pytest
from PIL import Image, ImageFilter

from vsearch.errors import VsearchError
from vsearch.evaluation.rendered_text import draw_document, draw_sign

ocr = pytest.importorskip("vsearch.ocr")
pytest.importorskip("rapidocr_onnxruntime")


def _scene(seed: int) -> Image.Image:
    """A photo-like picture: smooth colour fields and noise, no text."""
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)
    img = Image.fromarray(a).resize((224, 224), Image.BICUBIC)
    noise = Image.fromarray(rng.integers(0, 40, (224, 224, 3), dtype=np.uint8))
    return Image.blend(img, noise, 0.2).filter(ImageFilter.GaussianBlur(1))


@pytest.fixture(scope="module")
def gate():
    return ocr.TextGate()


@pytest.fixture(scope="module")
def engine():
    return ocr.OcrEngine()


def test_the_gate_passes_signs_and_pages_not_plain_pictures(gate):
    plain = [_scene(s) for s in range(6)]
    signs = [draw_sign(_scene(s), name, random.Random(s)) for s, name in enumerate(["Aveiro", "Tavira", "Zwolle"])]
    assert not any(gate.likely(p) for p in plain)
    assert all(gate.likely(s) for s in signs)
    assert 0.0 <= gate.score(plain[0]) < gate.score(signs[0]) <= 1.0


def test_the_engine_reads_a_sign_and_a_receipt(engine):
    sign = draw_sign(_scene(1), "Tavira", random.Random(1))
    assert "TAVIRA" in engine.read(sign).upper()
    receipt = draw_document("Zwolle", "receipt", random.Random(2))
    assert "ZWOLLE" in engine.read(receipt).upper()   # a 600x780 page, read at its own size
    assert engine.read(_scene(3)) == ""


def test_the_gates_map_outlines_the_lines_without_a_second_detection(gate, engine, monkeypatch):
    sign = draw_sign(_scene(5), "Braga", random.Random(5))
    look = gate.look(sign)
    monkeypatch.setattr(engine._engine, "auto_text_det", lambda *a: pytest.fail("detected again"))
    assert "BRAGA" in engine.read(sign, look).upper()


def test_a_camera_sized_picture_is_read_shrunk(engine):
    big = draw_sign(_scene(4), "Aveiro", random.Random(4)).resize((3000, 3000))
    assert "AVEIRO" in engine.read(big).upper()


def test_without_the_ocr_extra_the_error_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "rapidocr_onnxruntime", None)
    assert not ocr.ocr_available()
    with pytest.raises(VsearchError, match=r"vsearch\[ocr\]"):
        ocr.OcrEngine()
