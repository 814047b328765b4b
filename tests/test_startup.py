"""Start-up: a small ingest (and an image query) with the model's ONNX exports cached runs without
PyTorch and gives the PyTorch path's vectors; a first run writes the exports; the summary says
where the time went. Whole `vsearch` processes are run where imports are the point."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import make_image

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples" / "photos"


def run_vsearch(*args: str, cache: Path | None = None, probe: bool = True) -> tuple[dict | list, bool]:
    """(parsed --json output, whether the process imported torch) of a `vsearch` process."""
    # The exit handler reports a torch-free process; `main` leaves without exit handlers once
    # torch is imported, so a missing report means torch was there.
    code = ("import sys, atexit\n"
            "atexit.register(lambda: sys.stderr.write('\\nTORCH=%s\\n' % ('torch' in sys.modules)))\n"
            "sys.argv = ['vsearch', *sys.argv[1:]]\n"
            "from vsearch.cli import main\n"
            "main()\n")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    if cache is not None:
        env["VSEARCH_CACHE"] = str(cache)
    p = subprocess.run([sys.executable, "-c", code, *args, "--json"], env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    return json.loads(p.stdout), "TORCH=False" not in p.stderr


@pytest.fixture(scope="module")
def exports(model) -> Path:
    """The default cache holds the model's image and text exports (as after any first ingest)."""
    from vsearch.models.handle import ModelHandle

    h = ModelHandle.open(model)
    h.exports.export_text()
    return h.exports.image_export()


def _few_photos(root: Path, n: int = 3) -> Path:
    root.mkdir(parents=True)
    for name in sorted(os.listdir(EXAMPLES))[:n]:
        shutil.copy(EXAMPLES / name, root / name)
    make_image(root / "drawn.png", "red", "circle")
    return root


def _torch_vectors(model, paths: list[Path]) -> np.ndarray:
    from vsearch.pipeline.decode import decode_file

    pixels = np.stack([decode_file(p, model.preprocess).pixels for p in paths])
    return model.encode_images(model.preprocess.normalize(pixels))


def test_small_ingest_with_cached_exports_imports_no_torch_and_matches_pytorch(exports, model, tmp_path):
    photos = _few_photos(tmp_path / "photos")
    summary, torch_loaded = run_vsearch("ingest", str(photos), "--home", str(tmp_path / "h"))
    assert summary["encoded"] == 4 and not torch_loaded
    from vsearch.store.collection import CollectionStore
    from vsearch.store.tables import int64_column

    store = CollectionStore(tmp_path / "h" / "photos")
    ids, vecs, _ = store.vectors().load()
    rows = store.images()
    by_id = dict(zip(int64_column(rows, "id").tolist(), rows.column("path").to_pylist()))
    ref = _torch_vectors(model, [photos / by_id[i] for i in ids.tolist()])
    assert (vecs * ref).sum(1).min() > 0.9999  # fp16 storage included


def test_summary_timings_add_up_to_the_elapsed_time(exports, tmp_path):
    photos = _few_photos(tmp_path / "photos")
    summary, _ = run_vsearch("ingest", str(photos), "--home", str(tmp_path / "h"))
    t = summary["timings"]
    assert {"imports", "startup", "scan", "decode", "encode", "commit"} <= set(t)
    library = sum(v for k, v in t.items() if k != "imports")
    assert library == pytest.approx(summary["elapsed_s"], abs=0.02)  # contiguous laps: nothing unaccounted
    assert 0 < t["imports"] < 30 and t["encode"] > 0


def test_image_query_without_torch_matches_the_pytorch_model(exports, model, tmp_path):
    photos = _few_photos(tmp_path / "photos")
    run_vsearch("ingest", str(photos), "--home", str(tmp_path / "h"))
    query = photos / "drawn.png"
    hits, torch_loaded = run_vsearch("query", "--image", str(query), "--home", str(tmp_path / "h"), "-k", "4")
    assert not torch_loaded
    import vsearch

    col = vsearch.open_collection("photos", home=tmp_path / "h", model=model)  # a handed-in model: PyTorch
    ref = col.search(image=query, k=4)
    assert [h["id"] for h in hits] == [h.id for h in ref]
    np.testing.assert_allclose([h["score"] for h in hits], [h.score for h in ref], atol=2e-3)  # fp16-stored side


