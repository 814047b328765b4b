"""A model as ingest and queries use it, without PyTorch whenever its exports are cached.

`ModelHandle` gives what those paths need of a model — its record (name, config, fingerprint,
embed_dim), its preprocessing, an image encoder, a text encoder and its hubness correction —
from the weights file's metadata and the ONNX exports in the cache (models/onnx_runtime.py).
The PyTorch model is built only when PyTorch must do the work: an export is missing (a first
run: it is built once, the export written, and the next process does without it), a CUDA
device, `backend="torch"`, or a model whose family does not export.
"""
from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from ..errors import CheckpointError, ModelMismatchError
from .families import Capabilities, capabilities
from .identity import model_record
from .onnx_runtime import image_export_path, read_export_info, text_export_path, text_encoder_for
from .precision import DEFAULT_PRECISION, precision_of
from .preprocess import Preprocess

if TYPE_CHECKING:
    from .base import DualEncoder
    from .hubness import Hubness

_UNSET = object()


class ModelHandle:
    """One model, as a record plus whatever serves it: ONNX Runtime graphs when cached, the
    PyTorch model (loaded on first need) otherwise."""

    def __init__(self, record: dict[str, Any], *, weights: Path | None = None, model: DualEncoder | None = None,
                 load: Callable[[], DualEncoder] | None = None, device: str | None = None):
        self.record = {k: record[k] for k in ("name", "config", "fingerprint", "embed_dim")}
        # The image encoder's precision (models/precision.py): a collection's record says which;
        # ingest sets it for a new collection.
        self.precision: str = precision_of(record)
        self._weights = weights
        self._model = model
        self._load = load
        self._device = device
        self._hubness: Any = _UNSET
        self._preprocess: Preprocess | None = None
        self._text: Any = _UNSET
        self.encoders: dict[tuple, Any] = {}  # models/image_encoder.py encoder_for keeps its encoders here
        self._fresh_torch = False  # PyTorch was first imported by this handle: no PyTorch work ran before

    @classmethod
    def open(cls, name: str | None = None, device: str | None = None) -> "ModelHandle":
        """A model by name (registered, checkpoint path, `openclip:…`): torch-free when its
        weights file describes it, else loaded."""
        from .loading import load_model, weights_record

        described = weights_record(name)
        if described is None:
            return cls.of(load_model(name, device))
        record, weights = described
        return cls(record, weights=weights, device=device)

    @classmethod
    def of(cls, model: "DualEncoder | ModelHandle") -> "ModelHandle":
        """An already-loaded model (its hubness correction, device and mode are used as they are);
        a handle is itself."""
        if isinstance(model, ModelHandle):
            return model
        return cls(model_record(model), model=model)

    @classmethod
    def for_record(cls, record: dict[str, Any], load: Callable[[], DualEncoder], device: str | None = None) -> "ModelHandle":
        """A collection's model, known by its stored record; `load` gives (and checks) the
        PyTorch model if one is needed."""
        return cls(record, load=load, device=device)

    # --- identity ------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.record["name"]

    @property
    def config(self) -> dict[str, Any]:
        return self.record["config"]

    @property
    def fingerprint(self) -> str | None:
        return self.record["fingerprint"]

    @property
    def embed_dim(self) -> int:
        return self.record["embed_dim"]

    @property
    def identified(self) -> bool:
        return self.fingerprint is not None

    @property
    def capabilities(self) -> Capabilities:
        return capabilities(self.config)

    @property
    def device_type(self) -> str:
        """"cpu" or "cuda": the loaded model's, else the one asked for, else what PyTorch would
        pick — asked only when a GPU is visible, so a CPU machine never imports PyTorch here."""
        if self._model is not None:
            return self._model.device.type
        if self._device is None:
            from .loading import default_device

            self._device = default_device() if _gpu_visible() else "cpu"
        return self._device.split(":")[0]

    # --- the PyTorch model ---------------------------------------------------------------------
    def torch_model(self) -> DualEncoder:
        """The PyTorch model (loaded now if it was not), checked to be this very model."""
        if self._model is None:
            self._fresh_torch = "torch" not in sys.modules
            if self._load is not None:
                model = self._load()
            else:
                from .loading import load_model

                model = load_model(self.name, self._device)
            if model.fingerprint != self.fingerprint or model.config != self.config:
                raise ModelMismatchError(f"model {self.name!r} now has fingerprint {model.fingerprint}, not {self.fingerprint}: "
                                         f"its weights changed while in use")
            self._model = model
        return self._model

    # --- what encoding needs -------------------------------------------------------------------
    @property
    def preprocess(self) -> Preprocess:
        if self._model is not None:
            return self._model.preprocess
        if self._preprocess is None:  # kept: a complete export's description never changes
            ready = self._ready_export(None)  # any image export of these weights describes the preprocessing
            self._preprocess = read_export_info(ready)["preprocess"] if ready is not None else self.torch_model().preprocess
        return self._preprocess

    @property
    def weights(self) -> Path | None:
        """The weights file (sidecars such as the hubness correction and int8 calibration live
        beside it); None when the registry does not know the model any more."""
        return self._weights if self._weights is not None else _weights_of(self.name)

    @property
    def hubness(self) -> Hubness | None:
        """The model's hubness correction (numpy; no PyTorch), None when it has none."""
        if self._hubness is _UNSET:
            if self._model is not None:
                self._hubness = self._model.hubness
            else:
                weights = self.weights
                from .hubness import load_sidecar

                self._hubness = load_sidecar(weights, self.fingerprint) if weights and self.identified else None
        return self._hubness

    def wants_onnx(self, backend: str = "auto") -> bool:
        """Whether images go through ONNX Runtime: asked for, or (auto) a CPU, an eval-mode
        model with identified weights and a family whose image path exports."""
        if backend != "auto":
            return backend == "onnx"
        if self.precision != DEFAULT_PRECISION:  # reduced precision exists only as ONNX graphs
            return True
        if self._model is not None and self._model.training:
            return False
        return self.identified and self.capabilities.onnx_image and self.device_type == "cpu"

    def image_export(self, reranker: TokenReranker | None = None) -> Path:
        """The ONNX image graph (with `reranker`'s tokens as a second output when given), exported
        now — with PyTorch, once per weights fingerprint — when the cache does not have it."""
        ready = self._ready_export(reranker)
        if ready is not None:
            return ready
        from .onnx_export import export_image_tower, export_image_tower_with_tokens

        model = self.torch_model()
        if not self.identified:  # unidentified weights get a throwaway export
            return export_image_tower(model)
        return export_image_tower_with_tokens(model, reranker.load()) if reranker else export_image_tower(model)

    def image_graph(self, reranker: TokenReranker | None = None, precision: str | None = None) -> Path:
        """The ONNX image graph at `precision` (default: this handle's): the export itself for fp32,
        else its reduced-precision copy (models/int8.py), made now from the export if not cached."""
        precision = precision or self.precision
        export = self.image_export(reranker)
        if precision == DEFAULT_PRECISION:
            return export
        from .int8 import int8_graph

        return int8_graph(export, self)

    def image_export_ready(self, reranker: TokenReranker | None = None) -> bool:
        """True when `image_export(reranker)` needs no PyTorch."""
        return self._ready_export(reranker) is not None

    def _ready_export(self, reranker: TokenReranker | None) -> Path | None:
        """A complete cached image export that serves: the one with `reranker`'s tokens, or with
        none given any export of these weights (its first output is the embedding: an image
        query after an ingest with reranker tokens exports nothing twice)."""
        if not self.identified:
            return None
        wanted = image_export_path(self.fingerprint, reranker.fingerprint if reranker else None)
        others = [] if reranker else sorted(wanted.parent.glob(f"{self.fingerprint}-*-image-tokens.onnx"))
        return next((p for p in (wanted, *others) if read_export_info(p) is not None), None)

    def reads_feature_map(self, reranker: TokenReranker | None) -> bool:
        """True when `reranker` reads exactly this model's final image feature map, so its tokens
        come from the same forward pass."""
        mine = self.capabilities.feature_map
        return reranker is not None and mine is not None and reranker.feature_map == mine

    # --- texts ---------------------------------------------------------------------------------
    def _onnx_text(self):
        if self._text is _UNSET:
            on_gpu = self._model is not None and self._model.device.type != "cpu"
            self._text = None if on_gpu or not self.identified else text_encoder_for(self.record)
        return self._text

    def encode_texts(self, texts: list[str], batch_size: int = 256) -> np.ndarray:
        """Normalised float32 [n, d]: through the ONNX text graph when exported, else PyTorch."""
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.embed_dim), dtype=np.float32)
        onnx = self._onnx_text()
        chunks = []
        for i in range(0, len(texts), batch_size):
            chunk = texts[i:i + batch_size]
            chunks.append(onnx.encode_texts(chunk) if onnx is not None else _torch_texts(self.torch_model(), chunk))
        return np.concatenate(chunks)

    def text_export_ready(self) -> bool:
        return not self.capabilities.onnx_text or not self.identified or text_export_path(self.fingerprint).is_file()

    def export_text(self) -> Path | None:
        """The ONNX text graph that lets text queries skip PyTorch, exported now if missing;
        None when the model's text path does not export."""
        if not self.capabilities.onnx_text or not self.identified:
            return None
        path = text_export_path(self.fingerprint)
        if path.is_file():
            return path
        from .onnx_export import export_text_tower

        return export_text_tower(self.torch_model())

    def start_text_export(self) -> "TextExportJob":
        """Export the text graph in a forked child process while this one goes on (a first run
        exports the image graph meanwhile: on two cores the two overlap). Call right after
        PyTorch is imported, before this process runs any PyTorch work (a child forked then is
        safe to use it). `wait()` on the result; where fork is unavailable, or the graph is
        there already, nothing starts and `export_text()` does it in-process."""
        model = self.torch_model()
        # Only a process that has run no PyTorch work yet forks (OpenMP does not survive a fork
        # once its threads are up); a caller's already-used model exports in-process instead.
        if self.text_export_ready() or not self._fresh_torch or not hasattr(os, "fork") or sys.platform != "linux":
            return TextExportJob(None)
        pid = os.fork()
        if pid == 0:  # the child: export, then leave without running any of the parent's exit handlers
            code = 1
            try:
                import warnings

                import torch

                warnings.simplefilter("ignore")
                torch.set_num_threads(1)
                from .onnx_export import export_text_tower

                export_text_tower(model)
                code = 0
            finally:
                os._exit(code)
        return TextExportJob(pid)


