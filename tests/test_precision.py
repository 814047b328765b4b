"""The image encoder's precision: int8 vectors stay close to fp32's on real photos, a collection
records the precision it was ingested at, refuses another, and its image queries go through the
same graph as its stored vectors, whoever supplies the model."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import vsearch
from vsearch.errors import InvalidOptionError, ModelUnavailableError
from vsearch.imaging import read_image_file
from vsearch.models.handle import ModelHandle
from vsearch.models.identity import ModelRecord
from vsearch.models.image_encoder import encode_images, encoder_for
from vsearch.models.precision import precision_for
from vsearch.pipeline.config import IngestConfig
from vsearch.evaluation.encoding import decode_pixels
from vsearch.store.collection import CollectionStore

# The lowest cosine of an int8 vector to its fp32 vector over 1,000 Flickr8k dev photos was 0.78
# (mean 0.94); on the 8 training photos below it is 0.91-0.97.
INT8_FLOOR = 0.85


def _train_photos(flickr: Path, n: int) -> list[Path]:
    return [flickr / "images" / name for name in (flickr / "splits" / "train.txt").read_text().split()[:n]]


def _cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = np.atleast_2d(a), np.atleast_2d(b)
    return np.sum(a * b, axis=1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def _record(precision: str | None) -> ModelRecord:
    return ModelRecord("m", {}, "fp", 4, precision)


def test_precision_rules():
    assert precision_for(None, None, "c") == "fp32"
    assert precision_for(None, "int8", "c") == "int8"
    assert precision_for(_record(None), None, "c") == "fp32"  # a record written before the field
    assert precision_for(_record("int8"), None, "c") == "int8"
    assert precision_for(_record("int8"), "int8", "c") == "int8"
    with pytest.raises(InvalidOptionError, match="ingested at int8 precision"):
        precision_for(_record("int8"), "fp32", "c")
    with pytest.raises(InvalidOptionError, match="ingested at fp32 precision"):
        precision_for(_record(None), "int8", "c")
    with pytest.raises(InvalidOptionError, match="unknown precision"):
        IngestConfig(root=Path("."), precision="int4")
    with pytest.raises(InvalidOptionError, match="torch backend"):
        IngestConfig(root=Path("."), precision="int8", backend="torch")


def test_int8_vectors_close_to_fp32(flickr):
    handle = ModelHandle.open()
    pixels = np.stack(list(decode_pixels(_train_photos(flickr, 8), handle.preprocess, 0)))
    fp32 = encoder_for(handle).encode(pixels)[0]
    encoder = encoder_for(ModelHandle.open(handle, precision="int8"))
    assert encoder.precision == "int8" and "-int8-" in encoder._onnx.path.name
    int8 = encoder.encode(pixels)[0]
    cos = _cos(fp32, int8)
    assert cos.min() > INT8_FLOOR
    assert cos.max() < 0.999  # really another graph
    np.testing.assert_allclose(np.linalg.norm(int8, axis=1), 1.0, atol=1e-4)


def test_missing_calibration_is_a_clear_error(tmp_path):
    handle = ModelHandle.open(precision="int8")
    handle._weights = tmp_path / "elsewhere.safetensors"  # weights without a calibration beside them
    with pytest.raises(ModelUnavailableError, match="no int8 calibration"):
        handle.exports.image_graph()


def test_collection_records_precision_and_queries_at_it(photos, home, model):
    s = vsearch.ingest(photos, "eight", home, precision="int8")
    assert s.encoded > 0
    store = CollectionStore(home / "eight")
    assert json.loads((store.folder / "manifest.json").read_text())["model"]["precision"] == "int8"

    with pytest.raises(InvalidOptionError, match="ingested at int8 precision"):
        vsearch.ingest(photos, "eight", home, precision="fp32")
    vsearch.ingest(photos, "eight", home)  # no --precision: the collection keeps its own
    assert CollectionStore(home / "eight").manifest.model.precision == "int8"
    with vsearch.open_collection("eight", home) as col:
        assert col.info(disk_usage=False)["precision"] == "int8"

    ids, stored, _ = store.vectors().load()
    photo = photos / "red_square.jpg"
    fp32_query = encode_images(ModelHandle.open(), 
        ModelHandle.open().preprocess.to_pixels(read_image_file(photo, 240).image)[None])[0]
    for given in (None, model):  # the collection's own model (torch-free), and a caller's PyTorch model
        with vsearch.open_collection("eight", home, model=given) as col:
            q = col.image_vector(photo)
            mine = stored[np.searchsorted(ids, col.resolve_image(str(photo)))]
        assert _cos(q, mine)[0] > 0.999  # the stored vector's own graph (up to fp16 storage)
        assert _cos(q, fp32_query)[0] < 0.999  # not the fp32 one


def test_fp32_collection_records_fp32(photos, home):
    vsearch.ingest(photos, "plain", home)
    assert CollectionStore(home / "plain").manifest.model.precision == "fp32"
    with pytest.raises(InvalidOptionError, match="ingested at fp32 precision"):
        vsearch.ingest(photos, "plain", home, precision="int8")


def test_eval_reports_its_precision(flickr):
    from vsearch.evaluation.benchmark import evaluate_benchmark

    r = evaluate_benchmark(flickr, "train", limit=16, precision="int8", workers=0)
    assert r.extra["precision"] == "int8" and r.n_images == 16
    with pytest.raises(InvalidOptionError):
        evaluate_benchmark(flickr, "train", limit=16, precision="bf16")
