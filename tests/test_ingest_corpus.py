"""The bad-input corpus (tests/bad_inputs.py) and every kind of link, through a whole `vsearch
ingest` run in a subprocess under a memory limit and a timeout: each file is ingested (its vector
shows the picture it should) or recorded with its reason; never a crash, a hang or a memory
blow-up. Then the names that are not UTF-8 are found, shown and served like any other."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bad_inputs import write_corpus
from vsearch.escape import valid_utf8
from vsearch.pipeline.scan import FILE_LINK_OUTSIDE, FOLDER_LINK_INSIDE, FOLDER_LINK_OUTSIDE

HERE = Path(__file__).resolve().parent
MEMORY = 3 << 30       # address space the ingest may add to its imports (the decode workers too)
TIMEOUT_S = 300        # the whole run; it takes ~15 s
# What the whole ingest does differently from the reader alone (tests/test_imaging.py):
AT_INGEST = {
    "dev_zero_link.jpg": "outside this folder",  # refused at scan: a link out of the root
    "dangling_link.jpg": "broken link",
    ".hidden.jpg": None,                         # hidden files are not scanned
    "folder.jpg": None,                          # a folder named like a photo is walked as a folder
}


def run_cli(home: Path, *args, limit: int = MEMORY, timeout: float = TIMEOUT_S) -> subprocess.CompletedProcess:
    env = dict(os.environ, VSEARCH_HOME=str(home), MALLOC_ARENA_MAX="2", OMP_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join([str(HERE.parent), os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, str(HERE / "run_limited.py"), str(limit), *map(os.fsdecode, args)],
                          env=env, capture_output=True, timeout=timeout)


def links(root: Path, outside: Path) -> dict[str, str | None]:
    """Every kind of link, next to the corpus: {relative path: reason keyword, or None if ingested}."""
    outside.mkdir()
    Image.new("RGB", (40, 30), (200, 30, 30)).save(outside / "elsewhere.jpg")
    (root / "sub").mkdir()
    os.symlink("../corpus/png_named.jpg", root / "sub" / "inside_link.jpg")
    os.symlink(outside / "elsewhere.jpg", root / "outside_link.jpg")
    os.symlink(root / "corpus", root / "folder_link_inside")
    os.symlink(outside, root / "folder_link_outside")
    os.symlink(".", root / "sub" / "folder_link_loop")
    os.symlink("/", root / "folder_link_to_slash")
    return {"sub/inside_link.jpg": None, "outside_link.jpg": FILE_LINK_OUTSIDE,
            "folder_link_inside": FOLDER_LINK_INSIDE, "folder_link_outside": FOLDER_LINK_OUTSIDE,
            "sub/folder_link_loop": FOLDER_LINK_INSIDE, "folder_link_to_slash": FOLDER_LINK_OUTSIDE}


NAMES = [b"names/caf\xe9 \xff.png", b"names/dossier_\xe8/photo.png"]  # not UTF-8, each of its own content


def odd_names(root: Path) -> dict[str, None]:
    """Photos whose name (or folder name) is not UTF-8, each with a picture no other file has."""
    for i, name in enumerate(NAMES):
        path = os.path.join(os.fsencode(root), name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        Image.new("RGB", (50 + 10 * i, 40), (20, 200 - 90 * i, 60 + 90 * i)).save(os.fsdecode(path), "PNG")
    return {valid_utf8(os.fsdecode(n)): None for n in NAMES}


@pytest.fixture(scope="module")
def ingested_corpus(tmp_path_factory):
    base = tmp_path_factory.mktemp("corpus")
    root = base / "root"
    cases = write_corpus(root / "corpus")
    link_cases = {**links(root, base / "outside"), **odd_names(root)}
    home = base / "indexes"
    r = run_cli(home, "ingest", root, "--json", "--batch-size", "16")
    assert r.returncode == 0, r.stderr.decode()[-3000:]
    assert b"Traceback" not in r.stderr
    summary = json.loads(r.stdout)
    from vsearch.store.collection import CollectionStore

    store = CollectionStore(home / "root")
    return root, home, cases, link_cases, summary, store


def test_every_file_is_ingested_or_recorded_with_its_reason(ingested_corpus):
    root, home, cases, link_cases, summary, store = ingested_corpus
    rows = {r["path"]: r for r in store.images().to_pylist()}
    errors = {r["path"]: r["reason"] for r in store.errors().to_pylist()}
    assert not set(rows) & set(errors)
    expected: dict[str, str | None] = {f"corpus/{valid_utf8(name)}": (AT_INGEST[name] if name in AT_INGEST else
                                                                     (None if e.outcome == "ok" else e.outcome))
                                       for name, e in cases.items()}
    expected = {p: w for p, w in expected.items() if not p.endswith((".hidden.jpg", "folder.jpg"))}
    expected.update(link_cases)
    for path, why in sorted(expected.items()):
        if why is None:
            assert path in rows, (path, errors.get(path))
        else:
            assert path in errors and why in errors[path], (path, errors.get(path), rows.get(path, {}).get("id"))
    # nothing else was ingested or recorded: no file seen twice through a followed folder link
    assert set(rows) | set(errors) == set(expected)
    assert summary["images"] == len(rows) and summary["errors"] == len(errors)
    assert not any("out of memory" in r for r in errors.values())
    kinds = {e.kind for e in cases.values()}
    assert len(expected) >= 100 and kinds == {"broken", "hostile", "special", "format", "name"}


def test_ingested_vectors_show_the_pictures_they_should(ingested_corpus, model):
    """Each file the corpus says decodes to a reference picture has that picture's vector: the same
    vector for lossless files, a near one for lossy codecs (a 64x48 JPEG moves it to ~0.87); a blank,
    white or garbled decode (a 16-bit greyscale PNG read as white, say) is far below either bar."""
    root, home, cases, _, _, store = ingested_corpus
    rows = {r["path"]: r["id"] for r in store.images().to_pylist()}
    refs = {f"corpus/{valid_utf8(n)}": e for n, e in cases.items() if e.outcome == "ok" and e.reference is not None}
    refs = {p: e for p, e in refs.items() if p in rows}
    assert len(refs) >= 50
    ids, vecs, _ = store.vectors().load(np.array(sorted({rows[p] for p in refs}), dtype=np.int64))
    stored = dict(zip(ids.tolist(), vecs))
    pictures = {(e.reference.tobytes(), e.reference.shape): e.reference for e in refs.values()}
    encoded = dict(zip(pictures, model.encode_images([Image.fromarray(r) for r in pictures.values()])))
    wanted = [encoded[(e.reference.tobytes(), e.reference.shape)] for e in refs.values()]
    blank = model.encode_images([Image.new("RGB", (64, 48), (255, 255, 255))])[0]
    for (path, e), w in zip(refs.items(), wanted):
        bar = 0.98 if e.tolerance <= 2 else 0.8
        assert float(stored[rows[path]] @ w) >= bar, (path, float(stored[rows[path]] @ w))
        assert float(blank @ w) < bar  # the bar tells a white picture from this one


def test_names_that_are_not_utf8_are_found_shown_and_served(ingested_corpus):
    import vsearch
    from typer.testing import CliRunner

    from vsearch.cli import app

    root, home, *_ = ingested_corpus
    col = vsearch.open_collection("root", home=home)
    for name in NAMES:
        raw = os.path.join(os.fsencode(root), name)
        shown = valid_utf8(os.fsdecode(name))
        id_ = col.resolve_image(os.fsdecode(raw))           # found by the name the OS gives
        assert col.resolve_image(shown) == id_               # and by the name it is shown as
        assert os.fsencode(col.file_path(id_)) == raw        # served: the very file
        thumb = Image.open(col.thumbnail(id_, 64))
        assert thumb.size == Image.open(os.fsdecode(raw)).size  # made from it (small: not enlarged)
        assert [m["path"] for m in col.metadata(id_)] == [shown]
        hit = col.search(vector=col.index.reconstruct(id_), k=1)[0]
        assert hit.id == id_ and hit.relpath == shown and hit.folder == shown.rpartition("/")[0]
        json.dumps(hit.to_dict()).encode("utf-8")
    # the CLI shows them escaped, in a table and in JSON: valid UTF-8, no raw byte, no escape sequence
    runner = CliRunner()
    env = {"VSEARCH_HOME": str(home)}
    r = runner.invoke(app, ["query", "--like", os.fsdecode(os.path.join(os.fsencode(root), NAMES[0])), "--json"], env=env)
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["query", "a green photo", "-k", "200", "--json"], env=env)
    hits = json.loads(r.stdout_bytes.decode("utf-8"))
    assert {valid_utf8(os.fsdecode(n)) for n in NAMES} <= {h["relpath"] for h in hits}
    for args in (["query", "a photo", "-k", "200"], ["info", "--errors"]):
        r = runner.invoke(app, args, env=env)
        assert r.exit_code == 0, r.output
        assert b"\x1b" not in r.stdout_bytes and "caf\\xe9 \\xff.png" in r.stdout_bytes.decode("utf-8") or args[0] == "info"


def test_a_root_whose_own_name_is_not_utf8(tmp_path):
    """The ingested folder itself may have such a name: the manifest keeps it as the OS names it,
    the tables in the shown form, and a re-run finds every file unchanged."""
    import vsearch
    from typer.testing import CliRunner

    from vsearch.cli import app

    root = Path(os.fsdecode(os.path.join(os.fsencode(tmp_path), b"photos_\xe9")))
    for i, color in enumerate([(200, 30, 30), (30, 200, 30), (30, 30, 200)]):
        (root / "sub").mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (60 + i, 40), color).save(root / ("sub" if i else "") / f"{i}.png")
    env = {"VSEARCH_HOME": str(tmp_path / "indexes")}
    first = CliRunner().invoke(app, ["ingest", str(root), "-c", "odd", "--json"], env=env)
    assert first.exit_code == 0, first.output
    again = json.loads(CliRunner().invoke(app, ["ingest", str(root), "-c", "odd", "--json"], env=env).stdout)
    assert again["unchanged"] == 3 and again["new"] == again["encoded"] == 0
    col = vsearch.open_collection("odd", home=tmp_path / "indexes")
    assert col.info()["roots"] == [valid_utf8(str(root))]  # shown: info is JSON
    for hit in col.search("a photo", k=3):
        assert hit.root == valid_utf8(str(root)) and hit.path.encode("utf-8")
        assert col.file_path(hit.id).is_relative_to(root.resolve()) and col.thumbnail(hit.id, 32).is_file()
