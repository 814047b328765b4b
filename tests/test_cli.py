"""The CLI's contract: options are checked before any work, every failure is one line and a
non-zero exit, results are readable, and a cold text query does not import PyTorch."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import cli


@pytest.fixture()
def no_reading(monkeypatch):
    """Fails the test if any photo is read."""
    import vsearch.pipeline.decode as decode

    def boom(*a, **k):
        raise AssertionError("a photo was read before the options were checked")

    monkeypatch.setattr(decode, "decode_file", boom)


@pytest.mark.parametrize("args, says", [
    (["--index", "hnws"], "unknown index type 'hnws'"),
    (["--max-index-memory", "lots"], "not a size"),
    (["--max-index-memory", "10"], "at least 1 MB"),
    (["--batch-size", "0"], "--batch-size"),
    (["--workers", "-1"], "--workers"),
    (["--model", "no-such-model"], "unknown model 'no-such-model'"),
])
def test_ingest_options_are_refused_before_any_photo_is_read(photos, home, no_reading, args, says):
    r = cli("ingest", photos, *args, code=2)
    assert says in r.output and "Traceback" not in r.output
    assert not home.exists() or not any(home.iterdir())  # nothing was created


@pytest.mark.parametrize("args, says", [
    (["x", "-k", "0"], "-k"),
    (["x", "-k", "-3"], "-k"),
    (["x", "--rerank-k", "-1"], "--rerank-k"),
    (["x", "--image", "nope.jpg"], "exactly one of"),
    (["--image", "/nonexistent.jpg"], "not a file"),
    ([], "exactly one of"),
])
def test_query_options_are_refused_before_any_work(shared_home, args, says):
    r = cli("query", *args, code=2)
    assert says in r.output and "Traceback" not in r.output


@pytest.fixture()
def shared_home(ingested, monkeypatch):
    home, _ = ingested
    monkeypatch.setenv("VSEARCH_HOME", str(home))
    return home


def test_library_errors_are_one_line_and_exit_2(tmp_path, monkeypatch):
    monkeypatch.setenv("VSEARCH_HOME", str(tmp_path / "none"))
    r = cli("query", "a dog", code=2)
    assert r.output.startswith("error:") and len(r.output.strip().splitlines()) == 1 and "vsearch ingest" in r.output
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    photos = tmp_path / "p"
    photos.mkdir()
    r = cli("ingest", photos, "--home", blocker / "home", code=2)  # an OSError from the disk
    assert r.output.startswith("error:") and len(r.output.strip().splitlines()) == 1


def test_a_bug_is_one_line_exit_3_with_the_way_to_the_traceback(shared_home, monkeypatch):
    import vsearch.search.collection as collection

    def broken(*a, **k):
        raise RuntimeError("boom")

    monkeypatch.setattr(collection.Collection, "search", broken)
    monkeypatch.delenv("VSEARCH_DEBUG", raising=False)
    r = cli("query", "a dog", code=3)
    assert "internal error (RuntimeError: boom)" in r.output and "VSEARCH_DEBUG=1" in r.output
    assert len(r.output.strip().splitlines()) == 1


def test_result_table_shows_relative_paths_and_a_date_for_every_photo(shared_home, ingested):
    _, photos = ingested
    r = cli("query", "a red square", "-k", "3")
    assert str(photos) not in r.output  # relative to the ingested folder; --json has full paths
    hits = json.loads(cli("query", "a red square", "-k", "3", "--json").stdout)
    assert all(h["path"].startswith(str(photos)) for h in hits)
    for h in hits:
        assert h["relpath"] in r.output
        # Generated photos have no EXIF date: the table falls back to the file's date, marked with *
        assert h["taken_at"] is None and h["mtime"][:10] + "*" in r.output
    assert "file's date" in r.output


def test_models_lists_what_each_model_is_with_figures():
    r = json.loads(cli("models", "--json").stdout)
    default = next(m for m in r["models"] if m["name"] == "align-lite")
    assert default["weights_shipped"] and default["offline"] and default["flickr8k_test_r1"] == [26.7, 34.5]
    assert any(m["name"].startswith("openclip:ViT-B-32/") and m["flickr30k_r1"][0] > 60 for m in r["openclip"])
    text = cli("models").stdout
    assert "align-lite" in text and "openclip:ViT-B-32/laion2b_s34b_b79k" in text and "26.7" in text


def test_cold_text_query_imports_neither_torch_nor_pandas(shared_home, tmp_path):
    code = ("import sys, json, vsearch; col = vsearch.open_collection(); hits = col.search('a red square', k=3); "
            "print(json.dumps({'hits': len(hits), 'torch': 'torch' in sys.modules, 'pandas': 'pandas' in sys.modules}))")
    env = {**os.environ, "VSEARCH_HOME": str(shared_home)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120, check=True)
    r = json.loads(out.stdout.strip().splitlines()[-1])
    assert r == {"hits": 3, "torch": False, "pandas": False}


def test_unidentified_weights_cannot_build_a_collection(photos, home):
    r = cli("ingest", photos, "--model", "openclip:vsearch-tiny", code=2)
    assert "no identified weights" in r.output and "pretrained tag" in r.output
    assert not (home / "photos" / "manifest.json").exists()
