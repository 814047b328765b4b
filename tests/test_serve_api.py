"""`vsearch serve`'s own /v1 API, over HTTP to the real server process: every endpoint answers what
the Python API answers, bad input is a clear 4xx JSON error (never a traceback, never a 500),
uploads are decoded by the bounded reader, and only files inside the collection's roots are
served."""
from __future__ import annotations

import base64
import io
import json
import os
from pathlib import Path

import pytest
from PIL import Image

import vsearch
from serve_fixtures import raw_exchange, served_collection, start_server
from test_hostile_use import png

MAX_UPLOAD = 300_000   # bytes, as given to the server below (--max-upload-mb)


@pytest.fixture(scope="module")
def collection(tmp_path_factory):
    return served_collection(tmp_path_factory)


@pytest.fixture(scope="module")
def server(collection, tmp_path_factory):
    home, _ = collection
    s = start_server(home, tmp_path_factory.mktemp("log"), "--serve-files", "--max-upload-mb", str(MAX_UPLOAD / 2**20),
                     "--max-k", "50")
    yield s
    log = s.stop()
    assert "Traceback" not in log or "internal error" not in log, log[-3000:]


@pytest.fixture(scope="module")
def col(collection):
    home, _ = collection
    return vsearch.open_collection("photos", home=home)


def search(server, body: dict, expect: int = 200, path: str = "/v1/collections/photos/search"):
    return server.json("POST", path, body, expect=expect)


def refused(server, method: str, path: str, body=None, headers=None) -> tuple[int, str]:
    """(status, message) of a refused request, checked to be the service's JSON error."""
    status, h, data = server.request(method, path, body, headers)
    assert 400 <= status < 500, (status, data[:300])
    assert h.get("content-type", h.get("Content-Type", "")).startswith("application/json")
    err = json.loads(data)
    assert set(err) == {"error", "status"} and err["status"] == status and b"Traceback" not in data
    return status, err["error"]


def b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


# --- search ----------------------------------------------------------------------------------
def test_text_search_answers_what_the_library_and_the_cli_answer(server, col):
    out = search(server, {"text": "a dog runs on the grass", "k": 7})
    want = col.search("a dog runs on the grass", k=7)
    assert out["collection"] == "photos" and out["generation"] == col.generation
    assert [h["id"] for h in out["hits"]] == [h.id for h in want]
    for got, hit in zip(out["hits"], want):
        thumb = got.pop("thumbnail")
        want_fields = hit.to_dict()
        assert got.pop("score") == pytest.approx(want_fields.pop("score"))
        assert got == want_fields  # every field `vsearch query --json` prints
        assert thumb == f"{server.url}/v1/collections/photos/images/{hit.id}/thumbnail"
    assert out["next_offset"] == 7


def test_pages_follow_each_other(server):
    whole = search(server, {"text": "people", "k": 9})["hits"]
    first = search(server, {"text": "people", "k": 4})
    second = search(server, {"text": "people", "k": 5, "offset": first["next_offset"]})
    assert [h["id"] for h in first["hits"] + second["hits"]] == [h["id"] for h in whole]
    assert search(server, {"text": "people", "k": 10, "offset": 40})["next_offset"] is None  # max k reached
    assert search(server, {"text": "people", "k": 20, "offset": 25})["next_offset"] is None  # 27 images


def test_where_and_structured_filter(server, col):
    trips = search(server, {"text": "a photo", "k": 10, "where": "folder = 'trips'"})["hits"]
    assert sorted(Path(h["relpath"]).name for h in trips) == ["beach.jpg", "park.jpg"]
    quoted = search(server, {"text": "a photo", "filter": {"folders": ["it's mine"]}})["hits"]
    assert [Path(h["relpath"]).name for h in quoted] == ["snow.jpg"]
    dated = search(server, {"text": "a photo", "filter": {"cameras": ["Canon EOS 5D"], "taken_from": "2022-01-01"}})["hits"]
    assert [Path(h["relpath"]).name for h in dated] == ["park.jpg"]
    assert "not both" in refused(server, "POST", "/v1/collections/photos/search",
                                 {"text": "x", "where": "bytes > 0", "filter": {"cameras": ["a"]}})[1]
    status, message = refused(server, "POST", "/v1/collections/photos/search",
                              {"text": "x", "where": "1=1; DROP TABLE images"})
    assert status == 400 and "bad --where" in message


