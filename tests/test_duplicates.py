"""Near duplicates through a collection: the pairs a commit derives (an ingest adds to them, a
reindex finds them anew, alike), `vsearch duplicates`, collapsed search, an older collection, the
UI's page. Photos: examples/ (Flickr8k) and their edited copies (tests/near_copies.py)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from collection_state import as_version_3
from conftest import cli
from near_copies import build

import vsearch
from vsearch.store.collection import CollectionStore
from vsearch.store import tables
from vsearch.store.tables import DUPLICATES_SCHEMA

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "photos"
KINDS = ("resave", "resize", "crop", "sepia", "exif_stripped", "png", "watermark")


@pytest.fixture(scope="module")
def library(tmp_path_factory, model) -> tuple[Path, Path, list]:
    """(home, root, items): 8 example photos, 2 of them with a copy per kind of KINDS; the
    originals ingested first, the edits by a second ingest (an update of the pairs)."""
    base = tmp_path_factory.mktemp("dups")
    names = sorted(p.name for p in EXAMPLES.glob("*.jpg"))[:8]
    items = build(EXAMPLES, names, base / "lib", sources=2, kinds=KINDS)
    home = base / "home"
    vsearch.ingest(base / "lib" / "originals", collection="dups", home=home, model=model)
    vsearch.ingest(base / "lib" / "edits", collection="dups", home=home, model=model)
    return home, base / "lib", items


def copy_of(library, tmp_path: Path) -> Path:
    home = tmp_path / "home"
    shutil.copytree(library[0], home)
    return home


def pair_set(home: Path) -> set[tuple[int, int]]:
    t = CollectionStore(home / "dups").read_table("duplicates", DUPLICATES_SCHEMA)
    return set(zip(t.column("id").to_pylist(), t.column("other").to_pylist()))


def by_source(groups, items, lib: Path) -> dict[str, tuple[str, set[str]]]:
    """source photo -> (the keeper's kind, the kinds of its group)."""
    item = {i.path: i for i in items}
    out = {}
    for g in groups:
        members = [item[Path(m.path).relative_to(lib).as_posix()] for m in g.members]
        assert len({m.source for m in members}) == 1
        out[members[0].source] = (members[0].kind, {m.kind for m in members})
    return out


def test_edits_are_grouped_with_their_original_which_is_the_keeper(library):
    home, lib, items = library
    groups = vsearch.open_collection("dups", home=home).duplicates()
    sources = {i.source for i in items if i.kind != "original"}
    assert by_source(groups, items, lib) == {s: ("original", {"original", *KINDS}) for s in sources}
    assert all(g.keeper.how == "keeper" and g.rule in ("more metadata", "earlier file time") for g in groups)
    assert all(0.3 <= m.similarity <= 1.0 for g in groups for m in g.members)


def test_an_update_finds_the_pairs_a_reindex_finds(library, tmp_path):
    """The second ingest searched only its new photos; `vsearch reindex` finds every pair anew."""
    home = copy_of(library, tmp_path)
    before = pair_set(home)
    cli("reindex", "--collection", "dups", home=home)
    assert pair_set(home) == before and len(before) >= 2 * len(KINDS)


def test_removed_photos_leave_their_pairs(model, tmp_path, monkeypatch):
    monkeypatch.setattr(tables, "BATCH_ROWS", 2)  # the stored pairs stream into the new table 2 at a time
    names = sorted(p.name for p in EXAMPLES.glob("*.jpg"))[:3]
    build(EXAMPLES, names, tmp_path / "lib", sources=1, kinds=("resave", "crop", "png"))
    home = tmp_path / "home"
    vsearch.ingest(tmp_path / "lib", collection="dups", home=home, model=model)
    with_crop = pair_set(home)
    for f in (tmp_path / "lib" / "edits" / "crop").iterdir():
        f.unlink()
    vsearch.ingest(tmp_path / "lib", collection="dups", home=home, model=model)
    without = pair_set(home)
    assert without < with_crop and len(with_crop) - len(without) == 3  # the crop paired with the other three


def test_cli_lists_groups_with_members_and_the_keeper_rule(library):
    home = library[0]
    groups = json.loads(cli("duplicates", "--json", home=home).stdout)
    assert len(groups) == 2
    for g in groups:
        keeper = g["members"][0]
        assert keeper["keeper"] and keeper["path"] == g["keeper"] and "/originals/" in g["keeper"]
        assert {"path", "bytes", "width", "height", "date", "similarity", "how"} <= set(keeper)
        assert {m["how"] for m in g["members"][1:]} <= {"vectors", "pixels", "crop"}
        assert g["rule"] and g["compared"]
    table = cli("duplicates", home=home).stdout
    assert "keeper:" in table and "nothing was changed" in table
    stricter = json.loads(cli("duplicates", "--json", "--threshold", "0.99", home=home).stdout)
    assert sum(len(g["members"]) for g in stricter) <= sum(len(g["members"]) for g in groups)
    said = cli("duplicates", "--threshold", "0.5", home=home, code=2, one_line=True).output
    assert "between 0.75 and 1" in said


def test_collapsed_search_shows_each_group_once_as_its_keeper(library):
    home, root, items = library
    col = vsearch.open_collection("dups", home=home)
    plain = col.search("a photo", k=40)
    collapsed = col.search("a photo", k=40, collapse_duplicates=True)
    assert len(plain) == len(items) and len(collapsed) == len(items) - 2 * len(KINDS)
    with_group = [h for h in collapsed if h.near_duplicates]
    assert len(with_group) == 2 and all("/originals/" in h.path and len(h.near_duplicates) == len(KINDS) for h in with_group)
    hits = json.loads(cli("query", "a photo", "-k", "40", "--collapse-duplicates", "--json", home=home).stdout)
    assert [h["path"] for h in hits] == [h.path for h in collapsed]
    # more like an original: its copies show, never the query itself in their keeper's place
    original = with_group[0]
    like = col.search(like=original.id, k=5, collapse_duplicates=True)
    assert original.id not in [h.id for h in like]


def test_a_collection_of_format_3_reads_and_reindex_finds_its_pairs(library, tmp_path):
    """Shards without pixel signatures and no pairs file (as vsearch 0.2 wrote them): queries work,
    `vsearch duplicates` names the fix, and reindex groups the photos by their vectors alone."""
    home = copy_of(library, tmp_path)
    folder = home / "dups"
    as_version_3(folder)
    assert json.loads(cli("query", "a photo", "--json", home=home).stdout)
    said = cli("duplicates", home=home, code=2, one_line=True).output
    assert "vsearch reindex" in said
    cli("reindex", "--collection", "dups", home=home)
    t = CollectionStore(folder).read_table("duplicates", DUPLICATES_SCHEMA)
    assert len(t) and set(t.column("hash_bits").to_pylist()) == {-1}  # no signature: vectors alone
    groups = json.loads(cli("duplicates", "--json", home=home).stdout)
    assert groups and all("/originals/" in g["keeper"] for g in groups)
    assert json.loads((folder / "manifest.json").read_text())["format_version"] == 4
    assert not (folder / "damaged").exists()  # shards without signatures are old, not damaged


def test_ui_duplicates_page_shows_groups_side_by_side(library, monkeypatch):
    pytest.importorskip("streamlit")
    from streamlit.testing.v1 import AppTest

    home = library[0]
    monkeypatch.setenv("VSEARCH_HOME", str(home))
    at = AppTest.from_file(str(Path(vsearch.__file__).parent / "ui" / "app.py"), default_timeout=180)
    at.run()
    at.sidebar.radio(key="page").set_value("Duplicates").run()
    assert not at.exception, [e.value for e in at.exception]
    keepers = [c.value for c in at.main.caption if c.value.startswith("★")]
    assert len(keepers) == 2 and len(at.main.image) == 2 * (1 + len(KINDS))
    at.sidebar.radio(key="page").set_value("Search").run()
    assert at.sidebar.toggle(key="collapse").value  # collapsed by default in the UI
    at.text_input(key="query").input("a photo").run()
    assert any("near duplicates" in c.value for c in at.main.caption)


def test_the_service_lists_groups_and_collapses_a_search(library, tmp_path):
    pytest.importorskip("fastapi")
    from serve_fixtures import start_server

    home = library[0]
    col = vsearch.open_collection("dups", home=home)
    server = start_server(home, tmp_path, "--max-k", "50")
    try:
        listed = server.json("GET", "/v1/collections/dups/duplicates")
        assert [[m["path"] for m in g["members"]] for g in listed["groups"]] == [[m.path for m in g.members]
                                                                               for g in col.duplicates()]
        assert listed["next_offset"] is None and all(m["thumbnail"] for g in listed["groups"] for m in g["members"])
        first = server.json("GET", "/v1/collections/dups/duplicates?k=1")
        second = server.json("GET", "/v1/collections/dups/duplicates?k=1&offset=1")
        assert first["next_offset"] == 1 and first["groups"] + second["groups"] == listed["groups"]
        server.json("GET", "/v1/collections/dups/duplicates?threshold=0.5", expect=422)
        body = {"text": "a photo", "k": 40, "collapse_duplicates": True}
        hits = server.json("POST", "/v1/collections/dups/search", body)["hits"]
        collapsed = col.search("a photo", k=40, collapse_duplicates=True)
        assert [(h["path"], h["near_duplicates"]) for h in hits] == [(h.path, h.near_duplicates) for h in collapsed]
    finally:
        server.stop()
