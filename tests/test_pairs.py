"""RAW+JPEG pairs and Live Photos found by name (vsearch/pipeline/pairs.py)."""
from __future__ import annotations

from vsearch.pipeline.pairs import LIVE_VIDEO_MAX_BYTES, Sized, companions


def _files(*names: str, size: int = 1000) -> list[Sized]:
    return [Sized(n, size) for n in names]


def test_a_raw_and_its_jpeg_are_one_photo_shown_as_the_jpeg():
    got = companions(_files("2021/DSC_0001.NEF", "2021/DSC_0001.JPG", "2021/DSC_0002.NEF", "2021/DSC_0003.jpg"))
    assert got == {"2021/DSC_0001.NEF": "2021/DSC_0001.JPG"}  # a RAW alone and a JPEG alone stay themselves


def test_names_pair_without_regard_to_case_and_only_within_a_folder():
    got = companions(_files("a/img_1.cr3", "a/IMG_1.jpg", "b/IMG_1.jpg", "b/other.cr3"))
    assert got == {"a/img_1.cr3": "a/IMG_1.jpg"}


def test_a_live_photo_is_its_still_with_the_video_as_companion():
    got = companions(_files("IMG_0001.HEIC", "IMG_0001.MOV"))
    assert got == {"IMG_0001.MOV": "IMG_0001.HEIC"}


def test_a_large_video_beside_a_still_of_the_same_name_is_a_video_of_its_own():
    files = [Sized("holiday.jpg", 1000), Sized("holiday.mp4", LIVE_VIDEO_MAX_BYTES + 1)]
    assert companions(files) == {}


def test_the_jpeg_is_shown_before_the_heic_and_the_rest_stay_photos_of_their_own():
    got = companions(_files("x.png", "x.heic", "x.JPG", "x.dng", "x.mov"))
    assert got == {"x.dng": "x.JPG", "x.mov": "x.JPG"}


def test_raws_and_videos_without_a_still_are_not_paired():
    assert companions(_files("x.dng", "x.mov", "y.nef", "y.arw")) == {}
