"""A collection name is a name, never a path (issue 20, defect 1): every command that takes
--collection, the library functions they call and the UI refuse one that is not, in one line and
before anything is written, so nothing lands outside the index home."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

import vsearch
from conftest import make_image, unit_rows
from vsearch.cli import app
from vsearch.errors import InvalidOptionError

runner = CliRunner()

BAD = ["../../escape", "/tmp/vsearch-abs", "..", ".", "a/b", "a\\b", ".hidden", "red\x1b[31m", "new\nline",
       "x" * 300, " padded", "", "evals"]


@pytest.fixture()
def world(tmp_path: Path):
    shutil.rmtree(ABSOLUTE, ignore_errors=True)
    yield make_world(tmp_path)
    shutil.rmtree(ABSOLUTE, ignore_errors=True)


def make_world(tmp_path: Path) -> dict:
    photos = tmp_path / "deep" / "photos"
    for i, c in enumerate(["red", "green"]):
        make_image(photos / f"{i}.png", c)
    (tmp_path / "corpus.txt").write_text("a red square\n")
    (tmp_path / "queries.csv").write_text("query,relevant\na red square,0.png\n")
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"path": [str(photos / "0.png")], "vector": [unit_rows(1, 256)[0].tolist()]}),
                   tmp_path / "deep" / "emb.parquet")
    return {"tmp": tmp_path, "photos": photos, "home": tmp_path / "deep" / "home" / "indexes"}


ABSOLUTE = Path("/tmp/vsearch-abs")


def manifests(root: Path) -> list[Path]:
    """Every collection written under `root`, or at the absolute name tried."""
    return list(root.rglob("manifest.json")) + list(ABSOLUTE.glob("manifest.json"))


COMMANDS = {
    "ingest": lambda w, n: ["ingest", w["photos"], "--collection", n],
    "query": lambda w, n: ["query", "a red square", "--collection", n],
    "info": lambda w, n: ["info", "--collection", n],
    "reindex": lambda w, n: ["reindex", "--collection", n],
    "texts": lambda w, n: ["texts", "add", w["tmp"] / "corpus.txt", "--collection", n],
    "import": lambda w, n: ["import", w["tmp"] / "deep" / "emb.parquet", "--model", "align-lite", "--collection", n],
    "eval": lambda w, n: ["eval", "--queries", w["tmp"] / "queries.csv", "--collection", n, "--no-save"],
    "ui": lambda w, n: ["ui", n, "--no-browser"],
}


@pytest.mark.parametrize("name", BAD, ids=[repr(n)[:20] for n in BAD])
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_refuses_a_name_that_is_a_path(world, command, name, monkeypatch):
    if name == "" and command == "ui":
        pytest.skip("an empty UI argument means: the first collection")
    monkeypatch.setattr(os, "execv", lambda *a: (_ for _ in ()).throw(AssertionError("the UI was started")))
    args = [str(a) for a in COMMANDS[command](world, name)] + ["--home", str(world["home"])]
    r = runner.invoke(app, args)
    assert r.exit_code == 2, (r.output, r.exception)
    assert r.output.startswith("error:") and r.output.count("\n") == 1 and "cannot be a collection name" in r.output
    assert "a collection name is 1 to" in r.output  # says what a name may be
    assert manifests(world["tmp"]) == []  # nothing written, inside the home or out of it


@pytest.mark.parametrize("name", ["../../escape", "/tmp/vsearch-abs", "..", ".", "a/b", ".hidden", "x" * 300])
def test_the_library_refuses_them_too(world, name):
    from vsearch.pipeline.importing import import_embeddings
    from vsearch.pipeline.reindex import reindex

    home = world["home"]
    calls = [lambda: vsearch.ingest(world["photos"], collection=name, home=home),
             lambda: vsearch.open_collection(name, home=home),
             lambda: vsearch.add_texts(["a red square"], name, home),
             lambda: reindex(name, home),
             lambda: import_embeddings(world["tmp"] / "deep" / "emb.parquet", "align-lite", name, home)]
    for call in calls:
        with pytest.raises(InvalidOptionError, match="cannot be a collection name"):
            call()
    assert manifests(world["tmp"]) == []


def test_a_folder_whose_name_cannot_name_a_collection_gives_its_own_name_way(world):
    """The default name is the folder's: a hidden folder needs --collection, and says so."""
    hidden = world["tmp"] / ".photos"
    make_image(hidden / "a.png", "red")
    with pytest.raises(InvalidOptionError, match="--collection"):
        vsearch.ingest(hidden, home=world["home"])
    s = vsearch.ingest(hidden, collection="photos", home=world["home"])
    assert s.collection == "photos" and vsearch.list_collections(world["home"]) == ["photos"]


def test_good_names_still_work_and_odd_folders_in_the_home_are_not_listed(world):
    home = world["home"]
    s = vsearch.ingest(world["photos"], collection="Trips 2024 (été)", home=home)
    assert s.images == 2
    (home / ".stray").mkdir()
    (home / ".stray" / "manifest.json").write_text("{}")  # not a collection any command can name
    assert vsearch.list_collections(home) == ["Trips 2024 (été)"]
    assert len(vsearch.open_collection(home=home).search("a red square", k=1)) == 1
