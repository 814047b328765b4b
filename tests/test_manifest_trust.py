"""manifest.json is data (issue 20, defect 7): every path it names must be a plain file name in the
collection folder and every value of the type vsearch writes, else the collection is "damaged"
(one line naming `vsearch reindex`), never an internal error, and nothing outside the folder is
read or moved. `vsearch reindex` rebuilds a damaged manifest from the files of the newest complete
generation (store/manifest_rebuild.py) without encoding anything."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import vsearch
from vsearch.cli import app

runner = CliRunner()


def cli(home: Path, *args, code: int = 0):
    r = runner.invoke(app, [str(a) for a in args], env={"VSEARCH_HOME": str(home)})
    assert r.exit_code == code, (r.output, r.exception)
    return r


def edit(folder: Path, change) -> None:
    m = json.loads((folder / "manifest.json").read_text())
    change(m)
    (folder / "manifest.json").write_text(json.dumps(m))


SPOILS = {
    "files-up-and-out": lambda m: m["files"].__setitem__("errors", "../../victim.txt"),
    "files-absolute": lambda m: m["files"].__setitem__("images", "/etc/passwd"),
    "files-subfolder": lambda m: m["files"].__setitem__("index", "vectors/../../victim.txt"),
    "files-not-text": lambda m: m["files"].__setitem__("images", 7),
    "generation-word": lambda m: m.__setitem__("generation", "x"),
    "generation-negative": lambda m: m.__setitem__("generation", -3),
    "counts-word": lambda m: m["counts"].__setitem__("images", "many"),
    "dim-huge": lambda m: m["model"].__setitem__("embed_dim", 10**12),
    "roots-relative": lambda m: m.__setitem__("roots", ["photos"]),
    "roots-not-a-list": lambda m: m.__setitem__("roots", "/"),
    "version-word": lambda m: m.__setitem__("format_version", "3"),
    "unknown-key": lambda m: m.__setitem__("files_elsewhere", {}),
    "model-missing": lambda m: m.pop("model"),
}


@pytest.fixture()
def collection(ingested_copy):
    home, photos = ingested_copy
    victim = home.parent / "victim.txt"
    victim.write_text("not vsearch's")
    folder = home / "photos"
    before = [h.id for h in vsearch.open_collection(home=home).search("a red square", k=5)]
    return {"home": home, "folder": folder, "victim": victim, "before": before,
            "shards": sorted(p.name for p in (folder / "vectors").iterdir())}


def says_damaged(home: Path, *args) -> str:
    r = cli(home, *args, code=2)
    assert r.output.count("\n") == 1 and "Traceback" not in r.output, r.output
    assert "damaged" in r.output and "vsearch reindex --collection photos" in r.output, r.output
    return r.output


@pytest.mark.parametrize("spoil", sorted(SPOILS))
def test_a_damaged_manifest_is_said_and_repaired_by_reindex(collection, spoil):
    c = collection
    edit(c["folder"], SPOILS[spoil])
    says_damaged(c["home"], "info")
    says_damaged(c["home"], "query", "a red square")
    r = cli(c["home"], "reindex", "--json")
    assert c["victim"].read_text() == "not vsearch's"  # never read, never moved
    repaired = json.loads(r.stdout)["repaired"]
    assert any("manifest.json rebuilt" in line for line in repaired), repaired
    assert [h.id for h in vsearch.open_collection(home=c["home"]).search("a red square", k=5)] == c["before"]
    assert sorted(p.name for p in (c["folder"] / "vectors").iterdir()) == c["shards"]  # nothing encoded
    assert [p.name for p in (c["folder"] / "damaged").iterdir() if p.name.endswith("manifest.json")]  # kept


@pytest.mark.parametrize("garbage", [b"", b"\x00\xff" * 100, b"[1, 2, 3]", b'{"format_version": 3', b"null"],
                         ids=["empty", "binary", "a-list", "truncated", "null"])
def test_garbage_is_damaged_too(collection, garbage):
    c = collection
    (c["folder"] / "manifest.json").write_bytes(garbage)
    says_damaged(c["home"], "info")
    cli(c["home"], "reindex")
    assert [h.id for h in vsearch.open_collection(home=c["home"]).search("a red square", k=5)] == c["before"]


def test_a_huge_manifest_is_not_read_whole(collection):
    c = collection
    with open(c["folder"] / "manifest.json", "wb") as f:
        f.truncate(64 << 20)  # sparse: claims 64 MB
    assert "larger than" in says_damaged(c["home"], "info")


def test_the_newest_complete_generation_is_what_comes_back(collection, tmp_path):
    """The last commit added texts; its manifest copy is lost with the manifest: the rebuild takes
    the generation's files from its reader lock and the rest from the older copy."""
    c = collection
    vsearch.add_texts(["a red square", "a blue circle"], "photos", c["home"])
    gen = json.loads((c["folder"] / "manifest.json").read_text())["generation"]
    (c["folder"] / f"manifest-{gen:06d}.json").unlink()
    (c["folder"] / "manifest.json").write_text("{")
    r = json.loads(cli(c["home"], "reindex", "--json").stdout)
    assert r["texts"] == 2 and any(f"generation {gen}" in line for line in r["repaired"])
    col = vsearch.open_collection(home=c["home"])
    assert col.info()["counts"]["texts"] == 2 and [h.id for h in col.search("a red square", k=5)] == c["before"]


def test_a_collection_without_copies_needs_its_model_named(collection):
    """Collections written before the copies existed: the model record comes from --model."""
    c = collection
    for p in c["folder"].glob("manifest-*.json"):
        p.unlink()
    (c["folder"] / "manifest.json").write_text("{")
    assert "--model" in cli(c["home"], "reindex", code=2).output
    cli(c["home"], "reindex", "--model", "align-lite")
    assert [h.id for h in vsearch.open_collection(home=c["home"]).search("a red square", k=5)] == c["before"]


def test_an_ingest_into_a_damaged_collection_says_to_reindex(collection):
    c = collection
    edit(c["folder"], SPOILS["generation-word"])
    says_damaged(c["home"], "ingest", c["folder"].parent.parent / "photos", "--collection", "photos")
