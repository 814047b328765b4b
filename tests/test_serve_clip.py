"""clip-retrieval's clip-back protocol on `vsearch serve`, driven by clip-retrieval's own client and
its own web front, unchanged: `ClipClient` (clip_retrieval/clip_client.py, loaded by file path:
the package's __init__ imports the whole server) and the front's static build (front/build in the
same wheel) served from another origin and opened in headless Chromium with ?back=&index=&query=.

Needs `pip install --no-deps clip-retrieval` (.ci/run installs it); skips without it.
"""
from __future__ import annotations

import base64
import functools
import http.server
import importlib.util
import json
import os
import threading
from pathlib import Path

import pytest

import vsearch
from serve_fixtures import served_collection, start_server
from test_ui_browser import browser, ensure_browser  # noqa: F401 - browser: the headless Chromium fixture
from ui_fixtures import free_port


def clip_retrieval_dir() -> Path:
    spec = importlib.util.find_spec("clip_retrieval")
    if spec is None or spec.origin is None:
        pytest.skip("needs clip-retrieval's client and front: pip install --no-deps clip-retrieval")
    return Path(spec.origin).parent


@pytest.fixture(scope="module")
def clip_client():
    path = clip_retrieval_dir() / "clip_client.py"
    spec = importlib.util.spec_from_file_location("clip_client_under_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def collection(tmp_path_factory):
    return served_collection(tmp_path_factory)


@pytest.fixture(scope="module")
def front_port():
    return free_port()


@pytest.fixture(scope="module")
def server(collection, tmp_path_factory, front_port):
    home, _ = collection
    s = start_server(home, tmp_path_factory.mktemp("log"), "--cors-origin", f"http://127.0.0.1:{front_port}", "--max-k", "100")
    yield s
    s.stop()


@pytest.fixture(scope="module")
def col(collection):
    return vsearch.open_collection("photos", home=collection[0])


def test_clip_client_text_query(clip_client, server, col):
    client = clip_client.ClipClient(url=server.url + "/knn-service", indice_name="photos", num_images=5,
                                    deduplicate=False)
    results = client.query(text="a dog runs on the grass")
    want = col.search("a dog runs on the grass", k=5)
    assert [r["id"] for r in results] == [h.id for h in want]
    for r, h in zip(results, want):
        assert r["similarity"] == pytest.approx(h.score, abs=1e-5) and r["image_path"] == h.path
        assert r["url"] == f"{server.url}/v1/collections/photos/images/{h.id}/thumbnail" and "caption" not in r


def test_clip_client_image_and_embedding_queries(clip_client, server, collection, col):
    _, photos = collection
    photo = sorted((photos / "flickr").glob("*.jpg"))[3]
    client = clip_client.ClipClient(url=server.url + "/knn-service", indice_name="photos", num_images=4, deduplicate=False)
    by_image = client.query(image=str(photo))
    assert by_image[0]["id"] == col.search(image=photo, k=1)[0].id and len(by_image) == 4
    v = col.text_vector("children play in the water")
    by_vector = client.query(embedding_input=v.tolist())
    assert [r["id"] for r in by_vector] == [h.id for h in col.search(vector=v, k=4)]


def test_clip_client_text_modality_searches_the_corpus(clip_client, server, col):
    client = clip_client.ClipClient(url=server.url + "/knn-service", indice_name="photos", num_images=3,
                                    modality=clip_client.Modality.TEXT)
    results = client.query(text="a black dog jumps")
    assert len(results) == 3 and results[0]["caption"] == "a black dog jumps"
    assert all(set(r) == {"id", "similarity", "caption"} for r in results)
    best = col.search("a black dog", k=1)[0]
    photo = client.query(embedding_input=col.index.reconstruct(best.id).tolist())
    assert [r["caption"] for r in photo] == [h.text for h in col.search_texts(like=best.id, k=3)]


def test_deduplicate_drops_a_near_identical_photo(server, collection, col):
    """trips/beach.jpg is a re-saved copy (with EXIF) of one of the Flickr photos."""
    _, photos = collection
    src = sorted((photos / "flickr").glob("*.jpg"))[0]
    body = {"image": base64.b64encode(src.read_bytes()).decode(), "num_images": 6, "indice_name": "photos",
            "modality": "image"}
    plain = server.json("POST", "/knn-service", {**body, "deduplicate": False})
    deduped = server.json("POST", "/knn-service", {**body, "deduplicate": True})
    paths = [r["image_path"] for r in plain[:2]]
    assert sorted(Path(p).name for p in paths) == sorted([src.name, "beach.jpg"])
    assert [r["id"] for r in deduped] == [r["id"] for r in plain if r["id"] != plain[1]["id"]][:len(deduped)]
    assert len(deduped) == len(plain) - 1


def test_num_images_num_result_ids_and_the_metadata_scroll(server, col):
    results = server.json("POST", "/knn-service", {"text": "people", "num_images": 3, "num_result_ids": 10,
                                                   "indice_name": "photos", "modality": "image"})
    assert len(results) == 10 and all("url" in r for r in results[:3]) and all(set(r) == {"id", "similarity"} for r in results[3:])
    ids = [str(r["id"]) for r in results[3:]]     # as the front's big-number JSON sends them
    meta = server.json("POST", "/metadata", {"ids": ids + ["42"], "indice_name": "photos"})
    assert [m["id"] for m in meta] == [int(i) for i in ids]  # an unknown id is left out
    assert all(m["metadata"]["url"].endswith(f"/images/{m['id']}/thumbnail") and m["metadata"]["image_path"] for m in meta)
    texts = server.json("POST", "/metadata", {"ids": [0, 5], "indice_name": "photos"})
    assert [m["metadata"]["caption"] for m in texts] == [col.text(0).text, col.text(5).text]
    assert server.json("GET", "/indices-list") == ["photos"]


def test_the_body_is_json_whatever_the_content_type(server):
    raw = json.dumps({"text": "snow", "num_images": 2, "indice_name": "photos", "modality": "image"}).encode()
    for headers in ({}, {"Content-Type": "text/plain;charset=UTF-8"}, {"Content-Type": "application/x-www-form-urlencoded"}):
        status, _, data = server.request("POST", "/knn-service", raw, headers)
        assert status == 200 and len(json.loads(data)) == 2


def test_unsupported_options_are_accepted_ignored_and_said(server):
    status, headers, data = server.request("POST", "/knn-service", {
        "text": "a dog", "num_images": 2, "indice_name": "photos", "modality": "image", "use_mclip": True,
        "use_safety_model": True, "use_violence_detector": True, "aesthetic_score": 9, "aesthetic_weight": 0.5,
        "deduplicate": True})
    assert status == 200 and len(json.loads(data)) == 2
    ignored = [x.strip() for x in headers["x-vsearch-ignored"].split(",")]
    assert ignored == ["use_mclip", "use_safety_model", "use_violence_detector", "aesthetic_score", "aesthetic_weight"]
    status, headers, data = server.request("POST", "/knn-service", {"text": "a dog", "num_images": 5, "num_result_ids": 3000,
                                                                    "indice_name": "photos"})
    assert status == 200 and headers["x-vsearch-clamped"] == "num_result_ids 3000 -> 100" and len(json.loads(data)) == 27


def test_image_url_is_never_fetched_but_our_own_thumbnail_is_searched(server, col):
    hit = col.search("snow", k=1)[0]
    own = server.json("POST", "/knn-service", {"image_url": f"{server.url}/v1/collections/photos/images/{hit.id}/thumbnail",
                                               "num_images": 3, "indice_name": "photos"})
    assert [r["id"] for r in own] == [h.id for h in col.search(like=hit.id, k=3)]
    status, _, data = server.request("POST", "/knn-service", {"image_url": "http://169.254.169.254/latest/meta-data",
                                                              "num_images": 3, "indice_name": "photos"})
    assert status == 400 and "base64" in json.loads(data)["error"]


@pytest.mark.parametrize("body, status", [
    (b"not json", 400), (b"[1, 2]", 400), (b'{"num_images": 3}', 400), (b'{"text": "a", "modality": "sound"}', 422),
    (b'{"text": "a", "indice_name": "nope"}', 404), (b'{"text": "a", "num_images": -1}', 422),
    (b'{"image": "%%%", "num_images": 2}', 400), (b'{"embedding_input": [1, 2, 3]}', 400),
])
def test_bad_clip_back_requests_are_4xx(server, body, status):
    got, _, data = server.request("POST", "/knn-service", body)
    assert got == status and json.loads(data)["status"] == status, data[:300]
    assert server.request("POST", "/metadata", b'{"ids": ["x"]}')[0] == 422
    assert server.request("POST", "/metadata", json.dumps({"ids": list(range(1001))}).encode())[0] == 400


# --- clip-retrieval's web front, in a real browser ------------------------------------------------
class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def front(front_port):
    build = clip_retrieval_dir().parent / "front" / "build"
    if not (build / "index.html").is_file():
        pytest.skip("clip-retrieval's front build is not installed")
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", front_port), functools.partial(_Quiet, directory=str(build)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{front_port}"
    httpd.shutdown()


@pytest.fixture(scope="module")
def chromium():
    ensure_browser()   # skips without Debian's chromium and chromium-driver


def test_clip_retrieval_front_shows_results_from_vsearch(chromium, front, server, browser, col, tmp_path):
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(f"{front}/?back={server.url}&index=photos&query=a%20dog%20runs%20on%20the%20grass")
    shown = """
        const f = document.querySelector('clip-front');
        if (!f || !f.shadowRoot) return null;
        return [...f.shadowRoot.querySelectorAll('img.pic')]
            .filter(i => i.complete && i.naturalWidth > 0).map(i => i.getAttribute('src'));"""
    srcs = WebDriverWait(browser, 90).until(lambda d: (lambda s: s if s and len(s) >= 20 else False)(d.execute_script(shown)))
    want = [h.id for h in col.search("a dog runs on the grass", k=27, dedupe=0.94)]
    assert all(s.startswith(f"{server.url}/v1/collections/photos/images/") for s in srcs)
    assert [int(s.split("/images/")[1].split("/")[0]) for s in srcs][:5] == want[:5]
    out = Path(os.environ.get("VSEARCH_SCREENSHOT_DIR", tmp_path))
    out.mkdir(parents=True, exist_ok=True)
    shot = out / "clip-front.png"
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
