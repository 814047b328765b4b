"""Words of RAW files and videos (issues 24 and 26 together): their `.xmp` sidecars are their
words; a video found by its words is one result like a video found by its vector (every moment
on asking), a near-duplicate group one result when collapsed; their words are read once."""
from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

import vsearch
from vsearch.evaluation.metadata_writing import xmp_packet


@pytest.fixture
def media(tmp_path) -> Path:
    pytest.importorskip("av")
    pytest.importorskip("rawpy")
    pytest.importorskip("pidng")
    from media_inputs import make_dng, make_video

    root = tmp_path / "media"
    root.mkdir()
    colors = ["red", "blue", "green"]
    make_video(root / "clip.mp4", [Image.new("RGB", (320, 240), c) for c in colors])
    (root / "clip.xmp").write_bytes(xmp_packet(description="an evening of fado", keywords=["fado"]))
    (root / "harbour.dng").write_bytes(make_dng(Image.new("RGB", (256, 192), "navy")))
    (root / "harbour.xmp").write_bytes(xmp_packet(keywords=["boats", "harbour"]))
    Image.new("RGB", (200, 150), "orange").save(root / "plain.jpg")
    return root


def test_sidecars_give_raws_and_videos_their_words_and_a_video_is_one_result(media, tmp_path):
    home = tmp_path / "home"
    s = vsearch.ingest(media, home=home, videos=True, video_every=1.0)
    assert s.errors == 0 and s.videos == 1
    with vsearch.open_collection(home=home) as col:
        frames = sum(1 for m in col.images.column("media").to_pylist() if m == "video")
        assert frames > 1
        for mode in ("keyword", "hybrid"):
            hits = [h for h in col.search("fado", k=10, mode=mode) if h.matched]
            assert [(h.relpath, h.media) for h in hits] == [("clip.mp4", "video")]
            assert {m["field"] for m in hits[0].matched} >= {"keywords", "description"}
        every = [h for h in col.search("fado", k=10, mode="keyword", every_moment=True) if h.matched]
        assert len(every) == frames and {h.relpath for h in every} == {"clip.mp4"}
        raw = [h for h in col.search("harbour", k=10, mode="keyword") if h.matched]
        assert [(h.relpath, h.media) for h in raw] == [("harbour.dng", "raw")]
        assert [r["path"] for r in col.images.to_pylist() if r["keywords"] is None] == []  # nothing left unread
    again = vsearch.ingest(media, home=home)  # the frames' words are read ("none"): nothing read again
    assert again.unchanged == s.scanned == 3 and again.read_again == 0 and again.touched == 0 and again.encoded == 0
    (media / "clip.xmp").write_bytes(xmp_packet(keywords=["guitar"]))
    edited = vsearch.ingest(media, home=home)
    assert edited.encoded == 0 and edited.touched == 1  # the video read again for its sidecar, not decoded anew
    with vsearch.open_collection(home=home) as col:
        assert [h.relpath for h in col.search("guitar", k=10, mode="keyword") if h.matched] == ["clip.mp4"]
        assert not [h for h in col.search("fado", k=10, mode="keyword") if h.matched]


def test_keyword_hits_keep_a_near_duplicate_group_once_when_collapsed(tmp_path):
    root = tmp_path / "photos"
    root.mkdir()
    picture = Image.effect_mandelbrot((320, 240), (-2.0, -1.2, 1.0, 1.2), 60).convert("RGB")
    for name, quality in (("a.jpg", 95), ("b.jpg", 60)):
        picture.save(root / name, quality=quality)
        (root / name).with_suffix(".xmp").write_bytes(xmp_packet(keywords=["mandelbrot"]))
    Image.new("RGB", (320, 240), "teal").save(root / "other.jpg")
    home = tmp_path / "home"
    vsearch.ingest(root, home=home)
    with vsearch.open_collection(home=home) as col:
        assert len(col.duplicates()) == 1
        plain = [h.relpath for h in col.search("mandelbrot", k=10, mode="keyword") if h.matched]
        assert sorted(plain) == ["a.jpg", "b.jpg"]
        for mode in ("keyword", "hybrid"):
            hits = [h for h in col.search("mandelbrot", k=10, mode=mode, collapse_duplicates=True) if h.matched]
            assert len(hits) == 1 and hits[0].near_duplicates
