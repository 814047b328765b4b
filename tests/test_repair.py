"""Damaged metadata does not brick a collection: a query names a command that works, `vsearch
reindex` and `vsearch ingest` set the damaged file aside (never delete it), rebuild what derives from
the vector shards, find the images table again from the files, and say what was lost."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import cli as run_cli
from conftest import make_image, make_photos

from derived_probe import registered, steps
from vsearch.errors import CollectionFormatError, QueryError
from vsearch.store.collection import CollectionStore

GARBAGE = b"\x00 not a parquet file, not an index \xff" * 10


def cli(home: Path, *args, code: int = 0):
    """The CLI on the collections in `home`; a library error must be one line."""
    return run_cli(*args, code=code, home=home, one_line=code == 2)


def cli_json(home: Path, *args, code: int = 0):
    return json.loads(cli(home, *args, "--json", code=code).stdout)


MODEL = None


@pytest.fixture(scope="module", autouse=True)
def _model(model):
    global MODEL
    MODEL = model


@pytest.fixture(scope="module", autouse=True)
def probe():
    """The test's derived step among vsearch's: every case below covers it too."""
    with registered():
        yield


@pytest.fixture(scope="module")
def template(tmp_path_factory, probe) -> tuple[Path, Path]:
    """(photos, home): a collection of several vector shards (batches of 4) with a text corpus."""
    base = tmp_path_factory.mktemp("repair")
    photos = make_photos(base / "photos")
    home = base / "indexes"
    cli(home, "ingest", photos, "--batch-size", "4")
    corpus = base / "corpus.txt"
    corpus.write_text("a red square\na blue circle\na green square\n")
    cli(home, "texts", "add", corpus)
    return photos, home


@pytest.fixture()
def home(template, tmp_path) -> Path:
    """A private copy of the template's collection (the photos are shared: repairs only read them)."""
    shutil.copytree(template[1], tmp_path / "indexes")
    return tmp_path / "indexes"


def folder(home: Path) -> Path:
    return home / "photos"


def manifest(home: Path) -> dict:
    return json.loads((folder(home) / "manifest.json").read_text())


def state(home: Path, photos: Path) -> dict:
    """What a user sees: text and image -> text query results, the counts, the files and errors;
    and what every derived table of the images holds (the test probe's among them)."""
    import vsearch

    col = vsearch.open_collection(home=home, model=MODEL)
    try:
        texts = [h.text for h in col.search_texts(photos / "red_square.jpg", k=3)]
    except QueryError:  # no text corpus
        texts = None
    derived = {s.key: [{k: round(v, 5) if isinstance(v, float) else v for k, v in row.items()}
                       for row in _by_key(s.read(col.store)).to_pylist()]
               for s in steps() if s.subject == "images" and s.schema is not None}
    return {"text": [(h.id, h.relpath) for h in col.search("a red square", k=20)], "texts": texts,
            "counts": col.info()["counts"], "errors": sorted((e["path"], e["reason"]) for e in col.store.errors().to_pylist()),
            "derived": derived}


def _by_key(table):
    """A derived table's rows in key order: its id, and the other photo of a pair (the pairs of an
    update are written in batches, each sorted: the table is a set)."""
    return table.sort_by([(c, "ascending") for c in ("id", "other") if c in table.column_names])


