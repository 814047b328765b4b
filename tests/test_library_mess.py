"""What real photo libraries hold beside photos (issue 20, "also seen"): NAS thumbnail folders,
recycle bins and trash are left out by default, `--exclude` and `.vsearchignore` leave out more,
the summary counts every file left out by reason (RAW and video apart, so a folder of RAWs never
reads "0 image files found" alone), touched files are counted, and copies met in one run are
decoded once (pipeline/ignore.py, pipeline/copies.py)."""
from __future__ import annotations

import json
import multiprocessing as mp
import os
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

import vsearch
from conftest import make_image
from vsearch.cli import app
from vsearch.errors import NothingIngestedError

runner = CliRunner()

SYSTEM = ["@eaDir/red.jpg/SYNOPHOTO_THUMB_XL.jpg", "trips/@eaDir/green.webp/SYNOPHOTO_THUMB_M.jpg",
          "#recycle/old.jpg", "#snapshot/daily/red.jpg", "$RECYCLE.BIN/S-1-5-21/red.jpg", "$Recycle.Bin/x.jpg",
          ".Trash-1000/files/red.jpg", ".Trashes/501/red.jpg", "System Volume Information/x.jpg",
          "lost+found/#1234.jpg", ".@__thumb/red.jpg", "@Recycle/red.jpg", "trips/.AppleDouble/green.webp",
          "trips/._green.webp", "Thumbs.db", "trips/desktop.ini"]


@pytest.fixture()
def library(tmp_path: Path) -> Path:
    root = tmp_path / "library"
    make_image(root / "red.jpg", "red")
    make_image(root / "trips" / "green.webp", "green")
    make_image(root / "drafts" / "blue.png", "blue")
    make_image(root / "trips" / "yellow.png", "yellow", "circle")
    for rel in SYSTEM:  # each a real image (a thumbnail of one of the photos)
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(root / "red.jpg", root / rel)
    for ext in ("dng", "CR2", "cr3", "NEF", "arw", "raf", "orf", "rw2"):
        (root / "raw" / f"IMG_0001.{ext}").parent.mkdir(exist_ok=True)
        (root / "raw" / f"IMG_0001.{ext}").write_bytes(b"II*\x00 raw sensor data")
    for ext in ("mp4", "MOV", "mkv"):
        (root / "trips" / f"clip.{ext}").write_bytes(b"\x00\x00\x00\x18ftypmp42")
    (root / "notes.txt").write_text("not a photo")
    return root


def ingest_json(root: Path, home: Path, *args, code: int = 0) -> dict:
    r = runner.invoke(app, ["ingest", str(root), "--home", str(home), "--json", *map(str, args)])
    assert r.exit_code == code, (r.output, r.exception)
    return json.loads(r.stdout) if code == 0 else {"output": r.output}


def paths(home: Path) -> list[str]:
    return sorted(vsearch.open_collection(home=home).images.column("path").to_pylist())


def test_nas_and_os_leftovers_are_left_out_and_counted(library, tmp_path, monkeypatch):
    s = ingest_json(library, tmp_path / "home")
    assert paths(tmp_path / "home") == ["drafts/blue.png", "red.jpg", "trips/green.webp", "trips/yellow.png"]
    # the ignore rules' reasons and the plan's not-read ones in one count; the RAWs are read (rawpy
    # is installed) and, being garbage, are errors, not skipped
    assert s["skipped"] == {"other": 1, "system": 16, "video: run with --videos": 3} and s["errors"] == 8
    import vsearch.pipeline.plan as plan

    monkeypatch.setattr(plan, "raw_available", lambda: False)
    r = runner.invoke(app, ["ingest", str(library), "--home", str(tmp_path / "home2")])
    assert "8 RAW photos (rawpy not installed" in r.stdout and "3 videos (run with --videos" in r.stdout
    assert "16 system folders" in r.stdout


def test_exclude_patterns_and_a_vsearchignore_file(library, tmp_path):
    (library / ".vsearchignore").write_text("# drafts are not photos yet\ndrafts/\n")
    s = ingest_json(library, tmp_path / "home", "--exclude", "*.png", "--exclude", "!trips/yellow.png")
    assert paths(tmp_path / "home") == ["red.jpg", "trips/green.webp", "trips/yellow.png"]
    assert s["skipped"]["excluded"] == 1 and s["skipped"]["hidden"] == 1  # drafts/ (a folder counts once); the file itself
    # --exclude holds for its run; a later plain ingest takes back what only it excluded
    again = ingest_json(library, tmp_path / "home")
    assert again["skipped"]["excluded"] == 1 and again["new"] == 0 and again["removed"] == 0


def test_a_bad_pattern_is_refused_before_any_work(library, tmp_path):
    r = runner.invoke(app, ["ingest", str(library), "--home", str(tmp_path / "h"), "--exclude", "a\nb"])
    assert r.exit_code == 2 and "not a pattern" in r.output and not (tmp_path / "h").exists()


