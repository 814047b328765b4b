"""Ingest reads each photo's own words (issue 26): what its file embeds (XMP, IPTC), its `.xmp`
sidecar and, with --ocr, the text in the picture. They are stored with the collection (the vector
shards and the images table, format 4), found by keyword and hybrid search, filtered by --where,
picked up again when a sidecar is edited, rebuilt into the keyword index by `vsearch reindex`
from what is stored, and a format-3 collection reads and gets its words at its next ingest."""
from __future__ import annotations

import io
import json
import os
import random
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from PIL import Image

import vsearch
from collection_state import as_version_3
from conftest import cli, cli_json, make_image
from vsearch.evaluation.metadata_writing import iptc_block, with_iptc, xmp_packet
from vsearch.store.collection import CollectionStore


def _jpeg(path: Path, color: str, xmp: bytes | None = None, iptc: bytes | None = None) -> Path:
    make_image(path, color)
    buf = io.BytesIO()
    Image.open(path).save(buf, "JPEG", quality=90, **({"xmp": xmp} if xmp else {}))
    data = buf.getvalue()
    path.write_bytes(with_iptc(data, iptc) if iptc else data)
    return path


def library(root: Path) -> Path:
    """Four photos: words in an embedded XMP packet, in an IPTC block, in a sidecar, and none."""
    _jpeg(root / "2019 Lisbon" / "IMG_0001.jpg", "red",
          xmp=xmp_packet(description="a yellow tram climbing the hill", keywords=["tram", "Alfama"], people=["Ana"]))
    _jpeg(root / "2019 Lisbon" / "IMG_0002.jpg", "blue")
    (root / "2019 Lisbon" / "IMG_0002.xmp").write_bytes(
        xmp_packet(title="Praia", description="waves on the beach", keywords=["sea", "beach"]))
    _jpeg(root / "IMG_0003.jpg", "green", iptc=iptc_block(description="a dog with a ball", keywords=["dog", "park"]))
    make_image(root / "IMG_0004.png", "yellow", "circle")
    return root


def by_path(col) -> dict[str, int]:
    return {r["path"]: r["id"] for r in col.images.select(["id", "path"]).to_pylist()}


def found(col, text: str, mode: str = "keyword", **kw) -> list[str]:
    return [h.relpath for h in col.search(text, k=4, mode=mode, **kw) if mode != "keyword" or h.matched]


def test_embedded_iptc_and_sidecar_words_are_found_by_keyword_hybrid_and_where(tmp_path, home):
    root = library(tmp_path / "photos")
    s = vsearch.ingest(root)
    assert s.encoded == 4 and s.read_again == 0 and s.skipped == {}  # the sidecar is read, not a skipped file
    with vsearch.open_collection() as col:
        assert found(col, "tram") == ["2019 Lisbon/IMG_0001.jpg"]       # embedded XMP
        assert found(col, "Ana") == ["2019 Lisbon/IMG_0001.jpg"]        # its people
        assert found(col, "dog") == ["IMG_0003.jpg"]                    # IPTC IIM
        assert found(col, "beach") == ["2019 Lisbon/IMG_0002.jpg"]      # the sidecar
        assert found(col, "beach", "hybrid")[0] == "2019 Lisbon/IMG_0002.jpg"
        hit = col.search("beach", k=1, mode="keyword")[0]
        assert hit.words["title"] == "Praia" and hit.words["keywords"] == "sea; beach"
        assert hit.matched == [{"field": "description", "terms": ["beach"]}, {"field": "keywords", "terms": ["beach"]}]
        where = lambda w: sorted(h.relpath for h in col.search("a photo", k=4, where=w))  # noqa: E731
        assert where("list_contains(keywords, 'beach')") == ["2019 Lisbon/IMG_0002.jpg"]  # a sidecar's keyword
        assert where("list_has_any(keywords, ['tram', 'dog'])") == ["2019 Lisbon/IMG_0001.jpg", "IMG_0003.jpg"]
        assert where("description ILIKE '%tram%' OR title = 'Praia'") == ["2019 Lisbon/IMG_0001.jpg",
                                                                         "2019 Lisbon/IMG_0002.jpg"]
        assert where("list_contains(people, 'Ana')") == ["2019 Lisbon/IMG_0001.jpg"]
        assert where("len(keywords) = 0") == ["IMG_0004.png"] and where("ocr IS NULL") == sorted(by_path(col))
    out = cli_json("query", "beach", "--mode", "keyword", "-k", "2")
    assert out[0]["relpath"] == "2019 Lisbon/IMG_0002.jpg" and {m["field"] for m in out[0]["matched"]} == {"description", "keywords"}
    table = cli("query", "beach", "--mode", "keyword", "-k", "2").stdout   # the table says why each hit matched
    assert all(w in table for w in ("matched", "keywords", "beach"))   # "beach" is in no path
    words = cli_json("info")["words"]
    assert words == {"described": 3, "sidecars": 1, "unread": 0, "ocr_looked": 0, "with_text": 0, "keyword_index": True}
    again = vsearch.ingest(root)
    assert again.unchanged == 4 and again.encoded == 0 and again.touched == 0


