"""RAW files and videos (issue 24) under the rules of a messy library (issue 20), as merged: copies
of a video met in one run are read once (pipeline/copies.py claims a video as a whole), RAW and
video capture dates and a video's file date past 2262 are clamped and noted like a photo's, the
frames a video may ask for are bounded, and the manifest's video record is checked and survives a
rebuild."""
from __future__ import annotations

import json
import multiprocessing as mp
import os
import shutil
from datetime import datetime

import pytest
from PIL import Image

pytest.importorskip("av")
pytest.importorskip("pidng")
pytest.importorskip("rawpy")

import vsearch  # noqa: E402
from media_inputs import make_dng, make_video  # noqa: E402
from vsearch.errors import InvalidOptionError, ManifestDamagedError  # noqa: E402
from vsearch.pipeline.config import IngestConfig  # noqa: E402
from vsearch.store.collection import CollectionStore  # noqa: E402

COLOURS = ("red", "blue", "green", "yellow")


def pictures() -> list[Image.Image]:
    return [Image.new("RGB", (320, 240), c) for c in COLOURS]


@pytest.fixture()
def video_reads(monkeypatch):
    """Counts every video read, in this process and in forked workers."""
    from vsearch.pipeline import decode

    count = mp.get_context("fork").Value("i", 0)
    real = decode.read_video

    def counting(*a, **k):
        with count.get_lock():
            count.value += 1
        return real(*a, **k)

    monkeypatch.setattr(decode, "read_video", counting)
    return count


@pytest.mark.parametrize("workers", [0, 2])
def test_copies_of_a_video_met_in_one_run_are_read_once(tmp_path, model, video_reads, workers):
    root = tmp_path / "clips"
    root.mkdir()
    make_video(root / "m.mp4", pictures(), seconds_each=1.0)
    for i in range(5):  # copies before it in path order (their frames come from its read) and after it
        shutil.copy(root / "m.mp4", root / f"a{i}.mp4")
        shutil.copy(root / "m.mp4", root / f"z{i}.mp4")
    Image.new("RGB", (96, 72), "purple").save(root / "photo.png")
    s = vsearch.ingest(root, home=tmp_path / "home", model=model, videos=True, workers=workers)
    assert video_reads.value == 1
    assert (s.videos, s.errors, s.duplicates) == (11, 0, 10)
    col = vsearch.open_collection(home=tmp_path / "home")
    frames: dict[str, list[int]] = {}
    for r in col.images.to_pylist():
        if r["media"] == "video":
            frames.setdefault(r["path"], []).append(r["id"])
    assert len({tuple(sorted(ids)) for ids in frames.values()}) == 1  # every copy holds the same frames
    per_video = len(frames["m.mp4"])
    assert per_video >= 2 and s.encoded == per_video + 1 and s.images == 11 * per_video + 1
    hits = col.search(image=pictures()[2], k=3)
    assert hits[0].media == "video"  # found, once per file at most


def test_raw_and_video_dates_past_2262_are_clamped_and_noted(tmp_path, model):
    root = tmp_path / "media"
    root.mkdir()
    make_video(root / "future.mp4", pictures()[:2], metadata={"date": "2300-01-01T00:00:00"})
    (root / "future.dng").write_bytes(make_dng(pictures()[1].resize((64, 48)), taken=datetime(2300, 1, 1)))
    make_video(root / "ext4.mp4", pictures()[2:], seconds_each=1.0)
    ns = 15_032_385_535 * 10**9  # 2446, valid on ext4
    os.utime(root / "ext4.mp4", ns=(ns, ns))
    dated = os.stat(root / "ext4.mp4").st_mtime_ns == ns
    home = tmp_path / "home"
    s = vsearch.ingest(root, home=home, model=model, videos=True)
    assert s.errors == 0 and s.videos == 2
    notes = {n["path"]: n["note"] for n in s.notes}
    assert notes["future.mp4"].startswith("video creation date 2300-01-01: its date is outside")
    assert notes["future.dng"].startswith("EXIF capture date 2300-01-01: its date is outside")
    rows = CollectionStore(home / "media").images().to_pylist()
    assert {r["taken_at"].year for r in rows if r["path"].startswith("future.")} == {2262}
    if dated:  # the file's own date: every frame row clamped, the video still shown at its moments
        assert s.noted == 3 and "ext4.mp4" in notes
        ext4 = [r for r in rows if r["path"] == "ext4.mp4"]
        assert {r["mtime"].year for r in ext4} == {2262}
        col = vsearch.open_collection(home=home)
        assert col.browse.image(ext4[-1]["id"], 64).size[0] >= 64
        again = vsearch.ingest(root, home=home, model=model)  # the clamped date is what the plan compares
        assert again.unchanged == 3 and again.encoded == 0


def test_the_frames_a_video_may_ask_for_are_bounded(tmp_path):
    for bad in (0, 10**9, 2.5, True):
        with pytest.raises(InvalidOptionError, match="--video-max-frames must be a whole number from 1 to 1000"):
            IngestConfig(root=tmp_path, video_max_frames=bad)
    for bad in (0, -1.0, float("nan"), float("inf"), "often"):
        with pytest.raises(InvalidOptionError, match="cannot work"):
            IngestConfig(root=tmp_path, video_every=bad)


def test_the_video_record_is_checked_and_survives_a_rebuild(tmp_path, model):
    root = tmp_path / "clips"
    root.mkdir()
    make_video(root / "clip.mp4", pictures()[:2], seconds_each=1.0)
    home = tmp_path / "home"
    vsearch.ingest(root, home=home, model=model, video_every=0.5, video_max_frames=7)
    folder = home / "clips"
    good = json.loads((folder / "manifest.json").read_text())
    assert good["video"]["every_s"] == 0.5 and good["video"]["max_frames"] == 7
    for spoil in ({"max_frames": 10**9}, {"every_s": "often"}, {"zoom": 2}, {"max_frames": True}):
        (folder / "manifest.json").write_text(json.dumps({**good, "video": spoil}))
        with pytest.raises(ManifestDamagedError, match="video"):
            vsearch.open_collection(home=home)
    from typer.testing import CliRunner

    from vsearch.cli import app

    r = CliRunner().invoke(app, ["reindex", "--collection", "clips", "--home", str(home)])
    assert r.exit_code == 0, r.output
    assert vsearch.open_collection(home=home).store.manifest.video == good["video"]