def test_first_run_writes_both_exports_then_runs_torch_free(model, tmp_path, monkeypatch):
    """Cold caches: the first ingest builds the model, exports the image path (and the text path,
    in a child process), and encodes as the PyTorch model does; the second ingest and a text
    query import no PyTorch."""
    from vsearch.models.onnx_runtime import export_info_path, image_export_path, text_export_path

    cache = tmp_path / "cache"
    first, _ = run_vsearch("ingest", str(_few_photos(tmp_path / "a", 2)), "--home", str(tmp_path / "h"), cache=cache)
    assert first["encoded"] == 3 and first["timings"]["export"] > 0
    monkeypatch.setenv("VSEARCH_CACHE", str(cache))
    image, text = image_export_path(model.fingerprint), text_export_path(model.fingerprint)
    assert image.is_file() and export_info_path(image).is_file() and text.is_file()
    assert not [p for p in cache.rglob("*") if p.name.startswith(".")]  # no temporary file left over
    second, torch_loaded = run_vsearch("ingest", str(_few_photos(tmp_path / "b", 3)), "--home", str(tmp_path / "h"),
                                       cache=cache)
    assert second["encoded"] == 4 and second["timings"].get("export", 0.0) < 0.05 and not torch_loaded
    hits, torch_loaded = run_vsearch("query", "a red circle", "--home", str(tmp_path / "h"), "-c", "a", cache=cache)
    assert hits and not torch_loaded


def test_the_reranker_every_ingest_knows_reads_the_locked_towers_feature_map():
    """The torch-free identity of the reranker's input (models/handle.py) is the one models/itm.py builds."""
    from vsearch.models.token_reranker import reranker_feature_map
    from vsearch.models.itm import locked_towers

    assert reranker_feature_map() == locked_towers().capabilities.feature_map is not None


def test_hubness_sidecar_loads_with_numpy_and_keeps_its_centres(tmp_path, monkeypatch):
    monkeypatch.setenv("VSEARCH_CACHE", str(tmp_path / "cache"))
    from vsearch.models.hubness import Hubness, load_sidecar, sidecar_path

    rng = np.random.default_rng(0)
    unit = lambda x: x / np.linalg.norm(x, axis=1, keepdims=True)  # noqa: E731
    h = Hubness(unit(rng.standard_normal((50, 8))), unit(rng.standard_normal((40, 8))), 10, 0.5, 5, 1.0)
    weights = tmp_path / "m.safetensors"
    h.save(sidecar_path(weights), "fp")
    again = load_sidecar(weights, "fp")
    v = unit(rng.standard_normal((3, 8))).astype(np.float32)
    assert again.centres == {"image": h._centre_img, "text": h._centre_txt}
    np.testing.assert_array_equal(again.image_bias(v), h.image_bias(v))
    # A sidecar without centres (an older one) computes them once, then remembers them in the cache.
    bare = Hubness(h.texts, h.images, 10, 0.5, 5, 1.0)
    bare.centres_file = tmp_path / "cache" / "c.json"
    assert bare._centre_img == pytest.approx(h._centre_img) and json.loads(bare.centres_file.read_text())["image"]


def test_a_re_ingest_carries_unchanged_rows_over_and_joins_the_read_ones_with_their_metadata(exports, tmp_path):
    """Unchanged rows come over as they were (Arrow), read rows get their content metadata from
    this run's encoding, a moved file's from its old row, another root's rows stay as they are:
    every row ends with the metadata its vector shard stores."""
    import vsearch
    from vsearch.store.collection import CollectionStore
    from vsearch.store.tables import int64_column

    a, b = _few_photos(tmp_path / "a", 3), _few_photos(tmp_path / "b", 1)
    make_image(b / "other.png", "blue", size=(64, 48))
    home = tmp_path / "h"
    vsearch.ingest(a, collection="c", home=home)
    vsearch.ingest(b, collection="c", home=home)
    first = sorted(p.name for p in a.iterdir())[0]
    (a / "sub").mkdir()
    (a / first).rename(a / "sub" / first)                    # moved: same content, new path
    make_image(a / "new.png", "green", size=(80, 60))        # new content
    os.utime(a / "drawn.png", ns=(1_000_000_000, 1_000_000_000))  # touched: read again, same content
    s = vsearch.ingest(a, collection="c", home=home)
    assert (s.moved, s.new, s.unchanged) == (1, 1, 2)
    store = CollectionStore(home / "c")
    table = store.images()
    _, _, meta = store.vectors().load()
    stored = {m["id"]: (m["width"], m["height"]) for m in meta.to_pylist()}
    rows = table.to_pylist()
    assert len(rows) == 5 + 3 and all((r["width"], r["height"]) == stored[r["id"]] for r in rows)
    assert sorted((r["root"], r["path"]) for r in rows) == [(r["root"], r["path"]) for r in rows]
    assert {r["path"] for r in rows if r["root"] == str(b)} == {"drawn.png", "other.png", sorted(os.listdir(EXAMPLES))[0]}
    assert len(np.unique(int64_column(table, "id"))) == 6  # drawn.png and the first photo are in both roots


