"""The Streamlit app's logic, driven with Streamlit's AppTest over a real ingested collection."""
from __future__ import annotations

import csv
import os
from datetime import date
from pathlib import Path

import pytest
from PIL import Image

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

import vsearch  # noqa: E402
from ui_fixtures import build_ui_collection  # noqa: E402
from vsearch.escape import for_markdown, for_terminal  # noqa: E402

APP = str(Path(__file__).resolve().parents[1] / "vsearch" / "ui" / "app.py")


@pytest.fixture(scope="module")
def ui_home(tmp_path_factory) -> Path:
    home, _ = build_ui_collection(tmp_path_factory.mktemp("ui"))
    return home


def started(home: Path, monkeypatch) -> AppTest:
    monkeypatch.setenv("VSEARCH_HOME", str(home))
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.fixture()
def app(ui_home, monkeypatch) -> AppTest:
    return started(ui_home, monkeypatch)


def captions(at: AppTest) -> list[str]:
    return [c.value for c in at.main.caption if c.value.startswith("**")]


def names(at: AppTest) -> list[str]:
    """The file names of the result grid, as the app writes them (Markdown-escaped)."""
    return [n.split("**")[1] for n in captions(at)]


def shown(*files: str) -> list[str]:
    return [for_markdown(f) for f in files]


def test_text_search_shows_a_cached_thumbnail_grid(app, ui_home):
    app.text_input(key="query").input("a dog").run()
    assert not app.exception and not app.error
    grid = names(app)
    assert len(grid) == 20 and len(app.image) >= 20
    col = vsearch.open_collection("photos", home=ui_home)
    hits = col.search("a dog", k=20, collapse_duplicates=True)
    # The grid is the API's ranking, in order (a group of near duplicates once: the app's default).
    assert grid == shown(*[Path(h.relpath).name for h in hits])
    thumbs = sorted((ui_home / "photos" / "thumbs").glob("*-320.jpg"))
    assert len(thumbs) >= 20 and all(max(Image.open(t).size) <= 320 for t in thumbs)
    before = {t: t.stat().st_mtime_ns for t in thumbs}
    app.text_input(key="query").input("a dog ").run()  # a rerun reuses, never regenerates
    assert {t: t.stat().st_mtime_ns for t in thumbs} == before


def test_more_like_this_and_detail_view(app, ui_home):
    app.text_input(key="query").input("children in the water").run()
    first = app.button[0].key  # "view-<id>" of the best hit
    liked = int(first.split("-", 1)[1])
    app.button(key=f"like-{liked}").click().run()
    assert app.session_state["like"] == liked
    grid_ids = [int(b.key.split("-", 1)[1]) for b in app.button if b.key.startswith("view-")]
    assert grid_ids and liked not in grid_ids
    col = vsearch.open_collection("photos", home=ui_home)
    assert grid_ids == [h.id for h in col.search(like=liked, k=20, collapse_duplicates=True)]
    app.button(key=f"view-{grid_ids[0]}").click().run()
    assert app.session_state["selected"] == grid_ids[0]
    assert str(col.file_path(grid_ids[0])) in [c.value for c in app.code]
    assert len(app.table) == 1
    app.button(key="detail-close").click().run()
    assert not app.code


def test_filters_match_where_semantics_and_take_quotes_as_values(app, ui_home):
    app.sidebar.multiselect(key="f_folders").select("it's mine").run()
    app.text_input(key="query").input("a photo").run()
    assert not app.error, [e.value for e in app.error]
    assert names(app) == shown("snow.jpg")
    app.sidebar.multiselect(key="f_folders").unselect("it's mine").select("trips").run()
    assert sorted(names(app)) == sorted(shown("beach.jpg", "park.jpg"))
    app.sidebar.date_input(key="f_taken").set_value((date(2022, 1, 1), date(2022, 3, 1))).run()
    assert names(app) == shown("park.jpg")
    # The CLI string shown under the filters (in a code block: shown as it is) selects the same photos.
    cli = next(c.value for c in app.sidebar.code if c.value.startswith("--where"))
    where = cli.split('--where "', 1)[1].rsplit('"', 1)[0]
    col = vsearch.open_collection("photos", home=ui_home)
    assert [Path(h.relpath).name for h in col.search("a photo", k=20, where=where)] == ["park.jpg"]


