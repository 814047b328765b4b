"""RAW files and videos through a whole ingest and the query path, on inputs the tests build from
Flickr8k photos (tests/media_inputs.py): DNGs with and without a preview, a truncated and a
bomb-sized RAW, a RAW+JPEG pair (one photo, shown as the JPEG), a Live Photo (one photo), a
slideshow video whose third photo's content is found at that photo's time, a corrupt video and an
audio-only file recorded with their reasons, and the files seen and not ingested counted."""
from __future__ import annotations

import csv
import os
import shutil

import pytest
from PIL import Image

pytest.importorskip("rawpy")
pytest.importorskip("pidng")
pytest.importorskip("av")

import vsearch  # noqa: E402
from media_inputs import LENS, MODEL, TAKEN, flickr_pictures, mad, make_audio_only, make_dng, make_video, with_sensor_size  # noqa: E402
from vsearch.errors import InvalidOptionError, NothingIngestedError  # noqa: E402

CAMERA = (640, 480)


@pytest.fixture(scope="module")
def pictures(flickr):
    return flickr_pictures(flickr, 12, CAMERA)


@pytest.fixture(scope="module")
def third_caption(flickr):
    name = sorted(os.listdir(flickr / "images"))[6]  # the slideshow's third photo
    return next(r["caption"] for r in csv.DictReader(open(flickr / "captions.csv")) if r["image"] == name)


