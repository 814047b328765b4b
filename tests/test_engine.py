"""The CLI end to end on a small folder: ingest, query, incremental re-runs, bad files, filters."""
import json
import os
import shutil

import pyarrow.parquet as pq
import pytest

from conftest import cli, cli_json, make_image


@pytest.fixture()
def shared(ingested, monkeypatch):
    """The session's ingested collection as $VSEARCH_HOME, for tests that only read it."""
    home, photos = ingested
    monkeypatch.setenv("VSEARCH_HOME", str(home))
    return home, photos


def test_ingest_query_end_to_end(photos, home):
    s = cli_json("ingest", photos)
    n_good = len([p for p in photos.rglob("*") if p.is_file() and p.suffix != ".txt" and "bad" not in p.parts])
    assert s["images"] == n_good and s["errors"] == 3 and s["duplicates"] == 1
    assert s["encoded"] == n_good - 1  # the duplicate is encoded once
    errors = pq.read_table(next(home.glob("photos/errors-*.parquet"))).to_pylist()
    reasons = {e["path"]: e["reason"] for e in errors}
    assert "not an image" in reasons["bad/not_an_image.jpg"]
    assert "empty" in reasons["bad/empty.png"]
    assert "truncated" in reasons["bad/truncated.jpg"]

    hits = cli_json("query", "a photo", "-k", 5)
    assert len(hits) == 5 and all(h["path"].startswith(str(photos)) for h in hits)
    assert hits == sorted(hits, key=lambda h: -h["score"])

    same = cli_json("query", "--image", photos / "blue_circle.png", "-k", 3)
    assert same[0]["relpath"] == "blue_circle.png" and same[0]["score"] > 0.99

    like = cli_json("query", "--like", "blue_circle.png", "-k", 3)
    assert len(like) == 3 and "blue_circle.png" not in [h["relpath"] for h in like]

    dup = cli_json("query", "--image", photos / "red_square.jpg", "-k", 1)[0]
    assert dup["duplicates"] and dup["duplicates"][0].endswith("red_copy.jpg") or dup["path"].endswith("red_copy.jpg")

    info = cli_json("info")
    assert info["model"] == "align-lite" and info["counts"]["images"] == n_good and info["index"]["type"] == "flat"
    assert "Recall" not in cli("query", "--help").stdout and "--where" in cli("query", "--help").stdout


def test_rerun_rename_delete_add(ingested_copy):
    home, photos = ingested_copy
    first = cli_json("info")["counts"]
    again = cli_json("ingest", photos)
    assert again["encoded"] == 0 and again["unchanged"] == first["images"] and again["new"] == 0

    os.rename(photos / "old" / "scan.tiff", photos / "old" / "renamed.tiff")
    (photos / "trips" / "yellow.bmp").unlink()
    make_image(photos / "new" / "fresh.png", "green", "circle", size=(60, 90))
    s = cli_json("ingest", photos)
    assert (s["moved"], s["removed"], s["new"], s["encoded"]) == (1, 1, 1, 1)
    paths = {h["relpath"] for h in cli_json("query", "x", "-k", 100)} | {
        d.split(str(photos) + "/")[1] for h in cli_json("query", "x", "-k", 100) for d in h["duplicates"]}
    assert "old/renamed.tiff" in paths and "new/fresh.png" in paths
    assert "old/scan.tiff" not in paths and "trips/yellow.bmp" not in paths


def test_where_filters_with_full_k(shared):
    hits = cli_json("query", "something", "--where", "folder = 'trips'", "-k", 10)
    assert hits and all(h["folder"] == "trips" for h in hits)
    assert len(hits) == 4  # green.webp, yellow.bmp, anim.gif, red_copy.jpg: every matching file
    hits = cli_json("query", "something", "--where", "width >= 90 AND path LIKE '%.png'", "-k", 2)
    assert [h["relpath"] for h in hits] == ["blue_circle.png"]
    r = cli("query", "x", "--where", "no_such_column > 1", code=2)
    assert "bad --where" in r.output and "Columns" in r.output


def test_wrong_model_is_refused(shared):
    home, photos = shared
    r = cli("query", "a dog", "--model", "openclip:vsearch-tiny", code=2)
    assert "align-lite" in r.output
    r = cli("ingest", photos, "--model", "openclip:vsearch-tiny", code=2)
    assert "built with model 'align-lite'" in r.output


def test_image_to_text(ingested_copy, tmp_path):
    home, photos = ingested_copy
    r = cli("query", "--image", photos / "red_square.jpg", "--texts", code=2)
    assert "texts add" in r.output
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("a red square\na blue circle\ntwo dogs play in the snow\n\n")
    assert cli_json("texts", "add", corpus)["texts"] == 3
    hits = cli_json("query", "--image", photos / "red_square.jpg", "--texts", "-k", 3)
    assert len(hits) == 3 and {h["text"] for h in hits} == {"a red square", "a blue circle", "two dogs play in the snow"}