def damage(home: Path, key: str, how: str = "garbage") -> bytes | None:
    """Damage the current generation's `key` file; returns what it now holds (None: deleted)."""
    path = folder(home) / manifest(home)["files"][key]
    if how == "missing":
        shutil.rmtree(path) if path.is_dir() else path.unlink()
        return None
    if path.is_dir():  # an index folder: its FAISS file (the keyword index's: its meta.json)
        path = path / ("index.faiss" if (path / "index.faiss").is_file() else "meta.json")
    data = GARBAGE if how == "garbage" else path.read_bytes()[: path.stat().st_size // 2]
    path.write_bytes(data)
    return data


def set_aside(home: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in (folder(home) / "damaged").iterdir()} if (folder(home) / "damaged").is_dir() else {}


# Which query reads which file: a damaged one makes that query a message naming `vsearch reindex`.
READ_BY = {"images": ["query", "a red square"], "image_bias": ["query", "a red square"],
           "index": ["query", "a red square"], "texts": ["query", "--image", "{photos}/red_square.jpg", "--texts"],
           "texts_index": ["query", "--image", "{photos}/red_square.jpg", "--texts"],
           "text_bias": ["query", "--image", "{photos}/red_square.jpg", "--texts"], "errors": ["info", "--errors"]}
# Every derived part (vsearch's step list and the test probe); one no query reads is read by its step.
PARTS = {s.key: s for s in steps()}


def read_fails(home: Path, photos: Path, key: str) -> None:
    """Reading the damaged part is a message naming `vsearch reindex`."""
    if key in READ_BY:
        said = cli(home, *[a.format(photos=photos) for a in READ_BY[key]], code=2).output
    else:
        with pytest.raises(CollectionFormatError) as e:
            PARTS[key].read(CollectionStore(folder(home)))
        said = str(e.value)
    assert "vsearch reindex" in said and ("damaged" in said or "missing" in said)


def read_works(home: Path, photos: Path, key: str) -> None:
    if key in READ_BY:
        cli(home, *[a.format(photos=photos) for a in READ_BY[key]])
    else:
        PARTS[key].read(CollectionStore(folder(home)))


FAST = {("images", "garbage"), ("texts", "garbage"), ("image_bias", "truncated")}  # the rest: pytest -m slow
CASES = [(key, "garbage") for key in sorted(READ_BY.keys() | PARTS.keys())] + [
    ("images", "truncated"), ("image_bias", "truncated"), ("texts", "truncated"), ("errors", "missing"), ("index", "missing")]


@pytest.mark.parametrize("key, how", [pytest.param(*c, marks=() if c in FAST else pytest.mark.slow) for c in CASES])
def test_reindex_repairs_a_damaged_file_and_loses_nothing_it_can_rebuild(template, home, key, how):
    photos, _ = template
    before = state(home, photos)
    damaged = damage(home, key, how)
    read_fails(home, photos, key)
    done = cli_json(home, "reindex")
    if key in PARTS and PARTS[key].schema is None:  # a derived folder (an index): rebuilt, nothing to set aside
        assert done["repaired"] == [] and set_aside(home) == {}
    else:
        assert done["repaired"]
        assert list(set_aside(home).values()) == ([damaged] if damaged is not None else [])
    after = state(home, photos)
    if key == "texts":  # the corpus strings are stored nowhere else: lost, and said so
        assert any("text corpus" in line and "texts add" in line for line in done["repaired"])
        assert "vsearch texts add" in cli(home, *[a.format(photos=photos) for a in READ_BY[key]], code=2).output
        assert after["texts"] is None and after["counts"]["texts"] == 0
        assert {k: v for k, v in after.items() if k not in ("texts", "counts")} == \
               {k: v for k, v in before.items() if k not in ("texts", "counts")}
        return
    read_works(home, photos, key)  # the query that failed now works
    if key == "errors":  # the list of unreadable files comes back with the next ingest
        assert after["errors"] == [] and any("unreadable files" in line for line in done["repaired"])
        cli(home, "ingest", photos)
        assert state(home, photos) == before
    else:
        assert after == before


@pytest.mark.parametrize("key", ["images", pytest.param("errors", marks=pytest.mark.slow)] + [
    pytest.param(s.key, marks=pytest.mark.slow) for s in steps() if s.subject == "images" and s.schema is not None])
def test_ingest_repairs_what_it_reads_and_ends_as_before(template, home, key):
    photos, _ = template
    before = state(home, photos)
    damage(home, key)
    s = cli_json(home, "ingest", photos)
    assert s["repaired"] and s["encoded"] == 0  # found again from the files: nothing re-encoded
    assert state(home, photos) == before


@pytest.mark.slow
def test_a_truncated_shard_is_set_aside_and_its_photos_encoded_again(template, home):
    photos, _ = template
    before = state(home, photos)
    shards = sorted((folder(home) / "vectors").glob("shard-*.parquet"))
    assert len(shards) >= 3
    victim = shards[1]
    data = victim.read_bytes()
    victim.write_bytes(data[: len(data) // 2])
    cli(home, "query", "a red square")  # the index is intact: queries never read shards
    done = cli_json(home, "reindex")
    lost = [line for line in done["repaired"] if "lost their stored vectors" in line]
    assert len(lost) == 1 and f"vsearch ingest {photos}" in lost[0]
    assert set_aside(home) == {next(iter(set_aside(home))): data[: len(data) // 2]}
    n_lost = int(lost[0].split()[0])
    assert 0 < n_lost and state(home, photos)["counts"]["images"] == before["counts"]["images"] - n_lost
    s = cli_json(home, "ingest", photos)
    assert 0 < s["encoded"] <= 4  # only that shard's photos
    assert state(home, photos) == before


def test_a_truncated_shard_found_by_ingest_is_encoded_again_in_the_same_run(template, home):
    photos, _ = template
    before = state(home, photos)
    victim = sorted((folder(home) / "vectors").glob("shard-*.parquet"))[0]
    victim.write_bytes(victim.read_bytes()[:100])
    s = cli_json(home, "ingest", photos)
    assert s["repaired"] and 0 < s["encoded"] <= 4
    assert state(home, photos) == before


def paths(home: Path) -> set[str]:
    import vsearch

    return set(vsearch.open_collection(home=home, model=MODEL).images.column("path").to_pylist())


def test_the_images_table_is_found_again_after_files_moved_changed_and_went(ingested_copy):
    home, photos = ingested_copy
    before = paths(home)
    os.rename(photos / "blue_circle.png", photos / "old" / "moved_circle.png")      # moved: found again
    make_image(photos / "red_square.jpg", "green", "circle", size=(80, 80))       # changed: not stored yet
    (photos / "trips" / "yellow.bmp").unlink()                                    # gone: its vector is an orphan
    damage(home, "images")
    done = cli_json(home, "reindex")
    notes = " | ".join(done["repaired"])
    assert "1 not stored yet" in notes and f"vsearch ingest {photos}" in notes
    assert "1 stored vector(s) match no file" in notes
    assert paths(home) == (before - {"blue_circle.png", "red_square.jpg", "trips/yellow.bmp"}) | {"old/moved_circle.png"}
    s = cli_json(home, "ingest", photos)
    assert s["encoded"] == 1  # only the changed file
    assert paths(home) == (before - {"blue_circle.png", "trips/yellow.bmp"}) | {"old/moved_circle.png"}


@pytest.mark.slow
def test_an_unreachable_root_keeps_its_vectors_until_it_is_back(ingested_copy, tmp_path):
    home, photos = ingested_copy
    before = state(home, photos)
    damage(home, "images")
    away = tmp_path / "away"
    os.rename(photos, away)
    done = cli_json(home, "reindex")
    assert any("not reachable" in line and "vsearch reindex" in line for line in done["repaired"])
    assert state(home, photos)["counts"]["images"] == 0
    os.rename(away, photos)
    cli(home, "reindex")  # nothing damaged now: the images table is still empty ...
    cli(home, "ingest", photos)  # ... and the next ingest finds every photo, re-encoding none
    assert state(home, photos)["text"] == before["text"]


@pytest.mark.slow
def test_nothing_is_ever_deleted_and_repairs_stack(template, home):
    photos, _ = template
    first = manifest(home)["files"]["images"]
    damage(home, "images")
    cli(home, "reindex")
    truncated = damage(home, "images", "truncated")
    cli(home, "ingest", photos)
    kept = set_aside(home)
    assert sorted(kept.values()) == sorted([GARBAGE, truncated]) and first in " ".join(kept)


def test_no_compaction_while_a_root_is_unreachable(ingested_copy, tmp_path):
    """A repair without a root keeps that root's vectors while its rows are out of the images
    table: a compaction then (which keeps only the live ids it is given) must wait for it."""
    from vsearch.pipeline.transaction import compact_if_due
    from vsearch.store.collection import CollectionStore

    home, photos = ingested_copy
    store = CollectionStore(home / "photos")
    known = np.sort(store.vectors().known_ids())
    os.rename(photos, tmp_path / "away")
    assert compact_if_due(store, known[:1], stored_ids=10 * len(known)) is False
    assert len(store.vectors().known_ids()) == len(known)
    os.rename(tmp_path / "away", photos)
    assert compact_if_due(store, known, stored_ids=10 * len(known)) is True
    assert sorted(store.vectors().known_ids().tolist()) == known.tolist()