def test_like_by_id_and_by_path_and_a_raw_vector(server, col):
    first = col.search("a black dog jumps", k=1)[0]
    by_id = search(server, {"like": first.id, "k": 5})["hits"]
    by_path = search(server, {"like": first.relpath, "k": 5})["hits"]
    assert [h["id"] for h in by_id] == [h["id"] for h in by_path] == [h.id for h in col.search(like=first.id, k=5)]
    assert first.id not in [h["id"] for h in by_id]
    v = col.text_vector("a black dog jumps")
    by_vector = search(server, {"vector": v.tolist(), "k": 5})["hits"]
    assert [h["id"] for h in by_vector] == [h.id for h in col.search("a black dog jumps", k=5, hubness=False)]
    assert "256 numbers" in refused(server, "POST", "/v1/collections/photos/search", {"vector": [0.5] * 10})[1]
    assert "exactly one" in refused(server, "POST", "/v1/collections/photos/search", {"text": "a", "like": first.id})[1]
    assert "neither an id nor the path" in refused(server, "POST", "/v1/collections/photos/search", {"like": "nope.jpg"})[1]


def test_search_by_an_image_in_base64_and_as_an_upload(server, collection, col):
    _, photos = collection
    photo = sorted((photos / "flickr").glob("*.jpg"))[5]
    want = col.search(image=photo, k=3)[0].id
    assert search(server, {"image": b64(photo), "k": 3})["hits"][0]["id"] == want
    boundary = "vsearchboundary"
    form = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"k\"\r\n\r\n3\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"q.jpg\"\r\n"
            f"Content-Type: image/jpeg\r\n\r\n").encode() + photo.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
    out = server.json("POST", "/v1/collections/photos/search/upload", form,
                      headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert out["hits"][0]["id"] == want and len(out["hits"]) == 3


def test_image_to_text_over_the_corpus(server, collection, col):
    _, photos = collection
    best = col.search("a black dog jumps", k=1)[0]
    out = server.json("POST", "/v1/collections/photos/texts/search", {"like": best.id, "k": 3})
    assert [h["text"] for h in out["hits"]] == [h.text for h in col.search_texts(like=best.id, k=3)]
    photo = Path(best.path)
    up = server.json("POST", "/v1/collections/photos/texts/search", {"image": b64(photo), "k": 6})
    assert len(up["hits"]) == 6 and {h["source"] for h in up["hits"]} == {"tests"}


def test_rerank_without_a_reranker_is_a_message(server):
    status, message = refused(server, "POST", "/v1/collections/photos/search", {"text": "a dog", "rerank": True})
    assert status == 400 and "no reranker" in message


# --- collections, images, thumbnails, files ----------------------------------------------------
def test_collections_info_facets_and_image_metadata(server, col):
    listed = server.json("GET", "/v1/collections")["collections"]
    assert listed == [{"name": "photos", "model": "align-lite", "generation": col.generation, "images": 27, "texts": 6}]
    info = server.json("GET", "/v1/collections/photos")
    assert info["counts"]["images"] == 27 and info["disk_bytes"] is None
    facets = server.json("GET", "/v1/collections/photos/facets")
    assert facets["cameras"] == ["Canon EOS 5D", "NIKON D750"]
    hit = col.search("snow", k=1, where="camera = 'NIKON D750'")[0]
    image = server.json("GET", f"/v1/collections/photos/images/{hit.id}")
    assert image["rows"][0]["camera"] == "NIKON D750" and image["rows"][0]["path"] == "it's mine/snow.jpg"
    assert image["file"].endswith(f"/images/{hit.id}/file")
    assert refused(server, "GET", "/v1/collections/photos/images/12345")[0] == 404
    assert refused(server, "GET", "/v1/collections/nope")[0] == 404
    assert refused(server, "POST", "/v1/collections/nope/search", {"text": "a"})[0] == 404
    assert refused(server, "GET", f"/v1/collections/photos/images/{2**70}")[0] == 422


def test_thumbnails_and_files(server, col):
    hit = col.search("a dog", k=1)[0]
    status, headers, data = server.request("GET", f"/v1/collections/photos/images/{hit.id}/thumbnail")
    assert status == 200 and headers["content-type"] == "image/jpeg"
    assert max(Image.open(io.BytesIO(data)).size) <= 320
    status, _, big = server.request("GET", f"/v1/collections/photos/images/{hit.id}/thumbnail/640")
    assert status == 200 and max(Image.open(io.BytesIO(big)).size) <= 640
    assert refused(server, "GET", f"/v1/collections/photos/images/{hit.id}/thumbnail/333")[0] == 422
    status, headers, original = server.request("GET", f"/v1/collections/photos/images/{hit.id}/file")
    assert status == 200 and original == Path(hit.path).read_bytes()
    assert headers["content-disposition"].startswith("attachment") and headers["x-content-type-options"] == "nosniff"


def test_a_file_swapped_for_a_link_out_of_the_roots_is_refused(server, collection, col, tmp_path):
    home, photos = collection
    target = photos / "trips" / "park.jpg"
    hit = next(h for h in col.search("a photo", k=30) if h.path == str(target))
    secret = tmp_path / "secret.jpg"
    secret.write_bytes(target.read_bytes())  # same content: only the link's direction is wrong
    moved = target.with_name("park.moved")
    os.replace(target, moved)
    try:
        os.symlink(secret, target)
        for path in (f"/v1/collections/photos/images/{hit.id}/file", f"/v1/collections/photos/images/{hit.id}/thumbnail/1280"):
            status, message = refused(server, "GET", path)
            assert status == 404 and "roots" in message
    finally:
        target.unlink()
        os.replace(moved, target)


def test_original_files_are_opt_in(collection, tmp_path):
    home, _ = collection
    s = start_server(home, tmp_path, "--collection", "photos")
    try:
        hit = vsearch.open_collection("photos", home=home).search("a dog", k=1)[0]
        assert s.json("GET", f"/v1/collections/photos/images/{hit.id}")["file"] is None
        status, message = refused(s, "GET", f"/v1/collections/photos/images/{hit.id}/file")
        assert status == 403 and "--serve-files" in message
    finally:
        s.stop()


# --- limits: bad input is a 4xx that says why ----------------------------------------------------
@pytest.mark.parametrize("body, status, says", [
    ({"text": "a dog", "k": 51}, 422, "less than or equal to 50"),
    ({"text": "a dog", "k": 30, "offset": 30}, 422, "at most 50"),
    ({"text": "a dog", "k": 0}, 422, "greater than or equal to 1"),
    ({"text": "x" * 1001}, 422, "at most 1000 characters"),
    ({"text": "a dog", "where": "a" * 4097}, 422, "at most 4096 characters"),
    ({"text": "a dog", "filter": {"folders": ["f"] * 257}}, 422, "at most 256 items"),
    ({"text": "a\ud800dog"}, 422, "valid string"),
    ({"text": "a dog", "colour": "red"}, 422, "Extra inputs are not permitted"),
    ({"text": "   "}, 400, "empty query text"),
    ({}, 400, "exactly one of"),
    ({"image": "not base64!"}, 400, "not valid base64"),
    ({"image": base64.b64encode(b"hello, I am text").decode()}, 400, "not an image"),
    ({"image": base64.b64encode(png(30000, 30000)).decode()}, 400, "decompression bomb"),
    ({"text": "a dog", "dedupe": 2}, 422, "less than or equal to 1"),
])
def test_bad_search_bodies_are_clear_4xx(server, body, status, says):
    got, message = refused(server, "POST", "/v1/collections/photos/search", body)
    assert got == status and says in message, message


@pytest.mark.parametrize("raw, headers, status, says", [
    (b'{"text": "a dog"', {"Content-Type": "application/json"}, 422, "JSON decode error"),
    (b"[" * 100_000 + b"]" * 100_000, {"Content-Type": "application/json"}, 400, "nested"),
    (b'{"text": "a dog"}', {"Content-Type": "text/plain"}, 415, "application/json"),
])
def test_bad_raw_bodies_are_clear_4xx(server, raw, headers, status, says):
    got, message = refused(server, "POST", "/v1/collections/photos/search", raw, headers)
    assert got == status and says in message, message


def test_an_upload_over_the_limit_is_413(server, collection):
    big = Image.effect_noise((600, 600), 80).convert("RGB")
    buf = io.BytesIO()
    big.save(buf, "PNG")
    assert len(buf.getvalue()) > MAX_UPLOAD
    got, message = refused(server, "POST", "/v1/collections/photos/search", {"image": base64.b64encode(buf.getvalue()).decode()})
    assert got == 413
    boundary = "b"
    form = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"q.png\"\r\n\r\n").encode() \
        + buf.getvalue() + f"\r\n--{boundary}--\r\n".encode()
    assert refused(server, "POST", "/v1/collections/photos/search/upload", form,
                   {"Content-Type": f"multipart/form-data; boundary={boundary}"})[0] == 413