def test_strict_and_nothing_ingested(ingested_copy, tmp_path):
    home, photos = ingested_copy
    cli("ingest", photos, "--strict", code=1)
    empty = tmp_path / "only_bad"
    empty.mkdir()
    (empty / "x.jpg").write_text("nope")
    r = cli("ingest", empty, code=2)
    assert "no image could be ingested" in r.output


def test_reader_keeps_its_generation_during_a_commit(ingested_copy):
    import vsearch

    home, photos = ingested_copy
    col = vsearch.open_collection()
    before = len(col.search("x", k=100))
    make_image(photos / "later.png", "yellow", "circle")
    cli("ingest", photos)
    assert len(col.search("x", k=100)) == before  # old generation still readable
    assert col.reload() and len(col.search("x", k=100)) == before + 1


def test_damaged_collection_is_refused(ingested_copy):
    home, photos = ingested_copy
    (home / "photos" / "manifest.json").write_text("{ not json")
    r = cli("query", "x", code=2)
    assert "damaged" in r.output and "vsearch reindex" in r.output  # rebuilt from its files (test_manifest_trust)
    shutil.rmtree(home / "photos")
    assert "vsearch ingest" in cli("query", "x", code=2).output


def test_eval_on_collection_with_queries_file(shared, tmp_path):
    home, photos = shared
    every = "|".join(str(p.relative_to(photos)) for p in photos.rglob("*") if p.suffix in {".png", ".jpg", ".webp", ".bmp", ".gif", ".tiff"})
    q = tmp_path / "queries.csv"
    q.write_text(f"query,relevant\na shape,{every}\nanything,missing/file.jpg\n")
    r = cli_json("eval", "--queries", q, "--no-save")
    assert r["n_texts"] == 2
    assert r["text_to_image"]["R@1"] == 50.0 and r["text_to_image"]["R@10"] == 50.0
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    assert "query,relevant" in cli("eval", "--queries", bad, "--no-save", code=2).output


def test_exif_metadata_orientation_and_bomb(tmp_path, home):
    from PIL import Image

    root = tmp_path / "cam"
    root.mkdir()
    img = Image.new("RGB", (120, 80), (200, 30, 30))
    exif = Image.Exif()
    exif[271], exif[272], exif[274] = "Canon", "Canon EOS 5D", 6  # make, model, orientation: rotate 90
    exif.get_ifd(0x8769)[36867] = "2021:07:04 10:11:12"
    img.save(root / "exif.jpg", exif=exif)
    Image.new("1", (15000, 15000)).save(root / "bomb.png")  # 225 Mpx in a small file
    s = cli_json("ingest", root)
    assert s["images"] == 1 and s["errors"] == 1
    assert "decompression bomb" in s["error_samples"][0]["reason"]
    hit = cli_json("query", "red", "--where", "taken_at >= '2021-01-01' AND camera = 'Canon EOS 5D'")[0]
    assert hit["relpath"] == "exif.jpg" and hit["taken_at"].startswith("2021-07-04T10:11:12")
    assert (hit["width"], hit["height"]) == (120, 80)


def test_reindex_repairs_a_damaged_index_and_switches_type(ingested_copy, tmp_path):
    home, photos = ingested_copy
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("a red square\na blue circle\n")
    cli("texts", "add", corpus)
    before = [h["id"] for h in cli_json("query", "a red square", "-k", 5)]
    before_texts = [h["text"] for h in cli_json("query", "--image", photos / "red_square.jpg", "--texts", "-k", 2)]
    m = json.loads((home / "photos" / "manifest.json").read_text())
    for key in ("index", "texts_index"):
        (home / "photos" / m["files"][key] / "index.faiss").write_bytes(b"\x00garbage")
    r = cli("query", "a red square", code=2)
    assert "damaged" in r.output and "vsearch reindex" in r.output
    done = cli_json("reindex")
    assert done["vectors"] == m["counts"]["vectors"] and done["texts"] == 2 and done["index"]["type"] == "flat"
    assert [h["id"] for h in cli_json("query", "a red square", "-k", 5)] == before
    assert [h["text"] for h in cli_json("query", "--image", photos / "red_square.jpg", "--texts", "-k", 2)] == before_texts
    assert cli_json("reindex", "--index", "hnsw")["index"]["type"] == "hnsw"
    assert cli_json("info")["index"]["type"] == "hnsw"
    assert [h["id"] for h in cli_json("query", "a red square", "-k", 5)] == before


def test_reindex_gives_an_old_collection_its_hubness_biases(ingested_copy):
    from vsearch.store.collection import CollectionStore

    home, photos = ingested_copy
    store = CollectionStore(home / "photos")
    m = store.manifest
    m.files.pop("image_bias")  # as a collection made before the correction existed
    store.commit(m)
    assert CollectionStore(home / "photos").bias("image_bias") == {}
    assert cli_json("info")["hubness_correction"] is False
    assert cli_json("reindex")["hubness"] is True
    assert cli_json("info")["hubness_correction"] is True
    assert len(CollectionStore(home / "photos").bias("image_bias")) == m.counts["vectors"]
