"""The migration ladder: a version-1 collection (before names that are not UTF-8, reader locks,
damaged/) and a version-3 one (before RAW files, videos and pixel signatures: no media, companion,
lens, frame_ms, duration_ms, phash, thumb columns, no near-duplicate pairs) open and keep working,
their next commit writes this version, and a version newer than this vsearch is refused with a
message."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pyarrow.parquet as pq
from collection_state import as_single_file_index, as_version_3
from conftest import make_image
from typer.testing import CliRunner

import vsearch
from vsearch.cli import app
from vsearch.store.collection import CollectionStore
from vsearch.store.manifest import FORMAT_VERSION, MIGRATIONS

runner = CliRunner()


def as_version_1(folder: Path) -> None:
    """Rewrite a collection as vsearch wrote version 1: no raw_path column, no reader locks."""
    as_version_3(folder)
    m = json.loads((folder / "manifest.json").read_text())
    m["format_version"] = 1
    images = folder / m["files"]["images"]
    pq.write_table(pq.read_table(images).drop_columns(["raw_path"]), images)
    for p in folder.glob("readers-*.lock"):
        p.unlink()
    (folder / "manifest.json").write_text(json.dumps(m))
    as_single_file_index(folder)  # as every version before 3 wrote it


def test_the_ladder_reaches_this_version():
    assert FORMAT_VERSION == 4 and sorted(MIGRATIONS) == list(range(1, FORMAT_VERSION))


def written_files(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text())["files"]


def test_a_version_1_collection_opens_keeps_working_and_is_written_as_this_version(ingested_copy):
    home, photos = ingested_copy
    folder = home / "photos"
    before = [h.id for h in vsearch.open_collection(home=home).search("a red square", k=5)]
    as_version_1(folder)
    env = {"VSEARCH_HOME": str(home)}
    col = vsearch.open_collection(home=home)  # a reader of a version-1 collection makes its own lock file
    assert [h.id for h in col.search("a red square", k=5)] == before
    assert col.images.column("raw_path").null_count == len(col.images)
    name = os.fsdecode(b"caf\xe9.png")
    make_image(photos / name, "yellow", "circle")
    r = runner.invoke(app, ["ingest", str(photos), "--json"], env=env)
    assert r.exit_code == 0, r.output
    written = json.loads((folder / "manifest.json").read_text())
    assert written["format_version"] == FORMAT_VERSION and (folder / written["files"]["index"]).is_dir()
    images = CollectionStore(folder).images()
    raw = {r["path"]: r["raw_path"] for r in images.to_pylist()}
    assert raw["caf\\xe9.png"] == b"caf\xe9.png" and sum(v is not None for v in raw.values()) == 1
    # the reader that opened version 1 still reads its generation: its lock lists no files, so
    # the commit removed nothing while it was held
    assert [h.id for h in col.search("a red square", k=5)] == before


def test_a_version_3_collection_opens_and_its_next_ingest_writes_this_version(ingested_copy):
    home, photos = ingested_copy
    folder = home / "photos"
    before = [(h.id, h.relpath) for h in vsearch.open_collection(home=home).search("a red square", k=5)]
    as_version_3(folder)
    col = vsearch.open_collection(home=home)
    assert [(h.id, h.relpath) for h in col.search("a red square", k=5)] == before
    assert {h.media for h in col.search("a red square", k=5)} == {"photo"} and not col.frames
    make_image(photos / "new.png", "green", "circle")
    r = runner.invoke(app, ["ingest", str(photos), "--json"], env={"VSEARCH_HOME": str(home)})
    assert r.exit_code == 0, r.output
    assert json.loads((folder / "manifest.json").read_text())["format_version"] == FORMAT_VERSION
    images = CollectionStore(folder).images()
    media = dict(zip(images.column("path").to_pylist(), images.column("media").to_pylist()))
    assert media["new.png"] == "photo" and media["red_square.jpg"] is None  # carried over as version 3 held it
    shards = CollectionStore(folder).vectors().read(columns=["id", "lens", "frame_ms", "thumb"])  # old shards read with nulls
    assert shards.column("frame_ms").null_count == len(shards)
    assert 0 < shards.column("thumb").null_count < len(shards)  # the new photo's shard has its signature
    assert written_files(folder)["duplicates"] and not (folder / "damaged").exists()  # pairs found, nothing set aside


def test_a_newer_version_is_refused_with_a_message(ingested_copy):
    home, _ = ingested_copy
    folder = home / "photos"
    m = json.loads((folder / "manifest.json").read_text())
    m["format_version"] = FORMAT_VERSION + 1
    (folder / "manifest.json").write_text(json.dumps(m))
    r = runner.invoke(app, ["query", "a red square"], env={"VSEARCH_HOME": str(home)})
    assert r.exit_code == 2 and r.output.count("\n") == 1
    assert f"format version {FORMAT_VERSION + 1}" in r.output and "re-ingest" in r.output
    shutil.rmtree(folder)