class TextExportJob:
    """A text export running in a child process (or none)."""

    def __init__(self, pid: int | None):
        self.pid = pid

    def wait(self) -> bool:
        """Wait for the child; True when it exported."""
        if self.pid is None:
            return False
        pid, self.pid = self.pid, None
        _, status = os.waitpid(pid, 0)
        return os.waitstatus_to_exitcode(status) == 0


def _torch_texts(model, texts: list[str]) -> np.ndarray:
    import torch

    with torch.autocast("cuda", dtype=torch.float16, enabled=model.device.type == "cuda"):
        return model.encode_texts(texts)


def _weights_of(name: str) -> Path | None:
    from ..errors import VsearchError
    from .registry import resolve

    try:
        return resolve(name).weights
    except VsearchError:  # a model this vsearch no longer knows: no correction
        return None


def _gpu_visible() -> bool:
    """A cheap hint that CUDA may be there (then PyTorch is asked); False means surely CPU."""
    gpus = Path("/proc/driver/nvidia/gpus")
    return (gpus.is_dir() and any(gpus.iterdir())) or shutil.which("nvidia-smi") is not None


# --- the reranker whose image tokens ingest stores -----------------------------------------------

def reranker_feature_map() -> str | None:
    """The image feature map every ITM reranker reads: that of align-lite's locked towers
    (models/itm.py `locked_towers`), known from the config alone."""
    from .registry import ARCHITECTURES

    return capabilities(dict(ARCHITECTURES["align-lite"], image_tail_stages=0, text_tail_layers=0)).feature_map