def test_camera_filter(app):
    app.sidebar.multiselect(key="f_cameras").select("NIKON D750").run()
    app.text_input(key="query").input("people").run()
    assert names(app) == shown("snow.jpg")


def test_image_to_text_page(app):
    app.text_input(key="query").input("a black dog").run()
    best = int(app.button[0].key.split("-", 1)[1])
    app.button(key=f"view-{best}").click().run()
    app.sidebar.radio(key="page").set_value("Image → text").run()
    assert not app.exception and len(app.dataframe) == 1
    texts = list(app.dataframe[0].value["text"])
    assert len(texts) == 6 and set(texts) == {
        "a dog runs on the grass", "children play in the water", "a man rides a bicycle",
        "a group of people stand in the snow", "a black dog jumps", "a girl in a pink dress"}


def test_evaluation_page_shows_saved_results(app, ui_home):
    from vsearch.evaluation.records import save_eval

    app.sidebar.radio(key="page").set_value("Evaluation").run()
    assert app.info  # nothing evaluated yet: says how to
    r = {"model": "align-lite", "split": "dev", "n_images": 1000, "n_texts": 5000,
         "text_to_image": {"R@1": 23.3, "R@5": 52.4, "R@10": 67.0}, "image_to_text": {"R@1": 33.0, "R@5": 61.1, "R@10": 72.2},
         "rerank": {"k": 16, "text_to_image": {"R@1": 29.9, "R@5": 58.0, "R@10": 68.0},
                    "image_to_text": {"R@1": 35.0, "R@5": 62.0, "R@10": 72.2}},
         "sweep": [{"k": k, "latency_ms": 10.0 * k, "text_to_image": {"R@1": 23.3 + k / 8, "R@5": 0, "R@10": 0},
                    "image_to_text": {"R@1": 33.0, "R@5": 0, "R@10": 0}} for k in (0, 8, 16)]}
    save_eval(r, ui_home)
    app.run()
    table = app.dataframe[0].value
    assert list(table["scoring"]) == ["dual encoder", "rerank k=16"]
    assert list(table["t→i R@1"]) == [23.3, 29.9]
    assert app.get("bar_chart") or app.get("arrow_vega_lite_chart") or app.get("vega_lite_chart")
    assert len(app.dataframe) == 2  # the sweep table too


def test_rerank_toggle_only_when_the_model_has_one(app, ui_home):
    col = vsearch.open_collection("photos", home=ui_home)
    toggles = [t.key for t in app.sidebar.toggle]
    assert ("rerank" in toggles) == (col.reranker is not None)


def test_no_collection_says_how_to_make_one(tmp_path, monkeypatch):
    monkeypatch.setenv("VSEARCH_HOME", str(tmp_path / "empty"))
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert not at.exception
    assert any("vsearch ingest" in i.value for i in at.info)


def test_only_files_inside_the_roots_are_served(ui_home, tmp_path):
    col = vsearch.open_collection("photos", home=ui_home)
    hit = col.search("a dog", k=1)[0]
    assert col.file_path(hit.id).is_relative_to(Path(col.info()["roots"][0]).resolve())
    # Swap the ingested file for a link that points outside the root: refused, not followed.
    outside = tmp_path / "secret.jpg"
    Image.new("RGB", (8, 8)).save(outside)
    target = Path(hit.path)
    saved = target.read_bytes()
    target.unlink()
    os.symlink(outside, target)
    try:
        with pytest.raises(vsearch.VsearchError, match="roots"):
            col.file_path(hit.id)
    finally:
        target.unlink()
        target.write_bytes(saved)