def test_a_folder_of_raws_and_videos_says_what_it_saw(library, tmp_path, monkeypatch):
    raws = library / "raw"
    shutil.copy(library / "trips" / "clip.mp4", raws / "clip.mp4")
    with pytest.raises(NothingIngestedError, match=r"9 files found, 8 errors; .*not ingested: 1 videos \(run with"):
        vsearch.ingest(raws, home=tmp_path / "home")
    import vsearch.pipeline.plan as plan

    monkeypatch.setattr(plan, "raw_available", lambda: False)
    with pytest.raises(NothingIngestedError, match=r"9 files found, 0 errors; not ingested: 8 RAW photos \(rawpy not "
                                                   r"installed: .*\), 1 videos"):
        vsearch.ingest(raws, home=tmp_path / "home")
    out = ingest_json(raws, tmp_path / "home", code=2)["output"]
    assert "9 files found" in out and "8 RAW photos" in out and out.count("\n") == 1


def test_touched_files_are_counted(library, tmp_path):
    home = tmp_path / "home"
    first = ingest_json(library, home)
    for p in library.rglob("*"):
        if p.is_file():
            os.utime(p)
    s = ingest_json(library, home)
    assert (s["new"], s["changed"], s["unchanged"], s["moved"], s["removed"], s["encoded"]) == (0, 0, 0, 0, 0, 0)
    assert s["touched"] == first["images"] == 4


@pytest.fixture()
def decodes(monkeypatch):
    """Counts every picture decoded, in this process and in forked workers."""
    from vsearch.pipeline import decode

    count = mp.get_context("fork").Value("i", 0)
    real = decode.decode_image_bytes

    def counting(*a, **k):
        with count.get_lock():
            count.value += 1
        return real(*a, **k)

    monkeypatch.setattr(decode, "decode_image_bytes", counting)
    return count


@pytest.mark.parametrize("workers", [0, 2])
def test_copies_met_in_one_run_are_decoded_once(tmp_path, decodes, workers):
    root = tmp_path / "copies"
    make_image(root / "a" / "000.png", "red")
    make_image(root / "z.png", "blue")
    for i in range(1, 60):
        shutil.copy(root / "a" / "000.png", root / "a" / f"{i:03d}.png")
    for i in range(5):  # copies of z.png before it in path order: their pixels come from its decode
        shutil.copy(root / "z.png", root / "a" / f"b{i}.png")
    s = vsearch.ingest(root, home=tmp_path / "home", workers=workers, batch_size=4)
    assert s.images == 66 and s.encoded == 2 and s.duplicates == 64 and s.errors == 0
    assert decodes.value == 2
    from vsearch.pipeline.decode import content_id

    col = vsearch.open_collection(home=tmp_path / "home")
    by_path = dict(zip(col.images.column("path").to_pylist(), col.images.column("id").to_pylist()))
    red, blue = (content_id((root / p).read_bytes())[1] for p in ("a/000.png", "z.png"))
    assert {by_path[f"a/b{i}.png"] for i in range(5)} == {by_path["z.png"]} == {blue} and by_path["a/059.png"] == red
    assert col.search(like="a/b0.png", k=1)[0].id == red  # both vectors stored: the nearest other is the red one


def test_copies_of_a_file_that_cannot_be_read_share_its_reason(tmp_path):
    root = tmp_path / "broken"
    root.mkdir()
    for i in range(12):
        (root / f"{i:02d}.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    make_image(root / "ok.png", "red")
    s = vsearch.ingest(root, home=tmp_path / "home", workers=2)
    assert s.images == 1 and s.errors == 12
    assert len({e["reason"] for e in s.error_samples}) == 1


def test_settling_a_copy_that_comes_back_before_its_original():
    """Unit: a worker hashed a copy while another was still decoding the content it claimed."""
    import numpy as np

    from vsearch.pipeline.copies import Copies
    from vsearch.pipeline.decode import Decoded

    class Done:
        def __init__(self, d):
            self.d = d

        def get(self):
            return self.d

    copy = Decoded("d", 7)  # hashed only: another worker claimed id 7
    original = Decoded("d", 7, pixels=np.zeros((2, 2, 3), np.uint8), meta={"width": 2})
    other = Decoded("e", 8, pixels=np.ones((2, 2, 3), np.uint8))
    c = Copies(stored=frozenset({99}))
    first = c.settle(copy, [Done(other), Done(original)])
    assert first.pixels is not None and first.meta["width"] == 2  # the copy first in order carries the pixels
    assert c.settle(other).pixels is not None
    assert c.settle(original).pixels is None  # ... and the original none
    assert c.settle(Decoded("s", 99)).pixels is None and c.settle(Decoded("", 0, error="unreadable")).error