@dataclass
class TokenReranker:
    """An ITM reranker as the encoder needs it: its fingerprint (names the token store and the
    export with tokens) and the feature map it reads, known without PyTorch; the reranker itself
    is loaded only to export its bottleneck or to run it eagerly."""
    fingerprint: str
    feature_map: str | None
    loader: Callable[[], Any] = field(repr=False)
    _loaded: Any = field(default=None, repr=False)

    def load(self):
        if self._loaded is None:
            self._loaded = self.loader()
        return self._loaded

    @property
    def head(self):
        return self.load().head

    @classmethod
    def of(cls, reranker) -> "TokenReranker":
        """A loaded Reranker (models/itm.py)."""
        if isinstance(reranker, TokenReranker):
            return reranker
        return cls(reranker.fingerprint, reranker.towers.capabilities.feature_map, lambda: reranker, reranker)

    @classmethod
    def from_file(cls, path: Path) -> "TokenReranker":
        from .checkpoint import file_digest
        from .loading import checkpoint_config

        checkpoint_config(path)  # a file that is no checkpoint fails now, before any work
        return cls(file_digest(path), reranker_feature_map(), lambda: _load_reranker_file(path))


def _load_reranker_file(path: Path):
    from .itm import load_reranker_file

    return load_reranker_file(path)


def token_reranker(handle: ModelHandle, given=None, path: Path | None = None) -> TokenReranker | None:
    """The reranker whose image tokens ingest stores — `given` (a loaded Reranker), else the
    checkpoint at `path`, else the model's shipped one — when it reads this model's final
    feature map; else None. Needs no PyTorch unless `given` is a loaded reranker."""
    if given is not None:
        rr = TokenReranker.of(given)
    else:
        from .registry import reranker_file

        if path is not None and not Path(path).is_file():
            raise CheckpointError(f"no reranker checkpoint at {path}; train one with `vsearch train-itm`")
        file = Path(path) if path is not None else reranker_file(handle.name)
        if file is None:
            return None
        rr = TokenReranker.from_file(file)
    return rr if handle.reads_feature_map(rr) else None