def test_rerank_toggle_reorders_only_the_top_k(ui_home, monkeypatch, tmp_path):
    import torch

    from vsearch.models import save_checkpoint
    from vsearch.models.itm import ITMConfig, ITMHead

    torch.manual_seed(0)
    cfg = ITMConfig(width=64, layers=1, heads=2)
    ckpt = save_checkpoint(tmp_path / "itm.safetensors", cfg.to_json(), ITMHead(cfg).state_dict(), {"default_k": 8})
    monkeypatch.setenv("VSEARCH_HOME", str(ui_home))
    monkeypatch.setenv("VSEARCH_RERANKER", str(ckpt))
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    at.text_input(key="query").input("a dog").run()
    plain = [int(b.key.split("-", 1)[1]) for b in at.main.button if b.key.startswith("view-")]
    at.sidebar.toggle(key="rerank").set_value(True).run()
    assert not at.exception, [e.value for e in at.exception]
    reranked = [int(b.key.split("-", 1)[1]) for b in at.main.button if b.key.startswith("view-")]
    k = at.sidebar.select_slider(key="rerank_k").value
    assert k == 8 and sorted(reranked[:k]) == sorted(plain[:k]) and reranked[k:] == plain[k:]
    assert all("itm" in c for c in captions(at)[:k]) and not any("itm" in c for c in captions(at)[k:])


def test_search_by_uploaded_image_finds_that_photo_first(app, ui_home):
    from ui_fixtures import EXAMPLES

    photo = sorted(EXAMPLES.glob("*.jpg"))[5]
    app.file_uploader(key="upload").upload(photo.name, photo.read_bytes(), "image/jpeg").run()
    assert not app.exception and not app.error, [e.value for e in app.exception]
    first = captions(app)[0]
    assert names(app)[0] == for_markdown(photo.name) and float(first.split("\n")[1].split()[0]) > 0.99


