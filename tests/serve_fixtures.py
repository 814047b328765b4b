"""The real `vsearch serve` process for the service's tests: started on a free port over a small
real collection (ui_fixtures: 24 Flickr8k photos, EXIF photos in folders, one named with a quote,
and a text corpus), talked to over HTTP, stopped at the end."""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from ui_fixtures import build_ui_collection, free_port

HERE = Path(__file__).resolve().parent
_BUILT: dict[str, tuple[Path, Path]] = {}


def need_serve() -> None:
    for module in ("fastapi", "uvicorn", "prometheus_client", "multipart"):
        pytest.importorskip(module, reason='needs the service extra: pip install "vsearch[serve]"')


def served_collection(tmp_path_factory) -> tuple[Path, Path]:
    """(home, photos), built once per test session; tests that change it take `copy_of` it."""
    if "home" not in _BUILT:
        _BUILT["home"] = build_ui_collection(tmp_path_factory.mktemp("served"))
    return _BUILT["home"]


def copy_of(home: Path, photos: Path, dest: Path) -> tuple[Path, Path]:
    """A private copy of a collection and its photos, pointed at the copied photos."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    new_photos, new_home = dest / "photos", dest / "indexes"
    shutil.copytree(photos, new_photos, symlinks=True)
    shutil.copytree(home, new_home, symlinks=True, ignore=shutil.ignore_patterns("thumbs"))
    for folder in new_home.iterdir():
        m = json.loads((folder / "manifest.json").read_text())
        m["roots"] = [str(new_photos)]
        for key in ("images", "errors"):
            t = pq.read_table(folder / m["files"][key])
            t = t.set_column(t.schema.get_field_index("root"), "root", pa.array([str(new_photos)] * len(t), pa.string()))
            pq.write_table(t, folder / m["files"][key])
        (folder / "manifest.json").write_text(json.dumps(m))
    return new_home, new_photos


class Server:
    def __init__(self, proc: subprocess.Popen, port: int, log: Path, token: str | None = None):
        self.proc, self.port, self.log, self.token = proc, port, log, token
        self.url = f"http://127.0.0.1:{port}"

    def request(self, method: str, path: str, body: bytes | dict | list | None = None,
                headers: dict[str, str] | None = None, token: bool = True) -> tuple[int, dict, bytes]:
        """(status, headers, body) of one request; a dict or list body is sent as JSON."""
        h = dict(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            h.setdefault("Content-Type", "application/json")
        if token and self.token:
            h.setdefault("Authorization", f"Bearer {self.token}")
        req = urllib.request.Request(self.url + path, data=body, method=method, headers=h)
        try:
            with urllib.request.urlopen(req, timeout=120) as r:
                return r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()

    def json(self, method: str, path: str, body=None, expect: int = 200, **kw):
        status, headers, data = self.request(method, path, body, **kw)
        assert status == expect, (status, data[:500])
        return json.loads(data)

    def stop(self) -> str:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        return self.log.read_text()


def start_server(home: Path, log_dir: Path, *args: str, token: str | None = None, env: dict | None = None) -> Server:
    """`vsearch serve --home HOME ARGS` on a free port, once /healthz answers (or the test fails
    with the server's log)."""
    need_serve()
    port = free_port()
    log = log_dir / f"serve-{port}.log"
    full_env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE.parent), os.environ.get("PYTHONPATH", "")]),
                    **(env or {}))
    if token:
        full_env["VSEARCH_TOKEN"] = token
    proc = subprocess.Popen([sys.executable, "-m", "vsearch.cli", "serve", "--home", str(home), "--port", str(port), *args],
                            stdout=open(log, "w"), stderr=subprocess.STDOUT, env=full_env)
    server = Server(proc, port, log, token)
    deadline = time.time() + 180
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(server.url + "/healthz", timeout=2) as r:
                if r.status == 200:
                    return server
        except OSError:
            pass
        if proc.poll() is not None:
            break
        time.sleep(0.3)
    proc.kill()
    pytest.fail(f"vsearch serve did not start:\n{log.read_text()[-4000:]}")


def raw_exchange(port: int, head: bytes, chunks) -> tuple[int, dict]:
    """Send a request head and body pieces over a socket (the server may answer and close before
    the body is all sent: that is the point) -> (status, JSON body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(head)
        try:
            for piece in chunks:
                s.sendall(piece)
        except OSError:
            pass
        reply = b""
        while b"\r\n\r\n" not in reply or len(reply.split(b"\r\n\r\n", 1)[1]) < int(
                reply.lower().split(b"content-length: ")[1].split(b"\r\n")[0] if b"content-length: " in reply.lower() else 0):
            more = s.recv(65536)
            if not more:
                break
            reply += more
    head_part, body = reply.split(b"\r\n\r\n", 1)
    return int(head_part.split()[1]), json.loads(body)
