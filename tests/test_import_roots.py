"""What an import may read is chosen by the user, never by the rows (issue 20, defects 3 and 4):
rows outside the folders named (`--root`, default the folder holding the source), links out of
them and paths no file system holds are refused with their reason; every later file access stays
inside the roots; an absurd path in a collection is a message, never a raw OSError."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import vsearch
from test_import import exported
from vsearch.cli import app
from vsearch.errors import QueryError, VsearchError
from vsearch.store.collection import CollectionStore

runner = CliRunner()
FAR_UP = "../" * 40  # more than any depth: normalises to /


def parquet_source(path: Path, paths: list[str], vecs: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"image_path": paths, "vector": [v.tolist() for v in vecs]}), path)
    return path


@pytest.fixture()
def hostile(ingested, tmp_path):
    """The session's photos copied under lib/, a private photo beside lib/, and a Parquet source in
    lib/ whose rows are the photos plus rows naming /etc/passwd, /etc/hostname (up from the
    source's folder), /proc/self/environ, a link inside the photos to /etc/passwd and the private
    photo (with a copied vector, as an attacker would give it)."""
    home, photos = ingested
    paths, vecs = exported(home)
    lib = tmp_path / "lib"
    mine = lib / "photos"
    shutil.copytree(photos, mine)
    paths = [str(mine / Path(p).relative_to(photos)) for p in paths]
    private = tmp_path / "private" / "secret.jpg"
    private.parent.mkdir()
    shutil.copy(paths[0], private)
    os.symlink("/etc/passwd", mine / "link.jpg")
    bad = ["/etc/passwd", FAR_UP + "etc/hostname", "/proc/self/environ", str(mine / "link.jpg"), str(private)]
    src = parquet_source(lib / "emb.parquet", paths + bad, np.concatenate([vecs, np.repeat(vecs[:1], len(bad), 0)]))
    return {"src": src, "photos": mine, "lib": lib, "private": private, "rows": len(paths), "paths": paths,
            "home": tmp_path / "home"}


def cli(*args, code=0):
    r = runner.invoke(app, [str(a) for a in args])
    assert r.exit_code == code, (r.output, r.exception)
    return r


def test_rows_outside_the_folders_named_are_refused_and_the_root_stays_the_users(hostile):
    h = hostile
    s = json.loads(cli("import", h["src"], "-m", "align-lite", "--home", h["home"], "-c", "lib", "--json").stdout)
    assert s["roots"] == [str(h["lib"].resolve())]  # the default: the folder holding the source
    assert s["root"] == str(h["photos"].resolve()) and s["images"] == h["rows"] and s["refused"] == 5
    reasons = {r["path"]: r["reason"] for r in s["refused_samples"]}
    assert reasons["/etc/passwd"].startswith("outside") and reasons["/etc/hostname"].startswith("outside")
    assert reasons[str(h["private"])].startswith("outside") and "link" in reasons[str(h["photos"] / "link.jpg")]
    col = vsearch.open_collection("lib", home=h["home"])
    assert col.info()["roots"] == [str(h["photos"].resolve())]
    for id_ in set(col.images.column("id").to_pylist()):
        assert col.file_path(id_).is_relative_to(h["photos"].resolve())
        assert col.thumbnail(id_, 64).is_file()
    for hit in col.search("a red square", k=100):
        assert hit.path.startswith(str(h["photos"].resolve()) + "/")


def test_the_user_names_the_roots_and_nothing_outside_them_is_read(hostile, tmp_path):
    h = hostile
    trips = h["photos"] / "trips"
    # --root is exact: only trips/ may be read, so every other row is refused
    s = vsearch.import_embeddings(h["src"], "align-lite", "trips", h["home"], roots=[trips])
    store = CollectionStore(h["home"] / "trips")
    assert store.manifest.roots == [str(trips.resolve())]
    inside = sorted(os.path.relpath(p, trips) for p in h["paths"] if p.startswith(str(trips) + "/"))
    assert sorted(store.images().column("path").to_pylist()) == inside and len(inside) >= 2
    assert s.refused == s.rows - len(inside)
    # nothing may be read: refused whole, saying which --root would allow it
    with pytest.raises(VsearchError, match=r"add `--root /etc`"):
        vsearch.import_embeddings(parquet_source(tmp_path / "x" / "e.parquet", ["/etc/passwd"], np.eye(1, 256)),
                                  "align-lite", "x", h["home"])
    assert not (h["home"] / "x").exists()


def test_several_roots(hostile):
    h = hostile
    home = h["home"]
    trips, flickr = h["photos"] / "trips", h["photos"] / "old"
    s = vsearch.import_embeddings(h["src"], "align-lite", "two", home, roots=[trips, flickr])
    store = CollectionStore(home / "two")
    assert store.manifest.roots == sorted([str(trips.resolve()), str(flickr.resolve())])
    rows = store.images().to_pylist()
    assert rows and {r["root"] for r in rows} == set(store.manifest.roots) and s.images == len(rows)
    col = vsearch.open_collection("two", home=home)
    for r in rows:
        assert col.file_path(r["id"]).is_relative_to(Path(r["root"]))


def test_a_repair_of_an_imported_collection_walks_only_its_roots(hostile):
    h = hostile
    vsearch.import_embeddings(h["src"], "align-lite", "lib", h["home"])
    store = CollectionStore(h["home"] / "lib")
    images = store.folder / store.manifest.files["images"]
    before = sorted(store.images().column("path").to_pylist())
    images.write_bytes(b"not parquet")
    r = vsearch.reindex("lib", h["home"])
    assert any("images table rebuilt for " + str(h["photos"].resolve()) in line for line in r["repaired"])
    after = CollectionStore(h["home"] / "lib").images().column("path").to_pylist()
    assert sorted(after) == before


@pytest.mark.parametrize("bad, says", [
    ("a" * 10_000 + ".jpg", "a path of"),
    ("b" * 300 + ".jpg", "a file or folder name of"),
    ("nul\x00.jpg", "NUL"),
], ids=["10000-chars", "300-byte-name", "nul"])
def test_absurd_paths_are_refused_at_import_with_a_reason(hostile, bad, says):
    h = hostile
    paths = [str(h["photos"] / "nowhere.jpg"), str(h["photos"] / bad)]
    src = parquet_source(h["lib"] / "absurd.parquet", paths, np.eye(2, 256, dtype=np.float32))
    s = vsearch.import_embeddings(src, "align-lite", "absurd", h["home"])
    assert s.images == 1 and s.refused == 1 and says in s.refused_samples[0]["reason"]
    assert CollectionStore(h["home"] / "absurd").images().column("path").to_pylist() == ["nowhere.jpg"]


@pytest.mark.parametrize("bad", ["a" * 10_000 + ".jpg", "z" * 300 + ".jpg"], ids=["10000-chars", "300-byte-name"])
def test_an_absurd_path_already_in_a_collection_is_a_message(ingested_copy, bad):
    """A collection an older vsearch imported such a row into: file_path() and thumbnail() say so
    in a library error (the UI and CLI show it), never a raw OSError."""
    home, _ = ingested_copy
    store = CollectionStore(home / "photos")
    path = store.folder / store.manifest.files["images"]
    t = pq.read_table(path)
    victim = t.column("id")[0].as_py()
    paths = t.column("path").to_pylist()
    paths[0] = bad
    pq.write_table(t.set_column(t.schema.get_field_index("path"), "path", pa.array(paths, pa.string())), path)
    col = vsearch.open_collection(home=home)
    if len([i for i in col.images.column("id").to_pylist() if i == victim]) > 1:
        pytest.skip("the first row's content has a copy")
    for call in (col.file_path, col.thumbnail):
        with pytest.raises(QueryError, match="cannot be shown"):
            call(victim)
    with pytest.raises(QueryError):
        col.search("x", like="q" * 10_000)


def test_the_ui_grid_renders_the_other_results_around_an_absurd_path(ingested_copy, monkeypatch):
    pytest.importorskip("streamlit")
    from streamlit.testing.v1 import AppTest

    home, _ = ingested_copy
    col = vsearch.open_collection(home=home)
    ids = col.images.column("id").to_pylist()
    hits = col.search("a red square", k=20, collapse_duplicates=True)  # as the UI shows them by default
    victim = next(h for h in hits if ids.count(h.id) == 1)
    store = CollectionStore(home / "photos")
    path = store.folder / store.manifest.files["images"]
    t = pq.read_table(path)
    rows = t.column("path").to_pylist()
    rows[ids.index(victim.id)] = "a" * 10_000 + ".jpg"
    pq.write_table(t.set_column(t.schema.get_field_index("path"), "path", pa.array(rows, pa.string())), path)
    monkeypatch.setenv("VSEARCH_HOME", str(home))
    at = AppTest.from_file(str(Path(vsearch.__file__).parent / "ui" / "app.py"), default_timeout=180)
    at.run()
    at.text_input(key="query").input("a red square").run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("cannot be shown" in w.value for w in at.warning)
    assert len([c for c in at.main.caption if c.value.startswith("**")]) == len(hits)  # every cell still drawn
    assert len(at.image) == len(hits) - 1
