"""A collection's index through ingest, reindex, info and queries: auto's recorded choice and
recall, the requested kind kept, changes made in place, filters, and format-2 single files."""
from __future__ import annotations

import numpy as np
from collection_state import as_single_file_index
from conftest import cli, cli_json, make_image

from vsearch.store.collection import CollectionStore
from vsearch.store.manifest import FORMAT_VERSION


def test_auto_records_its_choice_and_measured_recall(ingested_copy):
    home, _ = ingested_copy
    idx = cli_json("info")["index"]
    assert idx["requested"] == "auto" and idx["type"] == "flat"
    assert idx["recall_at_10"] == {"text": 1.0, "image": 1.0} and idx["target_met"] is True
    # align-lite has banks of real caption and photo vectors: auto measures with those
    assert idx["queries"]["text_source"] == "given" and idx["queries"]["image_source"] == "given"
    shown = cli("info").stdout
    assert "recall@10" in shown and "exact: a scan of" in shown


def test_requested_kind_survives_ingests_and_changes_in_place(ingested_copy):
    home, photos = ingested_copy
    assert cli_json("reindex", "--index", "hnsw")["index"]["type"] == "hnsw"
    before = CollectionStore(home / "photos").manifest.index
    assert before.requested == "hnsw" and before.updates == 0
    make_image(photos / "new_green.jpg", "green", "circle")
    (photos / "blue_circle.png").unlink()
    cli("ingest", photos)
    after = CollectionStore(home / "photos").manifest.index
    assert after.type == "hnsw" and after.requested == "hnsw"
    assert after.updates == 1 and after.measured["build_s"] == before.measured["build_s"]  # added and removed, not rebuilt
    store = CollectionStore(home / "photos")
    live = np.unique(np.array(store.images().column("id").to_pylist(), dtype=np.int64))
    index = store.index()
    assert index.ntotal == len(live) and (index.lookup(live) >= 0).all()
    paths = [h["relpath"] for h in cli_json("query", "a green circle", "-k", 50)]
    assert "new_green.jpg" in paths and "blue_circle.png" not in paths


def test_an_unchanged_ingest_carries_the_index_over(ingested_copy):
    home, photos = ingested_copy
    name = CollectionStore(home / "photos").manifest.files["index"]
    cli("ingest", photos)
    m = CollectionStore(home / "photos").manifest
    assert m.files["index"] == name and m.generation >= 2  # the same folder, not a copy


def test_filters_select_by_rows_and_return_k_allowed_hits(ingested_copy):
    home, _ = ingested_copy
    every = cli_json("query", "a square", "-k", 50)
    pngs = [h for h in cli_json("query", "a square", "-k", 50, "--where", "path LIKE '%.png'")]
    assert pngs and all(h["relpath"].endswith(".png") for h in pngs)
    assert [h["id"] for h in pngs] == [h["id"] for h in every if h["relpath"].endswith(".png")][:len(pngs)]


def test_max_index_memory_is_recorded_and_kept(ingested_copy):
    home, photos = ingested_copy
    cli("reindex", "--max-index-memory", "64MB")
    assert CollectionStore(home / "photos").manifest.index.max_memory == 64 << 20
    make_image(photos / "new_red.jpg", "red", "circle")
    cli("ingest", photos)
    assert CollectionStore(home / "photos").manifest.index.max_memory == 64 << 20


def test_a_format_2_single_file_index_is_read_then_rewritten(ingested_copy):
    """A collection written by vsearch 0.2 (format 2): its index is one IndexIDMap2 file."""
    home, photos = ingested_copy
    folder = home / "photos"
    before = [h["id"] for h in cli_json("query", "a red square", "-k", 8)]
    as_single_file_index(folder)

    assert [h["id"] for h in cli_json("query", "a red square", "-k", 8)] == before
    assert cli_json("info")["legacy_index"] is True and "format-2 file" in cli("info").stdout
    cli("ingest", photos)  # the next commit writes a folder and the record
    m = CollectionStore(folder).manifest
    assert (folder / m.files["index"]).is_dir() and m.format_version == FORMAT_VERSION and "recall_at_10" in m.index.measured
    assert [h["id"] for h in cli_json("query", "a red square", "-k", 8)] == before