def make_library(root, pictures):
    root.mkdir(parents=True)
    (root / "raw").mkdir()
    (root / "raw" / "developed.dng").write_bytes(make_dng(pictures[0], orientation=6))
    (root / "raw" / "previewed.dng").write_bytes(make_dng(pictures[1], preview=pictures[1].resize((400, 300))))
    data = make_dng(pictures[2])
    (root / "raw" / "truncated.dng").write_bytes(data[: len(data) // 2])
    (root / "raw" / "bomb.dng").write_bytes(with_sensor_size(data, 60000, 60000))
    (root / "pair").mkdir()
    (root / "pair" / "DSC_0001.DNG").write_bytes(make_dng(pictures[3]))
    pictures[3].save(root / "pair" / "DSC_0001.JPG", quality=90)
    (root / "phone").mkdir()
    pictures[11].save(root / "phone" / "IMG_0001.JPG", quality=90)
    make_video(root / "phone" / "IMG_0001.MOV", pictures[11:12], seconds_each=2)
    (root / "videos").mkdir()
    make_video(root / "videos" / "slideshow.mp4", pictures[4:9])  # 2 s each: the third photo at 4-6 s
    (root / "videos" / "truncated.mp4").write_bytes((root / "videos" / "slideshow.mp4").read_bytes()[:5000])
    make_audio_only(root / "videos" / "voice.mp4")  # a video file with no video stream
    return root


@pytest.fixture(scope="module")
def library(pictures, model, tmp_path_factory):
    base = tmp_path_factory.mktemp("media")
    root = make_library(base / "library", pictures)
    home = base / "indexes"
    summary = vsearch.ingest(root, home=home, model=model, videos=True)
    return root, home, summary


def test_every_file_is_a_photo_a_video_a_companion_or_an_error_with_its_reason(library):
    root, home, s = library
    col = vsearch.open_collection(home=home)
    rows = col.images.select(["path", "media", "companion", "frame_ms"]).to_pylist()
    files = {r["path"]: (r["media"], r["companion"]) for r in rows}
    assert files == {"raw/developed.dng": ("raw", False), "raw/previewed.dng": ("raw", False),
                     "pair/DSC_0001.JPG": ("photo", False), "pair/DSC_0001.DNG": ("raw", True),
                     "phone/IMG_0001.JPG": ("photo", False), "phone/IMG_0001.MOV": ("video", True),
                     "videos/slideshow.mp4": ("video", False)}
    assert sorted(r["frame_ms"] for r in rows if r["path"] == "videos/slideshow.mp4") == [0, 2000, 4000, 6000, 8000]
    errors = {r["path"]: r["reason"] for r in col.store.errors().to_pylist()}
    assert errors["raw/truncated.dng"].startswith("truncated or corrupt")
    assert errors["raw/bomb.dng"].startswith("decompression bomb: 60000x60000")
    assert errors["videos/truncated.mp4"].startswith("truncated or corrupt")
    assert errors["videos/voice.mp4"] == "no video stream (audio only)"
    assert (s.images, s.videos, s.companions, s.errors, s.skipped) == (11, 1, 2, 4, {})
    assert s.encoded == 4 + 5  # two RAWs, two JPEGs, five frames: the companions were never decoded


def test_raw_metadata_is_recorded_and_filters_on_it(library):
    root, home, _ = library
    col = vsearch.open_collection(home=home)
    hits = col.search("a photo", k=10, where=f"lens = '{LENS}' AND media = 'raw'")
    assert {h.relpath for h in hits} == {"raw/developed.dng", "raw/previewed.dng"}
    h = next(h for h in hits if h.relpath == "raw/developed.dng")
    assert (h.camera, h.lens, h.taken_at, h.media) == (MODEL, LENS, TAKEN.isoformat(), "raw")


def test_a_raw_and_its_jpeg_are_one_photo_shown_as_the_jpeg(library, pictures):
    root, home, _ = library
    col = vsearch.open_collection(home=home)
    hit = col.search(image=pictures[3], k=1)[0]
    assert hit.relpath == "pair/DSC_0001.JPG" and hit.companions == [str(root / "pair" / "DSC_0001.DNG")]
    assert hit.duplicates == [] and col.file_path(hit.id).name == "DSC_0001.JPG"
    assert [h.relpath for h in col.search(image=pictures[3], k=10)].count("pair/DSC_0001.JPG") == 1
    live = col.search(image=pictures[11], k=1)[0]
    assert live.relpath == "phone/IMG_0001.JPG" and live.companions == [str(root / "phone" / "IMG_0001.MOV")]


def test_a_query_for_the_third_photo_returns_the_video_once_at_that_photos_time(library, pictures, third_caption):
    root, home, _ = library
    col = vsearch.open_collection(home=home)
    for hits in (col.search(third_caption, k=5), col.search(image=pictures[6], k=5)):
        videos = [h for h in hits if h.relpath == "videos/slideshow.mp4"]
        assert len(videos) == 1 and videos[0].moment_s == 4.0 and videos[0].duration_s == 10.0
        assert sorted(m[0] for m in videos[0].moments) == [0.0, 2.0, 6.0, 8.0]  # its other frames, met further down
    every = [h for h in col.search(image=pictures[6], k=20, every_moment=True) if h.media == "video" and not h.companions]
    assert sorted(h.moment_s for h in every) == [0.0, 2.0, 4.0, 6.0, 8.0] and every[0].moment_s == 4.0


def test_a_videos_thumbnail_is_the_picture_at_its_moment(library, pictures):
    root, home, _ = library
    col = vsearch.open_collection(home=home)
    hit = col.search(image=pictures[6], k=1)[0]
    thumb = Image.open(col.thumbnail(hit.id, 160))
    assert max(thumb.size) == 160 and min(range(5), key=lambda i: mad(thumb, pictures[4 + i])) == 2
    more = col.search(like=hit.id, k=10)
    assert "videos/slideshow.mp4" not in [h.relpath for h in more]  # more like a moment: other pictures


def test_a_rerun_reads_nothing_and_a_moved_video_is_not_read_again(library, pictures, model, tmp_path):
    root, home, _ = library
    lib, idx = tmp_path / "library", tmp_path / "indexes"
    shutil.copytree(root, lib)
    shutil.copytree(home, idx)
    _point_at(idx / "library", root, lib)
    s = vsearch.ingest(lib, home=idx, model=model)  # videos read: the collection recorded --videos
    assert (s.encoded, s.unchanged, s.new, s.videos) == (0, 5, 0, 1)
    os.rename(lib / "videos" / "slideshow.mp4", lib / "slideshow-moved.mp4")
    s = vsearch.ingest(lib, home=idx, model=model)
    assert (s.encoded, s.moved, s.new, s.removed) == (0, 1, 0, 0)
    col = vsearch.open_collection(home=idx)
    hit = col.search(image=pictures[6], k=1)[0]
    assert (hit.relpath, hit.moment_s) == ("slideshow-moved.mp4", 4.0)


def _point_at(folder, old, new):
    """A copied collection's rows and roots name the copy's photos."""
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    m = json.loads((folder / "manifest.json").read_text())
    m["roots"] = [str(new)]
    for key in ("images", "errors"):
        t = pq.read_table(folder / m["files"][key])
        t = t.set_column(t.schema.get_field_index("root"), "root", pa.array([str(new)] * len(t), pa.string()))
        pq.write_table(t, folder / m["files"][key])
    (folder / "manifest.json").write_text(json.dumps(m))


def test_a_companion_whose_still_is_gone_or_unreadable_is_read_on_its_own(pictures, model, tmp_path):
    root = tmp_path / "pair"
    root.mkdir()
    (root / "A.NEF").write_bytes(make_dng(pictures[0]))  # a RAW named as Nikon names them: known by its name
    pictures[0].save(root / "A.JPG", quality=90)
    (root / "B.DNG").write_bytes(make_dng(pictures[1]))
    (root / "B.JPG").write_bytes(b"not a jpeg")
    s = vsearch.ingest(root, home=tmp_path / "idx", model=model)
    assert (s.companions, s.errors, s.images) == (1, 1, 3)
    rows = {r["path"]: (r["media"], r["companion"]) for r in vsearch.open_collection(home=tmp_path / "idx").images.to_pylist()}
    assert rows == {"A.JPG": ("photo", False), "A.NEF": ("raw", True), "B.DNG": ("raw", False)}
    (root / "A.JPG").unlink()
    s = vsearch.ingest(root, home=tmp_path / "idx", model=model)
    col = vsearch.open_collection(home=tmp_path / "idx")
    assert {r["path"]: r["companion"] for r in col.images.to_pylist()} == {"A.NEF": False, "B.DNG": False}
    assert s.new == 1 and col.search(image=pictures[0], k=1)[0].relpath == "A.NEF"


def test_files_seen_and_not_ingested_are_counted_by_reason(pictures, model, tmp_path, monkeypatch):
    root = tmp_path / "lib"
    root.mkdir()
    (root / "a.dng").write_bytes(make_dng(pictures[0]))
    make_video(root / "clip.mp4", pictures[1:3])
    pictures[3].save(root / "IMG_1.JPG")
    make_video(root / "IMG_1.MOV", pictures[3:4])  # a Live Photo's video: one photo, not a video seen
    s = vsearch.ingest(root, home=tmp_path / "a", model=model)
    assert s.skipped == {"video: run with --videos": 1} and s.images == 3 and s.companions == 1
    import vsearch.pipeline.plan as plan

    monkeypatch.setattr(plan, "raw_available", lambda: False)
    s = vsearch.ingest(root, home=tmp_path / "b", model=model)
    assert s.skipped == {"raw: rawpy not installed": 1, "video: run with --videos": 1} and s.images == 2
    (root / "IMG_1.JPG").unlink()
    (root / "IMG_1.MOV").unlink()
    # one wording per reason (pipeline/ignore.py REASONS), the same as the summary line's
    with pytest.raises(NothingIngestedError, match=r"2 files found, 0 errors; not ingested: 1 RAW photos \(rawpy not "
                                                   r"installed: .*\), 1 videos \(run with --videos"):
        vsearch.ingest(root, home=tmp_path / "c", model=model)


def test_video_sampling_is_the_collections_and_cannot_change(pictures, model, tmp_path):
    root = tmp_path / "lib"
    root.mkdir()
    make_video(root / "clip.mp4", pictures[:3])
    s = vsearch.ingest(root, home=tmp_path / "i", model=model, video_every=1.0)
    assert s.images == 6  # a frame a second over 6 s
    col = vsearch.open_collection(home=tmp_path / "i")
    assert col.store.manifest.video["every_s"] == 1.0
    with pytest.raises(InvalidOptionError, match="samples videos with --video-every 1.0, not 2.0"):
        vsearch.ingest(root, home=tmp_path / "i", model=model, video_every=2.0)
    with pytest.raises(InvalidOptionError, match="local engine"):
        vsearch.ingest(root, home=tmp_path / "j", engine="ray", videos=True)


def test_the_cli_ingests_videos_and_says_what_it_did_not_ingest(pictures, tmp_path):
    from conftest import cli, cli_json

    root = tmp_path / "lib"
    root.mkdir()
    make_video(root / "clip.mp4", pictures[4:9])
    pictures[0].save(root / "photo.jpg")
    r = cli("ingest", root, home=tmp_path / "i")
    assert "not ingested: 1 videos (run with --videos to ingest them)" in r.stdout
    s = cli_json("ingest", root, "--videos", home=tmp_path / "i")
    assert (s["videos"], s["images"], s["skipped"]) == (1, 6, {})
    hits = cli_json("query", "--image", root / "photo.jpg", "-k", "3", home=tmp_path / "i")
    assert [h["relpath"] for h in hits] == ["photo.jpg", "clip.mp4"]  # k=3, but the video is one result
    pictures[6].save(tmp_path / "third.jpg")
    hits = cli_json("query", "--image", tmp_path / "third.jpg", "-k", "1", home=tmp_path / "i")
    assert (hits[0]["relpath"], hits[0]["media"], hits[0]["moment_s"]) == ("clip.mp4", "video", 4.0)
    assert "clip.mp4 @ 0:04" in cli("query", "--image", tmp_path / "third.jpg", "-k", "1", home=tmp_path / "i").stdout
    every = cli_json("query", "--image", tmp_path / "third.jpg", "-k", "6", "--every-moment", home=tmp_path / "i")
    assert sorted(h["moment_s"] for h in every if h["media"] == "video") == [0.0, 2.0, 4.0, 6.0, 8.0]


def test_the_service_returns_a_video_at_its_moment(library, third_caption):
    for module in ("fastapi", "uvicorn", "multipart", "prometheus_client"):
        pytest.importorskip(module)
    from fastapi.testclient import TestClient

    from vsearch.serve.app import create_app
    from vsearch.serve.config import ServeConfig

    root, home, _ = library
    with TestClient(create_app(ServeConfig(home=home))) as client:
        one = client.post("/v1/collections/library/search", json={"text": third_caption, "k": 5}).json()["hits"]
        every = client.post("/v1/collections/library/search",
                            json={"text": third_caption, "k": 20, "every_moment": True}).json()["hits"]
    video = [h for h in one if h["media"] == "video" and not h["companions"]]
    assert len(video) == 1 and (video[0]["relpath"], video[0]["moment_s"]) == ("videos/slideshow.mp4", 4.0)
    assert sorted(h["moment_s"] for h in every if h["relpath"] == "videos/slideshow.mp4") == [0.0, 2.0, 4.0, 6.0, 8.0]