def test_size_filter_keeps_only_files_in_range(app, ui_home):
    col = vsearch.open_collection("photos", home=ui_home)
    sizes = sorted(col.images.column("bytes").to_pylist())
    cut = sizes[len(sizes) // 2] / 2**20
    slider = app.sidebar.slider(key="f_size")
    app.sidebar.slider(key="f_size").set_value((slider.min, round(cut, 2))).run()
    app.text_input(key="query").input("a dog").run()
    grid = names(app)
    by_name = {for_markdown(Path(r["path"]).name): r["bytes"] for r in col.images.to_pylist()}
    assert grid and all(by_name[n] <= round(cut, 2) * 2**20 for n in grid)
    assert len(grid) < len(by_name)


# --- names are data, uploads are bounded -------------------------------------------------------
HOSTILE = "![x](https:evil.example?q).jpg"
LATIN1 = os.fsdecode(b"latin1_\xe9.jpg")


@pytest.fixture(scope="module")
def hostile_home(tmp_path_factory) -> Path:
    """A collection ('hostile': the app caches collections by name) whose photos have hostile names: Markdown that would load an image from another
    host, a name that is not UTF-8, a duplicate under a Markdown link, and an EXIF camera string
    with Markdown in it."""
    import shutil

    from ui_fixtures import EXAMPLES, exif_photo

    base = tmp_path_factory.mktemp("hostile")
    root = base / "photos"
    root.mkdir()
    srcs = sorted(EXAMPLES.glob("*.jpg"))
    shutil.copy(srcs[0], root / HOSTILE)
    shutil.copy(srcs[0], root / "[dup](https:evil.example).jpg")
    shutil.copy(srcs[1], os.path.join(os.fsencode(root), b"latin1_\xe9.jpg"))
    exif_photo(srcs[2], root / "**bold** folder" / "camera.jpg", "Evil ![c](https:evil.example/c)", "2020:01:02 03:04:05")
    home = base / "indexes"
    vsearch.ingest(root, collection="hostile", home=home)
    return home


@pytest.fixture()
def hostile_app(hostile_home, monkeypatch) -> AppTest:
    return started(hostile_home, monkeypatch)


def _markdown_tags(markdown: str) -> tuple[list[str], str]:
    """The HTML tags a Markdown text renders to (CommonMark with tables, as Streamlit), and its text."""
    from html.parser import HTMLParser

    from markdown_it import MarkdownIt

    class Page(HTMLParser):
        tags: list[str] = []
        text = ""

        def handle_starttag(self, tag, attrs):
            self.tags.append(tag)

        def handle_data(self, data):
            self.text += data

    page = Page()
    page.tags = []
    page.feed(MarkdownIt("commonmark").enable(["table", "strikethrough"]).render(markdown))
    return page.tags, page.text.replace("\u2060", "").replace("\u00a0", " ")


def test_hostile_names_render_as_text_never_as_markdown(hostile_app, hostile_home):
    at = hostile_app
    at.text_input(key="query").input("a photo").run()
    assert not at.exception, [e.value for e in at.exception]
    col = vsearch.open_collection("hostile", home=hostile_home)
    expected = {for_terminal(Path(h.relpath).name) for h in col.search("a photo", k=20)}
    seen = set()
    for caption in captions(at):
        tags, text = _markdown_tags(caption)
        assert tags == ["p", "strong", "br"], caption  # no link, no image: nothing loads from another host
        seen.add(text.split("\n")[0])
    assert seen == expected and for_terminal(LATIN1) in seen and HOSTILE in seen
    # The detail view: heading, metadata table and the duplicate's path are text too.
    hostile_id = next(h.id for h in col.search("a photo", k=20) if Path(h.relpath).name in (HOSTILE, "[dup](https:evil.example).jpg"))
    at.button(key=f"view-{hostile_id}").click().run()
    assert not at.exception, [e.value for e in at.exception]
    markdown = [h.value for h in at.main.subheader] + [c.value for c in at.main.caption if c.value.startswith("Same content")]
    assert len(markdown) == 2
    for m in markdown:
        tags, text = _markdown_tags(m)
        assert not {"a", "img"} & set(tags), m
    assert "evil.example" in _markdown_tags(markdown[1])[1]
    cells = at.main.table[0].value
    for v in cells.iloc[:, -1]:
        assert not {"a", "img"} & set(_markdown_tags(str(v))[0]), v


def test_exif_strings_in_the_detail_table_are_text(hostile_app, hostile_home):
    at = hostile_app
    col = vsearch.open_collection("hostile", home=hostile_home)
    camera = next(h for h in col.search("a photo", k=20) if h.camera)
    at.text_input(key="query").input("a photo").run()
    at.button(key=f"view-{camera.id}").click().run()
    values = [str(v) for v in at.main.table[0].value.iloc[:, -1]]
    rendered = [_markdown_tags(v) for v in values]
    assert all(not {"a", "img"} & set(tags) for tags, _ in rendered)
    assert camera.camera in [text.strip() for _, text in rendered]


def _png_header(width: int, height: int) -> bytes:
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + chunk(b"IEND", b""))


