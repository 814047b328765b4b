"""Every registered model family keeps the promises its capabilities declare (models/families.py),
checked the same way for each — align-lite (as shipped, and with its towers locked as the
reranker reads them), an open_clip architecture with random weights (no download), and a tiny
family registered here (tests/family_tiny.py) — as tests/test_index_kinds.py checks every index
kind. A declared fast path is taken and gives the model's own vectors; an undeclared one is not
taken."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from family_tiny import CONFIG as TINY
from family_tiny import registered

from vsearch.models import families
from vsearch.models.handle import ModelHandle
from vsearch.models.image_encoder import ImageEncoder
from vsearch.models.onnx_export import export_image_tower_with_tokens
from vsearch.models.onnx_runtime import OnnxImageEncoder, text_encoder_for
from vsearch.models.registry import ARCHITECTURES, RERANKER_TOWERS

SMALL = {"image_size": 64}  # the contract does not depend on the input size; 64 px keeps EfficientNet quick
CONFIGS = {
    "align-lite": {**ARCHITECTURES["align-lite"], **SMALL},
    "align-lite, towers locked": {**RERANKER_TOWERS, **SMALL},
    "openclip:vsearch-tiny": {"family": "openclip", "arch": "vsearch-tiny", "tag": None},
    "tiny-test": TINY,
}
# What each declares (the table the closing note shows); the checks below hold each to it.
DECLARED = {
    "align-lite": {"onnx_image", "onnx_text", "token_outputs", "cached_trunks", "preprocess"},
    "align-lite, towers locked": {"onnx_image", "onnx_text", "token_outputs", "feature_map", "text_states",
                                  "cached_trunks", "itm_aligned", "preprocess"},
    "openclip:vsearch-tiny": set(),
    "tiny-test": {"onnx_image", "onnx_text", "token_outputs", "feature_map", "preprocess"},
}
NAMES = list(CONFIGS)
TEXTS = ["a red square", "two dogs running on the beach", "x"]


@pytest.fixture(scope="module", autouse=True)
def tiny_family():
    with registered():
        yield


@pytest.fixture(scope="module")
def models():
    """Each family's model, built once with random weights (or, for align-lite, untrained heads on
    its packaged towers) and a made-up fingerprint, so that its exports may be cached."""
    return {name: families.build(name, cfg, None, f"conformance-{i}", pretrained_towers=False).eval()
            for i, (name, cfg) in enumerate(CONFIGS.items())}


@pytest.fixture(autouse=True)
def own_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("VSEARCH_CACHE", str(tmp_path_factory.getbasetemp() / "families-cache"))


def pixels(model, n: int = 2) -> np.ndarray:
    s = model.preprocess.size
    return np.random.default_rng(0).integers(0, 255, size=(n, s, s, 3), dtype=np.uint8)


def capability_table() -> dict[str, dict[str, bool]]:
    return {name: {**families.capabilities(cfg).table(), "preprocess": families.preprocess_of(cfg) is not None}
            for name, cfg in CONFIGS.items()}


def test_the_table_of_families_and_capabilities():
    table = capability_table()
    columns = list(next(iter(table.values())))
    print("\n" + " | ".join(["family", *columns]))
    for name, row in table.items():
        print(" | ".join([name, *("yes" if row[c] else "-" for c in columns)]))
    assert {name: {c for c, yes in row.items() if yes} for name, row in table.items()} == DECLARED


@pytest.mark.parametrize("name", NAMES)
def test_outputs_are_normalised_vectors_of_the_declared_width(models, name):
    model = models[name]
    img, txt = model.encode_images(pixels(model)), model.encode_texts(TEXTS)
    assert img.shape == (2, model.embed_dim) and txt.shape == (len(TEXTS), model.embed_dim)
    np.testing.assert_allclose(np.linalg.norm(np.concatenate([img, txt]), axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_declared_preprocessing_is_the_models_own(models, name):
    declared = families.preprocess_of(CONFIGS[name])
    assert declared is None or declared == models[name].preprocess


@pytest.mark.parametrize("name", NAMES)
def test_the_onnx_image_path_is_taken_only_when_declared_and_gives_the_models_vectors(models, name):
    model, caps = models[name], families.capabilities(CONFIGS[name])
    assert ModelHandle.open(model).wants_onnx("auto") == caps.onnx_image
    if not caps.onnx_image:
        return
    x = pixels(model)
    with torch.inference_mode():
        ref = model.encode_images(x)
    if caps.feature_map:  # one graph, two outputs: the embedding and a reranker's tokens of the same map
        bottleneck = torch.nn.Linear(model.image_tokens(model.preprocess.normalize(x[:1])).shape[-1], 4)
        reranker = type("Reranker", (), {"fingerprint": "conformance-rr", "head": type("H", (), {"image_bottleneck": bottleneck})})
        vecs, tokens = OnnxImageEncoder(export_image_tower_with_tokens(model, reranker)).encode_all(
            model.preprocess.normalize_array(x))
        with torch.inference_mode():
            want = bottleneck(model.image_tokens(model.preprocess.normalize(x))).numpy()
        np.testing.assert_allclose(tokens, want, atol=1e-3)
    else:  # as ingest encodes: the image encoder on the ONNX backend, its export cached by fingerprint
        encoder = ImageEncoder(model, "onnx")
        assert encoder.backend == "onnx"
        vecs = encoder(x)
    assert (vecs * ref).sum(1).min() > 0.9999


@pytest.mark.parametrize("name", NAMES)
def test_the_text_graph_runs_without_torch_only_when_declared(models, name):
    model, caps = models[name], families.capabilities(CONFIGS[name])
    handle = ModelHandle.open(model)
    path = handle.exports.export_text()
    assert (path is not None) == caps.onnx_text and handle.exports.text_ready()
    if not caps.onnx_text:
        return
    onnx = text_encoder_for(handle.record)  # the family's torch-free tokenizer feeds the graph
    assert (onnx.encode_texts(TEXTS) * model.encode_texts(TEXTS)).sum(1).min() > 0.9999


@pytest.mark.parametrize("name", [n for n in NAMES if families.capabilities(CONFIGS[n]).token_outputs])
def test_token_outputs(models, name):
    model = models[name]
    with torch.inference_mode():
        tokens = model.image_tokens(model.preprocess.normalize(pixels(model)))
        hidden, mask = model.text_tokens(TEXTS)
    assert tokens.ndim == 3 and tokens.shape[0] == 2
    assert hidden.shape[:2] == mask.shape and mask.dtype == torch.bool and mask.sum(1).min() > 0
    if families.capabilities(CONFIGS[name]).feature_map:  # the tokens are the final map of the features' own pass
        with torch.inference_mode():
            feats, fmap = model.image_features_and_map(model.preprocess.normalize(pixels(model)))
            torch.testing.assert_close(feats, model.image_features(model.preprocess.normalize(pixels(model))))
        torch.testing.assert_close(fmap.flatten(2).transpose(1, 2), tokens)


@pytest.mark.parametrize("name", [n for n in NAMES if families.capabilities(CONFIGS[n]).cached_trunks])
def test_cached_trunks_compose_to_the_whole_path(models, name):
    model = models[name]
    x = model.preprocess.normalize(pixels(model))
    ids, mask = model.text.tokenizer(TEXTS)
    with torch.inference_mode():
        torch.testing.assert_close(model.image.from_trunk(model.image.trunk(x)), model.image_features(x), atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(model.text.from_trunk(model.text.trunk(ids, mask), mask), model.text_features(TEXTS),
                                   atol=1e-4, rtol=1e-4)
    key = model.trunk_key("image")
    assert key["split_at"] == model.image.split and key != model.trunk_key("text")
    model.train_tails()
    assert model.training
    model.eval()


@pytest.mark.parametrize("name", [n for n in NAMES if families.capabilities(CONFIGS[n]).itm_aligned])
def test_itm_aligned_heads_apply_token_by_token(models, name):
    model = models[name]
    with torch.inference_mode():
        image = model.image.head(model.image_tokens(model.preprocess.normalize(pixels(model))))
        text = model.text.head(model.text_tokens(TEXTS)[0])
    assert image.shape[-1] == text.shape[-1] == model.embed_dim
    assert model.config["head_hidden"] > 0