def test_an_edited_or_removed_sidecar_is_picked_up_by_the_next_ingest(tmp_path, home):
    root = library(tmp_path / "photos")
    vsearch.ingest(root)
    side = root / "2019 Lisbon" / "IMG_0002.xmp"
    side.write_bytes(xmp_packet(description="surfers at dawn", keywords=["surf"]))
    st = side.stat()
    os.utime(side, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    s = vsearch.ingest(root)
    assert s.touched == 1 and s.encoded == 0 and s.unchanged == 3  # read again (hashed), never encoded
    with vsearch.open_collection() as col:
        assert found(col, "surf") == ["2019 Lisbon/IMG_0002.jpg"] and found(col, "beach") == []
        assert [h.relpath for h in col.search("x", k=4, where="list_contains(keywords, 'surf')")] == ["2019 Lisbon/IMG_0002.jpg"]
    side.unlink()
    assert vsearch.ingest(root).touched == 1
    with vsearch.open_collection() as col:
        assert found(col, "surf") == [] and col.images.column("sidecar").null_count == 4
    (root / "2019 Lisbon" / "IMG_0002.jpg.xmp").write_bytes(xmp_packet(keywords=["harbour"]))  # darktable's name
    assert vsearch.ingest(root).touched == 1
    with vsearch.open_collection() as col:
        assert found(col, "harbour") == ["2019 Lisbon/IMG_0002.jpg"]


def test_reindex_rebuilds_the_keyword_index_from_the_stored_words(tmp_path, home):
    root = library(tmp_path / "photos")
    vsearch.ingest(root)
    folder = home / "photos"
    m = json.loads((folder / "manifest.json").read_text())
    shutil.rmtree(folder / m["files"]["keywords"])
    moved = root.rename(tmp_path / "elsewhere")  # no photo or sidecar can be read again
    assert cli_json("reindex")["repaired"] == []
    with vsearch.open_collection() as col:
        assert found(col, "beach") == ["2019 Lisbon/IMG_0002.jpg"] and found(col, "dog") == ["IMG_0003.jpg"]
        assert found(col, "tram") == ["2019 Lisbon/IMG_0001.jpg"] and found(col, "lisbon")  # folder names too
    assert moved.is_dir()


def test_a_version_3_collection_reads_and_gets_its_words_at_its_next_ingest(tmp_path, home):
    root = library(tmp_path / "photos")
    vsearch.ingest(root)
    folder = home / "photos"
    with vsearch.open_collection() as col:
        before = [h.id for h in col.search("a red square", k=4, mode="semantic")]
    as_version_3(folder)
    assert cli_json("info")["words"]["unread"] == 4 and "not read yet" in cli("info").stdout
    store = CollectionStore(folder)
    assert store.vectors().damaged(thorough=True) == []        # old shards conform: none set aside
    with vsearch.open_collection() as col:
        assert [h.id for h in col.search("a red square", k=4)] == before   # no words yet: hybrid ranks by the vectors
        assert col.images.column("keywords").null_count == 4 and found(col, "beach", "hybrid")  # semantic fallback
        assert [h.relpath for h in col.search("x", k=4, where="list_contains(keywords, 'tram')")] == []
    s = vsearch.ingest(root)
    assert s.encoded == 0 and s.read_again == 4 and s.touched == 4
    assert json.loads((folder / "manifest.json").read_text())["format_version"] == 4
    with vsearch.open_collection() as col:
        assert [h.id for h in col.search("a red square", k=4, mode="semantic")] == before
        assert found(col, "tram") == ["2019 Lisbon/IMG_0001.jpg"] and found(col, "beach") == ["2019 Lisbon/IMG_0002.jpg"]
        assert found(col, "dog") == ["IMG_0003.jpg"]
    stored = CollectionStore(folder).vectors().read(columns=["id", "keywords"])   # the shards hold them now
    assert stored.column("keywords").null_count == 0
    assert vsearch.ingest(root).unchanged == 4


def test_ray_refuses_ocr_with_a_message(tmp_path, home):
    root = library(tmp_path / "photos")
    r = cli("ingest", root, "--engine", "ray", "--ocr", code=2, one_line=True)
    assert "--ocr" in r.output and "local engine" in r.output


@pytest.fixture()
def signs(tmp_path) -> Path:
    pytest.importorskip("rapidocr_onnxruntime")
    from vsearch.evaluation.rendered_text import draw_document, draw_sign

    root = tmp_path / "signs"
    rng = random.Random(0)
    for i, color in enumerate(["red", "green", "blue", "yellow", "red", "green"]):
        make_image(root / f"IMG_{i:04d}.jpg", color, size=(480 + i, 360))
    for i, name in ((1, "Tavira"), (4, "Coimbra")):
        path = root / f"IMG_{i:04d}.jpg"
        draw_sign(Image.open(path).convert("RGB"), name, rng).save(path, quality=90)
    draw_document("Verona", "receipt", rng).save(root / "Scan_0001.png")
    return root


def test_ocr_makes_rendered_text_findable_and_a_later_ocr_ingest_reads_stored_photos(signs, home):
    s = vsearch.ingest(signs)
    assert s.ocr_looked == 0
    with vsearch.open_collection() as col:
        assert found(col, "Tavira") == [] and col.images.column("ocr").null_count == 7
    s = vsearch.ingest(signs, ocr=True)   # photos stored without --ocr are looked at once, never encoded again
    assert s.encoded == 0 and s.read_again == 7 and s.ocr_looked == 7 and 3 <= s.ocr_read < 7
    with vsearch.open_collection() as col:
        paths = by_path(col)
        for name, path in (("Tavira", "IMG_0001.jpg"), ("Coimbra", "IMG_0004.jpg"), ("Verona", "Scan_0001.png")):
            assert found(col, name) == [path] and found(col, name, "hybrid")[0] == path
        hit = col.search("Tavira", k=1, mode="keyword")[0]
        assert hit.matched == [{"field": "ocr", "terms": ["tavira"]}] and hit.id == paths["IMG_0001.jpg"]
        assert [h.relpath for h in col.search("x", k=7, where="contains(lower(ocr), 'coimbra')")] == ["IMG_0004.jpg"]
    again = vsearch.ingest(signs, ocr=True)
    assert again.unchanged == 7 and again.ocr_looked == 0
    texts = CollectionStore(home / "signs").vectors().read(columns=["id", "ocr"]).column("ocr").to_pylist()
    assert sum("TAVIRA" in (t or "").upper() for t in texts) == 1   # in the shards: a repair keeps it


def test_ocr_at_ingest_runs_in_the_decode_workers(signs, home):
    more = signs / "more"
    for i in range(10):  # enough files for the worker pool
        make_image(more / f"plain_{i}.png", ["red", "green", "blue", "yellow"][i % 4], size=(96 + i, 72))
    s = vsearch.ingest(signs, ocr=True, workers=2)
    assert s.encoded == 17 and s.ocr_looked == 17 and s.ocr_read < 17
    with vsearch.open_collection() as col:
        assert found(col, "Verona") == ["Scan_0001.png"]
    stored = pq.read_table(next((home / "signs" / "vectors").glob("*.parquet")))
    assert "ocr" in stored.column_names
