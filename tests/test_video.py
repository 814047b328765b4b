"""Videos through the one reader (vsearch/imaging/video.py), on short H.264 videos the tests make with
PyAV from sequences of Flickr8k photos (tests/media_inputs.py): frames sampled by scene change or
every N seconds with a cap per video, upright, at the right times; the third photo's content is
found at the third photo's time; corrupt files, files without a video stream and playlists are
refused with their reasons, never read past."""
from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("av")

from media_inputs import flickr_pictures, mad, make_audio_only, make_video  # noqa: E402
from vsearch.imaging import (CorruptImageError, EmptyFileError, NoVideoStreamError, NotRegularFileError,  # noqa: E402
                             UnsupportedImageError)
from vsearch.imaging.video import Sampling, read_video, video_frame  # noqa: E402

TARGET = 240
SECONDS_EACH = 2.0


@pytest.fixture(scope="module")
def pictures(flickr):
    return flickr_pictures(flickr, 5, (320, 240))


@pytest.fixture(scope="module")
def slideshow(pictures, tmp_path_factory):
    """10 s: five photos, 2 s each, 5 frames/s, a keyframe every second."""
    return make_video(tmp_path_factory.mktemp("video") / "slideshow.mp4", pictures, SECONDS_EACH)


def _closest(image: Image.Image, pictures: list[Image.Image]) -> int:
    return int(np.argmin([mad(image, p) for p in pictures]))


def test_scene_changes_give_one_frame_per_photo_at_its_time(slideshow, pictures):
    v = read_video(slideshow, TARGET)
    assert [f.ms for f in v.frames] == [0, 2000, 4000, 6000, 8000]
    assert [_closest(f.image, pictures) for f in v.frames] == [0, 1, 2, 3, 4]
    assert all(mad(f.image, p) < 6.0 for f, p in zip(v.frames, pictures))
    assert v.meta.duration_ms == 10_000 and (v.meta.width, v.meta.height) == (320, 240) and v.meta.codec == "h264"
    assert all(f.image.size == (320, 240) for f in v.frames)  # short side 240: already the target


def test_the_third_photos_content_is_found_at_the_third_photos_time(slideshow, pictures, model):
    """What a query by the third photo's content meets in the index: the frames' vectors; its best
    match is the frame at 4 s, where the third photo is shown."""
    from vsearch.models.image_encoder import ImageEncoder

    encoder = ImageEncoder(model)
    frames = read_video(slideshow, model.preprocess.size).frames
    vectors = encoder([model.preprocess.to_pixels(f.image) for f in frames])
    query = encoder([model.preprocess.to_pixels(pictures[2])])[0]
    scores = vectors @ query
    assert frames[int(np.argmax(scores))].ms == 4000
    assert scores.max() > 0.9 and np.sort(scores)[-2] < scores.max() - 0.05


def test_every_n_seconds_gives_the_frame_shown_at_each_time(slideshow, pictures):
    v = read_video(slideshow, TARGET, Sampling(every_s=1.5))
    times = [i * 1.5 for i in range(7)]
    assert len(v.frames) == 7
    for f, t in zip(v.frames, times):
        assert t * 1000 - 200 < f.ms <= t * 1000  # the frame on screen at t (5 frames/s: 200 ms each)
        assert _closest(f.image, pictures) == int(t // SECONDS_EACH)


def test_the_cap_per_video_keeps_the_first_frame_and_the_biggest_changes(slideshow):
    assert len(read_video(slideshow, TARGET, Sampling(max_frames=3)).frames) == 3
    assert read_video(slideshow, TARGET, Sampling(max_frames=3)).frames[0].ms == 0
    spread = read_video(slideshow, TARGET, Sampling(every_s=0.5, max_frames=4)).frames
    assert [f.ms for f in spread] == [0, 2400, 5000, 7400]  # the step grows to cover the whole video


def test_a_static_video_still_gets_a_frame_every_max_gap(pictures, tmp_path):
    path = make_video(tmp_path / "static.mp4", pictures[:1], seconds_each=25, fps=2, gop=2)
    assert [f.ms for f in read_video(path, TARGET).frames] == [0, 10_000, 20_000]


def test_display_rotation_turns_the_frames_upright(pictures, tmp_path):
    path = make_video(tmp_path / "portrait.mov", pictures[:2], rotation=-90)  # a phone held upright
    v = read_video(path, TARGET)
    assert v.meta.orientation == 6 and (v.meta.width, v.meta.height) == (320, 240)
    assert v.frames[0].image.size == (240, 320)
    assert mad(v.frames[0].image, pictures[0].transpose(Image.Transpose.ROTATE_270)) < 6.0


def test_metadata_of_the_container_is_read(pictures, tmp_path):
    path = make_video(tmp_path / "phone.mov", pictures[:1], metadata={
        "creation_time": "2022-07-08T09:10:11.000000Z", "make": "Apple", "model": "iPhone 13"})
    m = read_video(path, TARGET).meta
    assert (m.taken_at.isoformat(), m.camera) == ("2022-07-08T09:10:11", "Apple iPhone 13")


def test_a_moment_can_be_read_again_for_its_thumbnail(slideshow, pictures):
    image = video_frame(slideshow, 4100, 120)
    assert image.size == (160, 120) and _closest(image, pictures) == 2


def test_broken_and_hostile_videos_are_refused_with_their_reasons(slideshow, tmp_path):
    data = slideshow.read_bytes()
    cases = {
        "truncated.mp4": (data[: len(data) // 2], CorruptImageError, "truncated or corrupt"),
        "garbage.mp4": (os.urandom(40_000), CorruptImageError, "truncated or corrupt"),
        "text.mov": (b"hello, I am text" * 100, CorruptImageError, "truncated or corrupt"),
        "empty.mp4": (b"", EmptyFileError, "empty file"),
        "concat.mp4": (f"ffconcat version 1.0\nfile {slideshow}\n".encode(), UnsupportedImageError,
                       "unsupported video format"),
    }
    for name, (content, error, reason) in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(error, match=reason) as e:
            read_video(tmp_path / name, TARGET)
        assert e.value.path == str(tmp_path / name)
    with pytest.raises(NoVideoStreamError, match=r"no video stream \(audio only\)"):
        read_video(make_audio_only(tmp_path / "voice.mp4"), TARGET)
    os.mkfifo(tmp_path / "fifo.mp4")
    with pytest.raises(NotRegularFileError, match="fifo"):
        read_video(tmp_path / "fifo.mp4", TARGET)


def test_a_damaged_middle_keeps_the_frames_before_it(slideshow, tmp_path):
    data = bytearray(slideshow.read_bytes())
    mdat = data.index(b"mdat")
    cut = mdat + (len(data) - mdat) // 2
    data[cut:cut + 3000] = os.urandom(3000)
    (tmp_path / "damaged.mp4").write_bytes(bytes(data))
    frames = read_video(tmp_path / "damaged.mp4", TARGET).frames
    assert frames and frames[0].ms == 0


def test_without_pyav_a_video_is_unsupported_with_the_extra_to_install(slideshow, monkeypatch):
    import vsearch.imaging.video as video

    monkeypatch.setattr(video, "av", None)
    with pytest.raises(UnsupportedImageError, match=r"PyAV not installed: pip install 'vsearch\[video\]'"):
        read_video(slideshow, TARGET)


def test_bad_sampling_options_are_refused():
    from vsearch.errors import InvalidOptionError

    for bad in ({"every_s": 0}, {"every_s": float("nan")}, {"max_frames": 0}):
        with pytest.raises(InvalidOptionError):
            Sampling(**bad)
