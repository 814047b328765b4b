"""Near duplicates with RAW files and videos (one format 4): a video's own moments are never near
duplicates of one another, a video may be a near duplicate of a photo (at its moment), a companion
(a RAW beside its JPEG) is no member of its own, and a search collapses videos to their best moment
and then groups to their keeper. The manifest the duplicates step writes passes the manifest check,
and a rebuilt manifest keeps the pairs. Pictures: Flickr8k photos (tests/media_inputs.py)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("rawpy")
pytest.importorskip("pidng")
pytest.importorskip("av")

import vsearch  # noqa: E402
from conftest import cli  # noqa: E402
from media_inputs import flickr_pictures, make_dng, make_video  # noqa: E402
from vsearch.duplicates import THRESHOLD  # noqa: E402
from vsearch.imaging.signature import hamming  # noqa: E402
from vsearch.store.collection import CollectionStore  # noqa: E402
from vsearch.store.manifest_check import manifest_problem  # noqa: E402
from vsearch.store.tables import DUPLICATES_SCHEMA  # noqa: E402


@pytest.fixture(scope="module")
def library(flickr, model, tmp_path_factory):
    """(home, root): a static video (one picture for 6 s: its moments alike), a slideshow whose second
    picture is also a still, a RAW+JPEG pair with a smaller copy of the JPEG, two other photos."""
    pictures = flickr_pictures(flickr, 6, (640, 480))
    root = tmp_path_factory.mktemp("dupmedia") / "library"
    for d in ("clips", "stills", "pair", "edits"):
        (root / d).mkdir(parents=True)
    make_video(root / "clips" / "static.mp4", pictures[0:1], seconds_each=6)
    make_video(root / "clips" / "slides.mp4", pictures[1:3], seconds_each=3)
    pictures[2].save(root / "stills" / "from_slides.jpg", quality=92)
    (root / "pair" / "DSC_0001.DNG").write_bytes(make_dng(pictures[3]))
    pictures[3].save(root / "pair" / "DSC_0001.JPG", quality=92)
    pictures[3].resize((320, 240)).save(root / "edits" / "small.jpg", quality=80)
    pictures[4].save(root / "stills" / "other.jpg")
    pictures[5].save(root / "stills" / "another.jpg")
    home = root.parent / "home"
    vsearch.ingest(root, collection="m", home=home, model=model, videos=True, video_every=1.0)
    return home, root


def frames_of(col, name: str) -> list[int]:
    t = col.images
    return [i for i, p in zip(t.column("id").to_pylist(), t.column("path").to_pylist()) if p == name]


def test_a_videos_own_moments_are_never_a_pair(library):
    home, _ = library
    col = vsearch.open_collection("m", home=home)
    static = frames_of(col, "clips/static.mp4")
    assert len(static) >= 4
    # the signals alone would call them the same photo: it is the rule that keeps them apart
    vecs = col._current().index().vectors(np.array(static, np.int64))
    assert (vecs @ vecs.T).min() >= THRESHOLD
    store = CollectionStore(home / "m")
    hashes = dict(zip(*(store.images().column(c).to_pylist() for c in ("id", "phash"))))
    assert all(hashes[i] is not None for i in static)
    assert max(int(hamming(hashes[a], hashes[b])) for a in static for b in static) <= 8
    pairs = store.read_table("duplicates", DUPLICATES_SCHEMA)
    paired = set(pairs.column("id").to_pylist()) | set(pairs.column("other").to_pylist())
    assert not paired & set(static)


def test_groups_hold_a_video_at_its_moment_and_no_companion(library):
    home, root = library
    groups = vsearch.open_collection("m", home=home).duplicates()
    shown = {g.keeper.relpath: [(m.relpath, m.moment_s) for m in g.members[1:]] for g in groups}
    assert set(shown) == {"stills/from_slides.jpg", "pair/DSC_0001.JPG"}
    [(video, moment)] = shown["stills/from_slides.jpg"]  # the slideshow once, at its second picture
    assert video == "clips/slides.mp4" and 3.0 <= moment < 6.0
    assert shown["pair/DSC_0001.JPG"] == [("edits/small.jpg", None)]  # the RAW is the JPEG's companion
    by_keeper = {g.keeper.relpath: g for g in groups}
    assert by_keeper["stills/from_slides.jpg"].rule == "larger picture"  # 640x480 over the video's 320x240
    listed = json.loads(cli("duplicates", "--json", "--collection", "m", home=home).stdout)
    members = [m for g in listed for m in g["members"]]
    assert not any(m["path"].endswith(".DNG") for m in members)
    assert [m["moment_s"] for m in members if m["path"].endswith("slides.mp4")] == [moment]


def test_search_collapses_videos_to_a_moment_then_groups_to_their_keeper(library):
    home, root = library
    col = vsearch.open_collection("m", home=home)
    still = frames_of(col, "stills/from_slides.jpg")[0]
    q = col._current().index().vectors(np.array([still], np.int64))[0]
    plain = col.search(vector=q, k=8)
    assert [h.relpath for h in plain].count("clips/slides.mp4") == 1  # one video, one hit
    assert {"stills/from_slides.jpg", "clips/slides.mp4"} <= {h.relpath for h in plain}
    slides = str(root / "clips" / "slides.mp4")
    for every in (False, True):
        hits = col.search(vector=q, k=8, collapse_duplicates=True, every_moment=every)
        paths = [h.relpath for h in hits]
        assert paths[0] == "stills/from_slides.jpg" and hits[0].near_duplicates == [slides]
        assert "clips/slides.mp4" not in paths or every  # its other moment is no near duplicate
        assert len(paths) == len(set(paths)) or every
    assert sum(h.relpath == "clips/slides.mp4" for h in col.search(vector=q, k=8, every_moment=True)) >= 2


def test_the_manifest_the_step_writes_passes_the_check_and_a_rebuild_keeps_the_pairs(library, tmp_path):
    home = tmp_path / "home"
    shutil.copytree(library[0], home)
    folder = home / "m"
    raw = json.loads((folder / "manifest.json").read_text())
    assert manifest_problem(raw) is None and raw["files"]["duplicates"].startswith("duplicates-")
    before = [[m.path for m in g.members] for g in vsearch.open_collection("m", home=home).duplicates()]
    (folder / "manifest.json").write_text('{"format_version": 4, "model": ')  # damaged
    cli("reindex", "--collection", "m", home=home)
    rebuilt = json.loads((folder / "manifest.json").read_text())
    assert manifest_problem(rebuilt) is None and rebuilt["files"]["duplicates"]
    assert [[m.path for m in g.members] for g in vsearch.open_collection("m", home=home).duplicates()] == before
