"""Running `vsearch serve`: the bind rule (loopback unless a token or --insecure), bearer tokens
and signed image URLs, CORS for browser clients, the request time limit, and a real
`vsearch ingest` from another process committing while clients query: zero failed requests,
the new generation served within a second."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from conftest import make_image
from serve_fixtures import HERE, copy_of, need_serve, raw_exchange, served_collection, start_server

TOKEN = "0123456789abcdef-test-token"


@pytest.fixture(scope="module")
def collection(tmp_path_factory):
    return served_collection(tmp_path_factory)


def cli(*args: str, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    full_env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE.parent), os.environ.get("PYTHONPATH", "")]), **(env or {}))
    return subprocess.run([sys.executable, "-m", "vsearch.cli", *args], capture_output=True, text=True, env=full_env,
                          timeout=timeout)


def test_serve_help_says_how_to_start_and_query():
    r = cli("serve", "--help")
    assert r.returncode == 0 and "--token" in r.stdout and "curl" in r.stdout and "--insecure" in r.stdout


@pytest.mark.parametrize("args, says", [
    (["--host", "0.0.0.0"], "give --token"),
    (["--host", "192.0.2.1"], "give --token"),
    (["--host", "0.0.0.0", "--token", "short"], "at least 16 characters"),
])
def test_a_reachable_address_needs_a_token_or_insecure(collection, args, says):
    need_serve()
    home, _ = collection
    r = cli("serve", "--home", str(home), *args)
    assert r.returncode == 2 and says in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_nothing_to_serve_is_one_line(tmp_path):
    need_serve()
    r = cli("serve", "--home", str(tmp_path / "empty"))
    assert r.returncode == 2 and "no collection" in r.stderr and r.stderr.count("\n") == 1, r.stderr
    r = cli("serve", "--home", str(tmp_path / "empty"), "-c", "photos")
    assert r.returncode == 2 and "no collection 'photos'" in r.stderr, r.stderr


def test_insecure_serves_a_wildcard_address_knowingly(collection, tmp_path):
    home, _ = collection
    s = start_server(home, tmp_path, "--host", "0.0.0.0", "--insecure")  # reached here over loopback only
    try:
        assert s.json("GET", "/healthz")["status"] == "ok"
        assert s.json("GET", "/indices-list") == ["photos"]
    finally:
        s.stop()


@pytest.fixture(scope="module")
def guarded(collection, tmp_path_factory):
    home, _ = collection
    s = start_server(home, tmp_path_factory.mktemp("log"), "--host", "127.0.0.1", "--cors-origin", "http://front.test:1235",
                     "--timeout", "1.5", token=TOKEN)
    yield s
    s.stop()


def test_every_route_but_healthz_needs_the_token(guarded):
    for method, path, body in [("GET", "/v1/collections", None), ("POST", "/v1/collections/photos/search", {"text": "a dog"}),
                               ("GET", "/indices-list", None), ("POST", "/knn-service", {"text": "a dog"}),
                               ("GET", "/metrics", None), ("GET", "/openapi.json", None)]:
        status, headers, data = guarded.request(method, path, body, token=False)
        assert status == 401 and json.loads(data)["status"] == 401 and headers["www-authenticate"] == "Bearer", path
        status, _, _ = guarded.request(method, path, body, headers={"Authorization": "Bearer wrong-token-0123456"}, token=False)
        assert status == 401
        assert guarded.request(method, path, body)[0] == 200, path
    assert guarded.request("GET", "/healthz", token=False)[0] == 200
    assert guarded.request("GET", f"/indices-list?token={TOKEN}", token=False)[0] == 200  # for header-less clients


def test_image_urls_are_signed_for_their_own_path(guarded):
    hit = guarded.json("POST", "/v1/collections/photos/search", {"text": "a dog", "k": 2})["hits"]
    url = hit[0]["thumbnail"]
    assert "?sig=" in url and TOKEN not in url
    path = url.removeprefix(guarded.url)
    assert guarded.request("GET", path, token=False)[0] == 200   # a browser's <img> carries no header
    other = f"/v1/collections/photos/images/{hit[1]['id']}/thumbnail?sig=" + path.split("sig=")[1]
    assert guarded.request("GET", other, token=False)[0] == 401  # the signature is for that path only
    assert guarded.request("POST", path, b"{}", token=False)[0] == 401


def test_cors_lets_the_configured_origin_call(guarded):
    pre = {"Origin": "http://front.test:1235", "Access-Control-Request-Method": "POST",
           "Access-Control-Request-Headers": "content-type"}
    status, headers, _ = guarded.request("OPTIONS", "/knn-service", headers=pre, token=False)
    assert status == 200 and headers["access-control-allow-origin"] == "http://front.test:1235"
    status, headers, _ = guarded.request("OPTIONS", "/knn-service", headers={**pre, "Origin": "http://evil.test"}, token=False)
    assert status == 400 and "access-control-allow-origin" not in headers
    status, headers, _ = guarded.request("POST", "/knn-service", {"text": "a dog", "num_images": 2},
                                         headers={"Origin": "http://front.test:1235"})
    assert status == 200 and "X-Vsearch-Ignored" in headers.get("access-control-expose-headers", "")


def test_a_request_that_takes_too_long_is_504(guarded):
    """A client that sends half a body and stalls holds its connection only until the time limit."""
    t = time.monotonic()
    status, body = raw_exchange(guarded.port, b"POST /v1/collections/photos/search HTTP/1.1\r\nHost: x\r\n"
                                b"Content-Type: application/json\r\nAuthorization: Bearer " + TOKEN.encode()
                                + b"\r\nContent-Length: 100\r\n\r\n{\"text\": ", [])
    waited = time.monotonic() - t
    assert status == 504 and "longer than 1.5 s" in body["error"], body
    assert 1.4 < waited < 10


def test_a_commit_from_another_process_fails_no_request(collection, tmp_path):
    """Clients query (the /v1 API and clip-back) while `vsearch ingest` adds photos in another
    process: every request succeeds, and the new generation is served within a second."""
    home, photos = copy_of(*collection, tmp_path)
    server = start_server(home, tmp_path, "--reload-every", "0.25")
    first = server.json("GET", "/healthz")["collections"]["photos"]
    for i, color in enumerate(["red", "green", "blue", "yellow"] * 2):
        make_image(photos / "added" / f"shape{i}.png", color, "circle", size=(100 + 10 * i, 80))
    failures: list[str] = []
    generations: set[int] = set()
    done = [0]
    stop = threading.Event()

    def client(n: int) -> None:
        while not stop.is_set():
            try:
                if n % 2:
                    status, _, data = server.request("POST", "/v1/collections/photos/search",
                                                     {"text": ["a dog", "a red circle", "snow"][done[0] % 3], "k": 5,
                                                      "where": "bytes > 0"})
                    if status == 200:
                        generations.add(json.loads(data)["generation"])
                else:
                    status, _, data = server.request("POST", "/knn-service", b'{"text": "a green circle", "num_images": 5}')
                if status != 200:
                    failures.append(f"{status} {data[:200]!r}")
                done[0] += 1
            except Exception as e:  # noqa: BLE001 - any failure is the finding
                failures.append(f"{type(e).__name__}: {e}")

    threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    try:
        r = cli("ingest", str(photos), "--home", str(home), timeout=600)
        committed = time.monotonic()
        assert r.returncode == 0, r.stderr
        while server.json("GET", "/healthz")["collections"]["photos"] == first and time.monotonic() - committed < 5:
            time.sleep(0.02)
        picked_up = time.monotonic() - committed
        time.sleep(0.5)
    finally:
        stop.set()
        for t in threads:
            t.join(60)
        log = server.stop()
    assert failures == [] and done[0] > 20, (failures[:5], log[-2000:])
    assert picked_up < 1.0 and generations == {first, first + 1}, (picked_up, generations)


def test_the_library_never_imports_the_service():
    """Imports run downwards: no library module (outside cli/, ui/ and serve/, the shells on top)
    imports the service or its web stack."""
    import ast

    root = HERE.parent / "vsearch"
    offenders = []
    for path in root.rglob("*.py"):
        rel = path.relative_to(root).as_posix()
        if rel.split("/")[0] in ("cli", "ui", "serve"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = "." * node.level + (node.module or "")
                names = [base] + [f"{base}.{a.name}" for a in node.names]
            else:
                continue
            for name in names:
                parts = name.lstrip(".").split(".")
                if parts[0] in ("fastapi", "uvicorn", "starlette", "prometheus_client") or "serve" in parts:
                    offenders.append(f"{rel}: {name}")
    assert offenders == []
