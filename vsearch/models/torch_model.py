"""The PyTorch model behind a ModelHandle (models/handle.py): the one handed in, or loaded on first
need — by name, or by the caller's own loader — and checked to be the very weights recorded. It
also says which device encoding runs on without importing PyTorch on a machine with no GPU."""
from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from ..errors import ModelMismatchError
from .identity import ModelRecord

if TYPE_CHECKING:
    from .base import DualEncoder


class LazyModel:
    def __init__(self, record: ModelRecord, model: DualEncoder | None = None,
                 load: Callable[[], DualEncoder] | None = None, device: str | None = None):
        self.record = record
        self.loaded: DualEncoder | None = model
        self._load = load
        self._device = device
        self.fresh_torch = False  # PyTorch was first imported by this load: no PyTorch work ran before it

    def get(self) -> DualEncoder:
        """The PyTorch model (loaded now if it was not), checked to be the recorded one."""
        if self.loaded is None:
            self.fresh_torch = "torch" not in sys.modules
            if self._load is not None:
                model = self._load()
            else:
                from .loading import load_model

                model = load_model(self.record.name, self._device)
            if model.fingerprint != self.record.fingerprint or model.config != self.record.config:
                raise ModelMismatchError(f"model {self.record.name!r} now has fingerprint {model.fingerprint}, not "
                                         f"{self.record.fingerprint}: its weights changed while in use")
            self.loaded = model
        return self.loaded

    @property
    def device_type(self) -> str:
        """"cpu" or "cuda": the loaded model's, else the one asked for, else what PyTorch would
        pick — asked only when a GPU is visible, so a CPU machine never imports PyTorch here."""
        if self.loaded is not None:
            return self.loaded.device.type
        if self._device is None:
            from .loading import default_device

            self._device = default_device() if _gpu_visible() else "cpu"
        return self._device.split(":")[0]

    @property
    def on_gpu(self) -> bool:
        """A loaded model on a GPU (its texts are encoded there, not through ONNX Runtime)."""
        return self.loaded is not None and self.loaded.device.type != "cpu"

    @property
    def training(self) -> bool:
        return self.loaded is not None and self.loaded.training


def _gpu_visible() -> bool:
    """A cheap hint that CUDA may be there (then PyTorch is asked); False means surely CPU."""
    gpus = Path("/proc/driver/nvidia/gpus")
    return (gpus.is_dir() and any(gpus.iterdir())) or shutil.which("nvidia-smi") is not None