@pytest.mark.parametrize("name, data, says", [
    ("notes.jpg", b"hello, I am text, not a photo\n", "not an image"),
    ("page.png", b"<html><script>alert(1)</script></html>", "not an image"),
    ("half.jpg", None, "truncated or corrupt"),
    ("bomb.png", _png_header(20000, 20000), "decompression bomb"),
    ("empty.jpg", b"", "empty"),
])
def test_refused_uploads_are_messages(app, name, data, says):
    from ui_fixtures import EXAMPLES

    if data is None:
        photo = sorted(EXAMPLES.glob("*.jpg"))[0].read_bytes()
        data = photo[: len(photo) // 3]
    app.file_uploader(key="upload").upload(name, data, "image/jpeg").run()
    assert not app.exception, [e.value for e in app.exception]
    assert len(app.error) == 1 and says in app.error[0].value.replace("\\", ""), [e.value for e in app.error]
    assert not captions(app)


def test_uploads_are_decoded_bounded_and_only_their_vectors_cached(ui_home):
    """The upload cache holds query vectors (1 KB), a bounded number of them; the decode is the
    ingest decoder's, at the model's input size."""
    import numpy as np

    import vsearch.ui.app as ui
    from ui_fixtures import EXAMPLES

    assert ui.upload_vector._info.max_entries == ui.UPLOAD_VECTORS <= 64
    col = vsearch.open_collection("photos", home=ui_home)
    import io

    big = io.BytesIO()
    Image.open(sorted(EXAMPLES.glob("*.jpg"))[3]).resize((2000, 1500)).save(big, "JPEG")
    img = ui.decode_upload(col, big.getvalue())  # decoded at reduced size, as ingest decodes a JPEG
    assert col.model.preprocess.size <= min(img.size) < 2 * col.model.preprocess.size
    photo = sorted(EXAMPLES.glob("*.jpg"))[3]
    vec = ui.upload_vector._info.func(col, "fp", photo.read_bytes())
    assert isinstance(vec, np.ndarray) and vec.shape == (col.info()["dim"],)
    # the same ranking as searching by the file itself
    assert [h.id for h in col.search(vector=vec, k=5)] == [h.id for h in col.search(image=photo, k=5)]


def test_a_video_shows_once_at_its_moment_and_plays_from_it(tmp_path, monkeypatch, flickr):
    pytest.importorskip("av")
    from media_inputs import flickr_pictures, make_video

    pictures = flickr_pictures(flickr, 9, (320, 240))
    root = tmp_path / "clips"
    root.mkdir()
    make_video(root / "slideshow.mp4", pictures[4:9])  # the third photo at 4-6 s
    pictures[0].save(root / "photo.jpg")
    vsearch.ingest(root, home=tmp_path / "home", videos=True)
    caption = next(r["caption"] for r in csv.DictReader(open(flickr / "captions.csv"))
                   if r["image"] == sorted(p.name for p in (flickr / "images").iterdir())[6])
    at = started(tmp_path / "home", monkeypatch)
    at.text_input(key="query").input(caption).run()
    assert not at.exception and not at.error
    videos = [c for c in captions(at) if "slideshow" in c]
    assert len(videos) == 1 and "▶ 0:04" in videos[0]
    hit = vsearch.open_collection(home=tmp_path / "home").search(caption, k=1)[0]
    at.button(key=f"view-{hit.id}").click().run()
    assert not at.exception and len(at.get("video")) == 1
    at.sidebar.toggle(key="every_moment").set_value(True).run()
    assert len([c for c in captions(at) if "slideshow" in c]) == 5


def test_a_rerun_reads_one_generation_while_other_sessions_reload(ui_home, monkeypatch):
    """The app's collection is shared by every session; one session's rerun must not switch
    generations halfway when another session reloads after a commit (before: the grid's
    thumbnails were read from the newer generation than the search that chose them)."""
    from test_concurrency import recommit
    from vsearch.search import collection as collection_module
    from vsearch.store.collection import CollectionStore

    at = started(ui_home, monkeypatch)
    shared: list = []
    real_init, real_search, real_thumb = (collection_module.Collection.__init__, collection_module.Collection.search,
                                          collection_module.Collection.thumbnail)
    read: list[tuple[str, int]] = []

    def init(self, *a, **k):
        real_init(self, *a, **k)
        shared.append(self)

    def search(self, *a, **k):
        read.append(("search", self.store.manifest.generation))
        hits = real_search(self, *a, **k)
        recommit(CollectionStore(ui_home / "photos"))   # another ingest commits...
        for col in shared:                              # ...and another session's rerun reloads
            col.reload()
        return hits

    def thumbnail(self, *a, **k):
        read.append(("thumbnail", self.store.manifest.generation))
        return real_thumb(self, *a, **k)

    monkeypatch.setattr(collection_module.Collection, "__init__", init)
    monkeypatch.setattr(collection_module.Collection, "search", search)
    monkeypatch.setattr(collection_module.Collection, "thumbnail", thumbnail)
    import streamlit as st

    st.cache_resource.clear()  # the app opens its collection anew, through init()
    at.text_input(key="query").input("a dog").run()
    assert not at.exception and len(names(at)) == 20 and shared
    searched = [g for kind, g in read if kind == "search"]
    assert len(searched) == 1 and {g for _, g in read} == set(searched), read
    at.text_input(key="query").input("a dog on grass").run()  # the next rerun reads the newer one
    assert read[-1][1] > searched[0]