def test_reindex_and_texts_add_need_no_torch(exports, tmp_path):
    """Both writers encode texts through the model's handle (the ONNX text graph), as queries do
    (texts add loaded the PyTorch model before the writer transaction)."""
    photos = _few_photos(tmp_path / "photos", 2)
    run_vsearch("ingest", str(photos), "--home", str(tmp_path / "h"))
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("a red circle\na dog on the grass\n")
    out, torch_loaded = run_vsearch("texts", "add", str(corpus), "--home", str(tmp_path / "h"))
    assert out["texts"] == 2 and not torch_loaded
    out, torch_loaded = run_vsearch("reindex", "--home", str(tmp_path / "h"))
    assert out["vectors"] == 3 and out["texts"] == 2 and out["hubness"] and not torch_loaded


def test_a_cuda_device_keeps_the_pytorch_path():
    """On a CUDA device images go through PyTorch (fp16 autocast), as before; deciding so imports nothing."""
    from vsearch.models.handle import ModelHandle

    h = ModelHandle.open("align-lite", device="cuda")
    assert h.device_type == "cuda" and not h.wants_onnx("auto") and h.wants_onnx("onnx")
    assert ModelHandle.open("align-lite", device="cpu").wants_onnx("auto")


def test_reranker_tokens_are_stored_without_torch_once_exported(exports, model, tmp_path, monkeypatch):
    """A reranker checkpoint that reads the model's feature map: once the image graph with the
    tokens as a second output is exported, an ingest stores its tokens torch-free."""
    import torch

    from vsearch.models import save_checkpoint
    from vsearch.models.checkpoint import file_digest
    from vsearch.models.handle import ModelHandle
    from vsearch.models.token_reranker import TokenReranker
    from vsearch.models.itm import ITMConfig, ITMHead
    from vsearch.models.onnx_runtime import text_export_path
    from vsearch.store.tokens import TokenStore

    torch.manual_seed(0)
    cfg = ITMConfig(width=64, layers=1, heads=2)
    itm = save_checkpoint(tmp_path / "itm.safetensors", cfg.to_json(), ITMHead(cfg).state_dict(), {"default_k": 4})
    cache = tmp_path / "cache"
    (cache / "onnx").mkdir(parents=True)
    text = text_export_path(model.fingerprint)
    shutil.copy(text, cache / "onnx" / text.name)
    monkeypatch.setenv("VSEARCH_CACHE", str(cache))
    handle = ModelHandle.open(model)
    rr = TokenReranker.from_file(itm)
    assert handle.reads_feature_map(rr)
    handle.exports.image_export(rr)  # what a first ingest with this reranker does (with PyTorch)
    home = tmp_path / "h"
    out, torch_loaded = run_vsearch("ingest", str(_few_photos(tmp_path / "b", 2)), "--home", str(home),
                                    "--reranker", str(itm), cache=cache)
    assert out["encoded"] == 3 and not torch_loaded
    tokens = TokenStore(home / "b", file_digest(itm))
    stored = tokens.lookup(tokens.known_ids().tolist())
    assert len(stored) == 3 and all(t.shape == (64, 64) for t in stored)
    # An image query uses that graph too (its first output): nothing is exported twice.
    hits, torch_loaded = run_vsearch("query", "--image", str(tmp_path / "b" / "drawn.png"), "--home", str(home), cache=cache)
    assert hits[0]["path"].endswith("drawn.png") and not torch_loaded
    from vsearch.models.onnx_runtime import image_export_path

    assert not image_export_path(model.fingerprint).exists()
    # ... and they are the tokens the PyTorch path computes (tests/test_rerank.py: those are the
    # reranker's own).
    from vsearch.store.collection import CollectionStore

    rows = CollectionStore(home / "b").images().to_pylist()
    paths = {r["id"]: tmp_path / "b" / r["path"] for r in rows}
    ids = tokens.known_ids().tolist()
    from vsearch.pipeline.decode import decode_file

    pixels = np.stack([decode_file(paths[i], model.preprocess).pixels for i in ids])
    from vsearch.models.image_encoder import ImageEncoder

    fresh = ImageEncoder(model, "torch", rr.load()).encode(pixels)[1].reshape(len(ids), -1)
    got = np.stack(tokens.lookup(ids)).astype(np.float32).reshape(len(ids), -1)
    cos = (got * fresh).sum(1) / np.linalg.norm(got, axis=1) / np.linalg.norm(fresh, axis=1)
    assert cos.min() > 0.999
