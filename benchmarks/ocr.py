"""OCR engines and text gates on the words benchmark's library (Flickr8k photos with signs drawn on
1 in 10, plus rendered documents): which engine reads the rendered names, how fast, and which gate
picks the pictures holding text at what cost.

    python benchmarks/ocr.py [--limit 300] [--engines 40]

Engines: RapidOCR (PP-OCRv4 ONNX, as vsearch/ocr/engine.py runs it) and Tesseract (Debian's
tesseract-ocr through pytesseract, when installed). Gates: the detector at several sizes
(vsearch/ocr/gate.py), and the vector model's similarity to text-like prompts (free at ingest).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from flickr import add_flickr_option  # noqa: E402

from vsearch.evaluation.words_library import Library, build_library  # noqa: E402

PROMPTS = ["a sign with text", "a shop sign with letters", "a screenshot", "a document", "a page of text", "a receipt"]


def _auc(score: np.ndarray, y: np.ndarray) -> float:
    return float((score[y][:, None] > score[~y][None]).mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_flickr_option(ap)
    ap.add_argument("--limit", type=int, default=None, help="photos of dev (default: all 1,091)")
    ap.add_argument("--engines", type=int, default=40, help="signed photos (and every document) the engines read")
    ap.add_argument("--out", type=Path, default=Path("runs/ocr-bench"))
    args = ap.parse_args()
    out = args.out / f"dev-{args.limit or 'all'}"
    if not (out / "queries.json").is_file():
        build_library(args.flickr, out, limit=args.limit)
    lib = Library.load(out)
    named = [(q, p) for q, p, _ in lib.word_queries()]
    sample = [x for x in named if x[1].startswith("2019")][:args.engines] + [x for x in named if not x[1].startswith("2019")]

    from vsearch.ocr import OcrEngine, TextGate

    engines = {"RapidOCR": OcrEngine().read}
    try:
        import pytesseract

        pytesseract.get_tesseract_version()
        engines["Tesseract 5 (psm 3)"] = lambda img: pytesseract.image_to_string(img)
    except Exception:  # noqa: BLE001 - not installed: measured where it is
        print("Tesseract not installed (apt-get install tesseract-ocr; pip install pytesseract): skipped")
    print("\n| engine | names read | of | median ms (signs) | median ms (documents) |\n|---|---|---|---|---|")
    for name, read in engines.items():
        found, ms = 0, {"sign": [], "doc": []}
        for word, rel in sample:
            img = Image.open(lib.root / rel).convert("RGB")
            t = time.perf_counter()
            text = read(img)
            ms["sign" if rel.startswith("2019") else "doc"].append((time.perf_counter() - t) * 1000)
            found += word.lower() in text.lower()
        print(f"| {name} | {found} | {len(sample)} | {np.median(ms['sign']):.0f} | {np.median(ms['doc']):.0f} |")

    paths = [p.relpath for p in lib.photos] + [d["relpath"] for d in lib.documents]
    has_text = {rel for _, rel in named}
    y = np.array([p in has_text for p in paths])
    images = [Image.open(lib.root / p).convert("RGB") for p in paths]
    print("\n| gate | ms an image (median) | AUC | share gated | precision | recall |\n|---|---|---|---|---|---|")
    for side in (128, 192, 256):
        gate = TextGate(side=side)
        t, scores = [], []
        for img in images:
            t0 = time.perf_counter()
            scores.append(gate.score(img))
            t.append((time.perf_counter() - t0) * 1000)
        s = np.array(scores)
        passed = s >= gate.threshold
        hit = int((passed & y).sum())
        print(f"| detector at {side} px | {np.median(t):.1f} | {_auc(s, y):.3f} | {passed.mean():.3f} | "
              f"{hit / max(1, passed.sum()):.3f} | {hit / y.sum():.3f} |")
    try:
        from vsearch.models import load_model
        from vsearch.evaluation.encoding import encode_image_files, encode_texts

        model = load_model("align-lite")
        vecs, _ = encode_image_files(model, [lib.root / p for p in paths])
        sim = (vecs @ encode_texts(model, PROMPTS).T).max(1)
        order = np.argsort(-sim)[: int(y.sum() * 1.2)]
        rec = y[order].sum() / y.sum()
        print(f"| align-lite vs {len(PROMPTS)} text prompts (top {len(order)}) | 0 (the ingest vector) | "
              f"{_auc(sim, y):.3f} | {len(order) / len(y):.3f} | {y[order].mean():.3f} | {rec:.3f} |")
    except Exception as e:  # noqa: BLE001
        print(f"prompt gate skipped: {e}")


if __name__ == "__main__":
    main()
