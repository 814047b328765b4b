"""int8 image graphs: a model's ONNX image export quantised by ONNX Runtime (static QDQ:
per-channel int8 weights, uint8 activations; fast on CPUs with VNNI dot products).

Static quantisation needs the range of every activation, measured by running the graph over
photos. Those ranges are calibrated once, on the training split the model was fitted on
(train/int8.py, `vsearch calibrate-int8`), and ship beside the weights as `<weights>.int8.json`,
keyed by the weights' fingerprint. Every machine then quantises its own cached export with the
same ranges, without any photos, and gets the same int8 graph: a collection ingested at int8 and
its image queries go through the same encoder. The graph is cached beside the export, named after
the calibration it used (a new calibration makes a new graph, never a mixed one).

Torch-free (onnxruntime.quantization only).
"""
from __future__ import annotations

import hashlib
import inspect
import json
import logging
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import atomic_write
from ..errors import ModelUnavailableError

CALIBRATION_SUFFIX = ".int8.json"


def calibration_path(weights: str | Path) -> Path:
    p = Path(weights)
    return p.with_name(p.name.removesuffix(".safetensors") + CALIBRATION_SUFFIX)


def quantize_options() -> dict[str, Any]:
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType

    return {"quant_format": QuantFormat.QDQ, "activation_type": QuantType.QUInt8, "weight_type": QuantType.QInt8,
            "per_channel": True, "calibrate_method": CalibrationMethod.MinMax}


def _quantize_static():
    from onnxruntime.quantization import quantize_static

    if "calibration_cache_path" not in inspect.signature(quantize_static).parameters:
        import onnxruntime

        raise ModelUnavailableError(
            f"int8 encoding needs an onnxruntime that quantises from stored calibration ranges (this one is "
            f"{onnxruntime.__version__}): pip install -U onnxruntime")
    return quantize_static


def read_calibration(weights: str | Path | None, fingerprint: str | None) -> dict[str, Any] | None:
    """The int8 calibration shipped beside `weights`, if there is one for these very weights."""
    if weights is None or fingerprint is None:
        return None
    path = calibration_path(weights)
    try:
        calib = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(calib, dict) or calib.get("fingerprint") != fingerprint or "ranges" not in calib:
        return None
    return calib


def calibration_digest(calib: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(calib["ranges"], sort_keys=True).encode()).hexdigest()[:12]


def int8_graph(export: Path, handle) -> Path:
    """The int8 copy of `export` (an image export of `handle`'s weights), quantised now with the
    model's shipped calibration if not cached."""
    calib = read_calibration(handle.weights, handle.fingerprint)
    if calib is None:
        raise ModelUnavailableError(
            f"model {handle.name!r} has no int8 calibration (a {CALIBRATION_SUFFIX} file beside its weights, made by "
            f"`vsearch calibrate-int8`); use --precision fp32")
    path = export.with_name(f"{export.stem}-int8-{calibration_digest(calib)}.onnx")
    if path.is_file():
        return path
    quantize_static = _quantize_static()
    with tempfile.TemporaryDirectory(prefix="vsearch-int8-") as tmp:
        ranges = Path(tmp) / "ranges.json"
        ranges.write_text(json.dumps(calib["ranges"]), encoding="utf-8")

        def write(out: Path) -> None:
            try:
                with _quiet():
                    quantize_static(str(export), str(out), None, calibration_cache_path=str(ranges),
                                    nodes_to_exclude=uncalibrated_nodes(export, calib["ranges"]), **quantize_options())
            except (KeyError, ValueError) as e:  # a tensor the calibration never saw: another export
                raise ModelUnavailableError(
                    f"the int8 calibration of {handle.name!r} does not fit this export of its image graph ({e}); "
                    f"re-run `vsearch calibrate-int8`, or use --precision fp32") from None

        return atomic_write(path, write, point="onnx-export", durable=False)


@contextmanager
def _quiet() -> Iterator[None]:
    """The quantiser's advice on the root logger ("consider pre-processing", …) is not the user's concern."""
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(previous)


def uncalibrated_nodes(export: Path, ranges: dict[str, Any]) -> list[str]:
    """Nodes of `export` that read or write a float activation the calibration has no range for
    (say the bottleneck of a reranker other than the one calibrated): they stay fp32."""
    import onnx

    model = onnx.shape_inference.infer_shapes(onnx.load(str(export)))
    g = model.graph
    floats = {v.name for v in (*g.value_info, *g.input, *g.output) if v.type.tensor_type.elem_type == onnx.TensorProto.FLOAT}
    missing = floats - set(ranges.get("data", {})) - {t.name for t in g.initializer}
    return [n.name for n in g.node if missing.intersection((*n.input, *n.output))]


def calibrate(export: Path, batches: Iterable[np.ndarray]) -> dict[str, Any]:
    """Activation ranges of `export` over float pixel batches [n, 3, h, w] (ONNX Runtime's
    calibration, in the form its quantiser reads back)."""
    from onnxruntime.quantization import CalibrationDataReader

    class Reader(CalibrationDataReader):
        def __init__(self, it: Iterator[np.ndarray]):
            self.it = it

        def get_next(self):
            batch = next(self.it, None)
            return None if batch is None else {"pixels": np.ascontiguousarray(batch, dtype=np.float32)}

    quantize_static = _quantize_static()
    with tempfile.TemporaryDirectory(prefix="vsearch-int8-") as tmp, _quiet():
        cache = Path(tmp) / "ranges.json"
        quantize_static(str(export), str(Path(tmp) / "int8.onnx"), Reader(iter(batches)),
                        calibration_cache_path=str(cache), **quantize_options())
        return json.loads(cache.read_text(encoding="utf-8"))


def merge_ranges(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Ranges of two graphs (the plain image export and the one with reranker tokens) in one
    calibration: the tensors they share were computed from the same photos by the same layers."""
    return {**a, **b, "data": {**a.get("data", {}), **b.get("data", {})}}
