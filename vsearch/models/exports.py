"""A model's ONNX graphs as a ModelHandle (models/handle.py) uses them: found in the cache
(models/onnx_runtime.py names them, keyed by the weights fingerprint) or exported now with PyTorch
(models/onnx_export.py), once per weights; the reduced-precision copies (models/int8.py); and the
text graph exported in a forked child while the parent exports the image graph."""
from __future__ import annotations

import os
import sys
from pathlib import Path

from .onnx_runtime import image_export_path, read_export_info, text_export_path
from .precision import DEFAULT_PRECISION


class Exports:
    """The exports of one handle (models/handle.py); a reranker here is a TokenReranker
    (models/token_reranker.py), whose image tokens a graph gives as a second output."""

    def __init__(self, handle):
        self.handle = handle

    # --- the image graph -----------------------------------------------------------------------
    def image_export(self, reranker=None) -> Path:
        """The ONNX image graph (with `reranker`'s tokens as a second output when given), exported
        now — with PyTorch, once per weights fingerprint — when the cache does not have it."""
        ready = self.ready_image(reranker)
        if ready is not None:
            return ready
        from .onnx_export import export_image_tower, export_image_tower_with_tokens

        model = self.handle.torch_model()
        if not self.handle.identified:  # unidentified weights get a throwaway export
            return export_image_tower(model)
        return export_image_tower_with_tokens(model, reranker.load()) if reranker else export_image_tower(model)

    def image_graph(self, reranker=None, precision: str | None = None) -> Path:
        """The ONNX image graph at `precision` (default: the handle's): the export itself for fp32,
        else its reduced-precision copy (models/int8.py), made now from the export if not cached."""
        precision = precision or self.handle.precision
        export = self.image_export(reranker)
        if precision == DEFAULT_PRECISION:
            return export
        from .int8 import int8_graph

        return int8_graph(export, self.handle)

    def image_ready(self, reranker=None) -> bool:
        """True when `image_export(reranker)` needs no PyTorch."""
        return self.ready_image(reranker) is not None

    def ready_image(self, reranker) -> Path | None:
        """A complete cached image export that serves: the one with `reranker`'s tokens, or with
        none given any export of these weights (its first output is the embedding: an image
        query after an ingest with reranker tokens exports nothing twice)."""
        h = self.handle
        if not h.identified:
            return None
        wanted = image_export_path(h.fingerprint, reranker.fingerprint if reranker else None)
        others = [] if reranker else sorted(wanted.parent.glob(f"{h.fingerprint}-*-image-tokens.onnx"))
        return next((p for p in (wanted, *others) if read_export_info(p) is not None), None)

    # --- the text graph ------------------------------------------------------------------------
    def text_ready(self) -> bool:
        h = self.handle
        return not h.capabilities.onnx_text or not h.identified or text_export_path(h.fingerprint).is_file()

    def export_text(self) -> Path | None:
        """The ONNX text graph that lets text queries skip PyTorch, exported now if missing;
        None when the model's text path does not export."""
        h = self.handle
        if not h.capabilities.onnx_text or not h.identified:
            return None
        path = text_export_path(h.fingerprint)
        if path.is_file():
            return path
        from .onnx_export import export_text_tower

        return export_text_tower(h.torch_model())

    def start_text_export(self) -> "TextExportJob":
        """Export the text graph in a forked child process while this one goes on (a first run
        exports the image graph meanwhile: on two cores the two overlap). Call right after
        PyTorch is imported, before this process runs any PyTorch work (a child forked then is
        safe to use it). `wait()` on the result; where fork is unavailable, or the graph is
        there already, nothing starts and `export_text()` does it in-process."""
        model = self.handle.torch_model()
        # Only a process that has run no PyTorch work yet forks (OpenMP does not survive a fork
        # once its threads are up); a caller's already-used model exports in-process instead.
        if self.text_ready() or not self.handle.torch.fresh_torch or not hasattr(os, "fork") or sys.platform != "linux":
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
