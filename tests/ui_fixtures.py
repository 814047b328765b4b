"""A small real collection for the UI tests: the 24 Flickr8k photos in examples/, a sub-folder
with EXIF camera/date photos (one folder name has a quote in it), and a text corpus."""
from __future__ import annotations

import shutil
from pathlib import Path

from PIL import Image

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "photos"
CAPTIONS = ["a dog runs on the grass", "children play in the water", "a man rides a bicycle",
            "a group of people stand in the snow", "a black dog jumps", "a girl in a pink dress"]


def exif_photo(src: Path, dst: Path, camera: str, taken: str) -> None:
    img = Image.open(src)
    exif = Image.Exif()
    exif[271], exif[272] = camera.split()[0], camera
    exif.get_ifd(0x8769)[36867] = taken
    dst.parent.mkdir(parents=True, exist_ok=True)
    img.save(dst, exif=exif, quality=90)


def build_ui_collection(base: Path) -> tuple[Path, Path]:
    """(index home, photo root) with collection 'photos' ingested and a text corpus added."""
    import vsearch

    root = base / "photos"
    shutil.copytree(EXAMPLES, root / "flickr")
    srcs = sorted(EXAMPLES.glob("*.jpg"))
    exif_photo(srcs[0], root / "trips" / "beach.jpg", "Canon EOS 5D", "2021:07:04 10:11:12")
    exif_photo(srcs[1], root / "trips" / "park.jpg", "Canon EOS 5D", "2022:03:01 09:00:00")
    exif_photo(srcs[2], root / "it's mine" / "snow.jpg", "NIKON D750", "2019:12:24 18:00:00")
    home = base / "indexes"
    vsearch.ingest(root, collection="photos", home=home)
    vsearch.add_texts(CAPTIONS, "photos", home, source="tests")
    return home, root


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_ui(cmd: list, port: int, log_path: Path, **popen):
    """Start `vsearch ui` (cmd) and wait until Streamlit answers on `port`; returns the process.
    Fails the test with the server's log if it exits or does not answer within two minutes."""
    import subprocess
    import time
    import urllib.request

    import pytest

    log = open(log_path, "w+")
    proc = subprocess.Popen([str(c) for c in cmd] + ["--port", str(port), "--no-browser"], stdout=log,
                            stderr=subprocess.STDOUT, **popen)
    deadline = time.time() + 120
    while True:
        try:
            if urllib.request.urlopen(f"http://localhost:{port}/_stcore/health", timeout=2).read() == b"ok":
                return proc
        except OSError:
            pass
        if proc.poll() is not None or time.time() > deadline:
            log.seek(0)
            proc.kill()
            pytest.fail(f"streamlit did not start:\n{log.read()}")
        time.sleep(0.5)
