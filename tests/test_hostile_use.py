"""What a hostile or unlucky user met as tracebacks or wrong pictures (issue 13, item 10), each now a
one-line message or a record: an image-query bomb, a text corpus that is not UTF-8, a negative k,
thumbnails of files that changed since the ingest. (Disk full and a read-only home: test_crash.py;
folder and file links: test_ingest_corpus.py; a query spanning commits: test_concurrency.py.)"""
from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import vsearch
from conftest import cli as run_cli
from conftest import make_image
from vsearch.errors import ImageError, QueryError


def cli(home: Path, *args, code: int = 0):
    """The CLI on the collections in `home`; a library error must be one line."""
    return run_cli(*args, code=code, home=home, one_line=code == 2)


def png(width: int, height: int, rows: bytes = b"") -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows or b"\0" * 1000)) + chunk(b"IEND", b""))


@pytest.fixture()
def shared(ingested):
    return ingested


def test_an_image_query_bomb_is_a_message(shared, tmp_path, model):
    home, photos = shared
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png(20000, 20000))  # 400 Mpx declared in 1 KB
    assert "decompression bomb" in cli(home, "query", "--image", bomb, code=2).output
    col = vsearch.open_collection(home=home, model=model)
    with pytest.raises(ImageError, match="decompression bomb"):
        col.search(image=bomb)
    # a tall strip costs what its pixels are worth, not what scaling its short side would ask (23 GB)
    strip = tmp_path / "strip.png"
    strip.write_bytes(png(1, 100000, b"".join(b"\0" + bytes([i % 256]) for i in range(100000))))
    assert len(col.search(image=strip, k=2)) == 2


def test_a_text_corpus_that_is_not_utf8_is_a_message(shared, tmp_path):
    home, _ = shared
    corpus = tmp_path / "latin1.txt"
    corpus.write_bytes("un caf\u00e9\nune cr\u00e8me\n".encode("latin-1"))
    r = cli(home, "texts", "add", corpus, code=2)
    assert "not UTF-8" in r.output and "iconv" in r.output


@pytest.mark.parametrize("k", [0, -1, 2.5])
def test_k_below_one_is_refused_not_silently_shortened(shared, k):
    home, _ = shared
    col = vsearch.open_collection(home=home)
    with pytest.raises(QueryError, match="k must be"):
        col.search("a red square", k=k)


def _id_of(col, relpath: str) -> int:
    return next(r["id"] for r in col.images.to_pylist() if r["path"] == relpath)


def test_a_thumbnail_shows_the_content_it_is_keyed_by(ingested_copy):
    home, photos = ingested_copy
    col = vsearch.open_collection(home=home)
    blue = _id_of(col, "blue_circle.png")
    make_image(photos / "blue_circle.png", "yellow", "square")  # changed since the ingest
    with pytest.raises(QueryError, match="has changed since it was ingested"):
        col.thumbnail(blue, 64)
    assert not (home / "photos" / "thumbs" / f"{blue & 0xFFFFFFFFFFFFFFFF:016x}-64.jpg").exists()
    r = cli(home, "ingest", photos)  # once re-ingested, the new content has its own id and thumbnail
    col.reload()
    yellow = _id_of(col, "blue_circle.png")
    assert yellow != blue
    pixels = np.asarray(Image.open(col.thumbnail(yellow, 64)).convert("RGB"), dtype=int)
    assert abs(pixels[pixels.shape[0] // 2, pixels.shape[1] // 2] - (240, 220, 30)).max() < 40  # the yellow square
    assert r.exit_code == 0


def test_a_thumbnail_comes_from_a_duplicate_that_still_has_the_content(ingested_copy):
    home, photos = ingested_copy
    col = vsearch.open_collection(home=home)
    red = _id_of(col, "red_square.jpg")
    assert _id_of(col, "trips/red_copy.jpg") == red
    make_image(photos / "red_square.jpg", "blue", "circle")  # the first of the two files changed
    pixels = np.asarray(Image.open(col.thumbnail(red, 64)).convert("RGB"), dtype=int)
    assert abs(pixels[pixels.shape[0] // 2, pixels.shape[1] // 2] - (220, 30, 30)).max() < 40  # still red: the copy


def test_a_cached_thumbnail_is_still_only_served_for_files_inside_the_roots(ingested_copy):
    home, photos = ingested_copy
    col = vsearch.open_collection(home=home)
    green = _id_of(col, "trips/green.webp")
    assert Path(col.thumbnail(green, 64)).is_file()
    (photos / "trips" / "green.webp").unlink()
    with pytest.raises(QueryError, match="no longer inside"):
        col.thumbnail(green, 64)
