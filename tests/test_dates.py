"""Times outside what the format holds (issue 20, defect 5): a file dated after 2262-04-11 (valid on
ext4), and EXIF capture dates in year 1 or 9999, are clamped to the range int64 nanoseconds reach and
recorded (the summary's `notes`, the manifest's last_ingest), never fatal: the file is ingested,
the next ingest finds it unchanged, and queries on dates work."""
from __future__ import annotations

import os
import shutil
from datetime import datetime
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

import vsearch
from conftest import make_image
from vsearch.store.collection import CollectionStore

FUTURE_S = 15_032_385_535  # 2446-05-10, the last second ext4 holds; past int64 nanoseconds
INT64_MAX = (1 << 63) - 1


def dated(path: Path, seconds: int) -> bool:
    """Set the file's times; False when this file system cannot hold them."""
    ns = seconds * 10**9
    os.utime(path, ns=(ns, ns))
    return os.stat(path).st_mtime_ns == ns


def exif_dated(path: Path, color: str, taken: str) -> Path:
    make_image(path, color)
    img = Image.open(path)
    exif = Image.Exif()
    exif.get_ifd(0x8769)[36867] = taken
    img.save(path, exif=exif)
    return path


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "photos"
    make_image(root / "now.png", "red")
    make_image(root / "future.png", "blue", "circle")
    if not dated(root / "future.png", FUTURE_S):
        pytest.skip("this file system cannot hold a date after 2262")
    return root


def test_a_file_dated_after_2262_is_ingested_with_its_date_clamped_and_noted(folder, tmp_path):
    home = tmp_path / "home"
    s = vsearch.ingest(folder, home=home)
    assert s.images == 2 and s.errors == 0 and s.noted == 1
    assert s.notes[0]["path"] == "future.png" and "outside what the format holds" in s.notes[0]["note"]
    store = CollectionStore(home / "photos")
    rows = {r["path"]: r for r in store.images().to_pylist()}
    assert 0 < rows["future.png"]["mtime_ns"] < INT64_MAX and rows["future.png"]["mtime"].year == 2262
    assert store.manifest.last_ingest["noted"] == 1
    again = vsearch.ingest(folder, home=home)  # the clamped date is what the scan compares: unchanged
    assert (again.unchanged, again.touched, again.encoded, again.noted) == (2, 0, 0, 0)
    col = vsearch.open_collection(home=home)
    hits = col.search("a blue circle", k=2, where="mtime > '2200-01-01'")
    assert [h.relpath for h in hits] == ["future.png"]


def test_the_low_end_is_clamped_too():
    from vsearch.times import NS_MIN, clamp_ns

    assert clamp_ns(-(1 << 64)) == (NS_MIN, True) and clamp_ns(0) == (0, False)
    assert datetime.fromtimestamp(NS_MIN / 1e9).year == 1677


def test_a_file_dated_after_2262_can_be_imported(folder, tmp_path):
    import pyarrow as pa

    vsearch.ingest(folder, home=tmp_path / "made")  # the model's own vector of the photo, as an exporter gives it
    col = vsearch.open_collection(home=tmp_path / "made")
    vec = col.index.reconstruct(col.resolve_image("future.png"))
    src = tmp_path / "emb.parquet"
    pq.write_table(pa.table({"path": [str(folder / "future.png")], "vector": [vec.tolist()]}), src)
    s = vsearch.import_embeddings(src, "align-lite", "imported", tmp_path / "home", roots=[folder])
    assert s.images == 1 and s.reachable == 1 and any("outside what the format holds" in w for w in s.warnings)
    row = CollectionStore(tmp_path / "home" / "imported").images().to_pylist()[0]
    assert 0 < row["mtime_ns"] < INT64_MAX


def test_absurd_exif_dates_are_clamped_and_noted(tmp_path):
    root = tmp_path / "photos"
    exif_dated(root / "far.jpg", "red", "9999:12:31 23:59:59")
    exif_dated(root / "early.jpg", "green", "0001:01:01 00:00:00")
    exif_dated(root / "fine.jpg", "blue", "2021:07:04 10:11:12")
    s = vsearch.ingest(root, home=tmp_path / "home")
    assert s.images == 3 and sorted(n["path"] for n in s.notes) == ["early.jpg", "far.jpg"]
    assert all("EXIF capture date" in n["note"] for n in s.notes)
    col = vsearch.open_collection(home=tmp_path / "home")
    taken = {r["path"]: r["taken_at"] for r in col.images.to_pylist()}
    assert taken["far.jpg"].year == 2262 and taken["early.jpg"].year == 1677 and taken["fine.jpg"].year == 2021
    recent = col.search("a square", k=3, where="taken_at >= '2000-01-01' AND taken_at < '2100-01-01'")
    assert [h.relpath for h in recent] == ["fine.jpg"]
    assert col.images.to_pandas()["taken_at"].notna().all()  # every consumer can hold them


def test_every_later_ingest_of_such_a_folder_works(folder, tmp_path):
    """Before, every ingest of the folder failed the same way: a collection was never made."""
    home = tmp_path / "home"
    for _ in range(2):
        assert vsearch.ingest(folder, home=home).images == 2
    shutil.copy(folder / "future.png", folder / "copy.png")
    os.utime(folder / "copy.png", ns=(FUTURE_S * 10**9, FUTURE_S * 10**9))
    s = vsearch.ingest(folder, home=home)
    assert s.images == 3 and s.new == 1 and s.encoded == 0 and np.isfinite(s.elapsed_s)
