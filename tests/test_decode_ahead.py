"""Decode-ahead is bounded: the worker pool is never more than `ahead` files ahead of the consumer,
keeps decoding while the consumer is busy, and yields results in order."""
from __future__ import annotations

import multiprocessing as mp
import time
from pathlib import Path

import pytest
from conftest import make_image

from vsearch.errors import InvalidOptionError
from vsearch.models.preprocess import Preprocess
from vsearch.pipeline import decode


@pytest.fixture()
def started(monkeypatch):
    """A decode_file that only counts its calls (in shared memory, inherited by the forked workers)
    and returns the path's name with the size of the `known` set it was given."""
    count = mp.get_context("fork").Value("i", 0)

    def fake(path: Path, preprocess, known, sampling=None, known_videos=None) -> decode.Decoded:
        with count.get_lock():
            count.value += 1
        return decode.Decoded(path.name, len(known))

    monkeypatch.setattr(decode, "decode_file", fake)
    return count


def _settles_at(count, expected: int, timeout: float = 10.0) -> int:
    """The count once it has reached `expected` (or the timeout passed) and then stayed still a while."""
    deadline = time.monotonic() + timeout
    while count.value < expected and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)  # room for a pool that submits without bound to overshoot
    return count.value


def test_workers_stay_a_bounded_window_ahead(started):
    paths = [Path(f"{i:04d}.jpg") for i in range(400)]
    ahead = 10
    results = decode.decode_files(paths, Preprocess(size=8), workers=2, known={1, 2, 3}, ahead=ahead)
    taken = [next(results)]
    # while the consumer holds one result and does something else, the workers fill the window and stop
    assert _settles_at(started, ahead + 1) == ahead + 1
    for _ in range(25):
        taken.append(next(results))
    assert _settles_at(started, ahead + 26) == ahead + 26
    taken += list(results)
    assert started.value == len(paths)
    assert [d.digest for d in taken] == [p.name for p in paths]  # in order
    assert {d.id for d in taken} == {3}  # `known` reached every worker


def test_serial_path_and_bad_window(started):
    paths = [Path(f"{i}.jpg") for i in range(5)]  # too few for a pool
    assert [d.digest for d in decode.decode_files(paths, Preprocess(size=8), workers=2)] == [p.name for p in paths]
    with pytest.raises(InvalidOptionError):
        next(decode.decode_files(paths * 4, Preprocess(size=8), workers=2, ahead=0))


def test_real_files_decode_in_order(tmp_path):
    colors = ["red", "green", "blue", "yellow"] * 4
    paths = [make_image(tmp_path / f"{i:02d}.png", c) for i, c in enumerate(colors)]
    out = list(decode.decode_files(paths, Preprocess(size=32), workers=2, ahead=3))
    assert all(d.pixels is not None and d.pixels.shape == (32, 32, 3) for d in out)
    # the dominant channel of each image's centre is its colour's: results come back in path order
    centre = {"red": 0, "green": 1, "blue": 2}
    for d, c in zip(out, colors):
        if c in centre:
            assert d.pixels[16, 16].argmax() == centre[c]