def test_a_body_over_the_limit_is_413_whatever_it_declares(server):
    big = b"x" * 2_000_000   # past the ~1.4 MB limit
    start = b"POST /v1/collections/photos/search HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    status, body = raw_exchange(server.port, start + b"Content-Length: %d\r\n\r\n" % len(big), [big])
    assert status == 413 and "larger than" in body["error"]
    # No Content-Length to trust: the body is counted as it arrives and refused past the cap.
    chunk = b"x" * 65536
    status, body = raw_exchange(server.port, start + b"Transfer-Encoding: chunked\r\n\r\n",
                                [b"%x\r\n%s\r\n" % (len(chunk), chunk)] * 40 + [b"0\r\n\r\n"])
    assert status == 413 and body["status"] == 413


# --- health and metrics ------------------------------------------------------------------------
def test_healthz_and_prometheus_metrics(server, col):
    assert server.json("GET", "/healthz") == {"status": "ok", "collections": {"photos": col.generation}}
    search(server, {"text": "a dog"})
    refused(server, "POST", "/v1/collections/photos/search", {"text": "a dog", "k": 0})
    status, headers, data = server.request("GET", "/metrics")
    text = data.decode()
    assert status == 200 and headers["content-type"].startswith("text/plain")
    assert 'vsearch_http_requests_total{method="POST",route="/v1/collections/{name}/search",status="200"}' in text
    assert 'vsearch_http_errors_total{route="/v1/collections/{name}/search",status="422"}' in text
    assert 'vsearch_http_request_seconds_bucket{le="0.1",route="/v1/collections/{name}/search"}' in text
    assert f'vsearch_collection_generation{{collection="photos"}} {col.generation}.0' in text
    assert 'vsearch_text_cache_hits_total{collection="photos"}' in text


def test_the_schema_describes_every_route(server):
    schema = server.json("GET", "/openapi.json")
    paths = set(schema["paths"])
    assert {"/v1/collections/{name}/search", "/v1/collections/{name}/search/upload", "/v1/collections/{name}/texts/search",
            "/v1/collections", "/v1/collections/{name}/images/{id}/thumbnail", "/knn-service", "/metadata",
            "/indices-list", "/healthz", "/metrics", "/v1/collections/{name}/duplicates"} <= paths
    k = schema["components"]["schemas"]["SearchIn"]["properties"]["k"]
    assert k["maximum"] == 50  # the server's own cap, as configured
