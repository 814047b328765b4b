import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

FLICKR = Path(os.environ.get("VSEARCH_FLICKR8K", Path(__file__).resolve().parents[2] / "shared" / "data" / "flickr8k"))
COLORS = {"red": (220, 30, 30), "green": (30, 180, 40), "blue": (30, 60, 220), "yellow": (240, 220, 30)}


def cli(*args, code: int = 0, home: Path | None = None, one_line: bool = False):
    """`vsearch ARGS` in this process (faster than a subprocess), with $VSEARCH_HOME = `home` when
    given; asserts the exit code and, with `one_line`, that the output is a one-line error
    without a traceback (what `handles_errors` prints for a library error)."""
    from typer.testing import CliRunner

    from vsearch.cli import app

    r = CliRunner().invoke(app, [str(a) for a in args], env=None if home is None else {"VSEARCH_HOME": str(home)})
    assert r.exit_code == code, (r.output, r.exception)
    if one_line:
        assert r.output.startswith("error:") and r.output.count("\n") == 1 and "Traceback" not in r.output, r.output
    return r


def cli_json(*args, code: int = 0, home: Path | None = None):
    return json.loads(cli(*args, "--json", code=code, home=home).stdout)


def need_flickr() -> Path:
    if not (FLICKR / "images").is_dir():
        pytest.skip(f"Flickr8k not found at {FLICKR}")
    return FLICKR


@pytest.fixture(scope="session")
def flickr() -> Path:
    return need_flickr()


def make_image(path: Path, color: str, shape: str = "square", size=(96, 72), fmt=None) -> Path:
    img = Image.new("RGB", size, (245, 245, 245))
    d = ImageDraw.Draw(img)
    box = (size[0] // 4, size[1] // 4, 3 * size[0] // 4, 3 * size[1] // 4)
    (d.ellipse if shape == "circle" else d.rectangle)(box, fill=COLORS[color])
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, format=fmt)
    return path


@pytest.fixture()
def photos(tmp_path: Path) -> Path:
    """A small photo folder: generated images in several formats, a few real Flickr8k photos
    when available, a duplicate, and broken files of every kind."""
    return make_photos(tmp_path / "photos")


def make_photos(root: Path) -> Path:
    make_image(root / "red_square.jpg", "red")
    make_image(root / "blue_circle.png", "blue", "circle")
    make_image(root / "trips" / "green.webp", "green")
    make_image(root / "trips" / "yellow.bmp", "yellow")
    make_image(root / "trips" / "anim.gif", "red", "circle")
    make_image(root / "old" / "scan.tiff", "blue")
    if (FLICKR / "images").is_dir():
        for name in sorted(os.listdir(FLICKR / "images"))[:6]:
            shutil.copy(FLICKR / "images" / name, root / "flickr" / name) if (root / "flickr").exists() else (
                (root / "flickr").mkdir(), shutil.copy(FLICKR / "images" / name, root / "flickr" / name))
    shutil.copy(root / "red_square.jpg", root / "trips" / "red_copy.jpg")
    (root / "bad").mkdir()
    (root / "bad" / "not_an_image.jpg").write_text("hello, I am text")
    (root / "bad" / "empty.png").write_bytes(b"")
    data = (root / "red_square.jpg").read_bytes()
    (root / "bad" / "truncated.jpg").write_bytes(data[: len(data) // 3])
    (root / "notes.txt").write_text("not scanned: not an image extension")
    return root


@pytest.fixture()
def home(tmp_path: Path, monkeypatch) -> Path:
    h = tmp_path / "indexes"
    monkeypatch.setenv("VSEARCH_HOME", str(h))
    return h


@pytest.fixture(scope="session")
def model():
    from vsearch.models import load_model

    return load_model("align-lite")


def unit_rows(n: int, d: int, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


@pytest.fixture(scope="session")
def ingested(tmp_path_factory) -> tuple[Path, Path]:
    """(home, photos): the `photos` folder ingested once for the whole session, for tests that
    only read the collection. Tests that change it take `ingested_copy` instead."""
    import vsearch

    base = tmp_path_factory.mktemp("ingested")
    photos = make_photos(base / "photos")
    home = base / "indexes"
    vsearch.ingest(photos, home=home)
    return home, photos


@pytest.fixture()
def ingested_copy(ingested, tmp_path, monkeypatch) -> tuple[Path, Path]:
    """A private copy of the session's ingested collection (and its photos), as $VSEARCH_HOME."""
    home, photos = ingested
    new_photos = tmp_path / "photos"
    shutil.copytree(photos, new_photos, symlinks=True)
    new_home = tmp_path / "indexes"
    shutil.copytree(home, new_home, symlinks=True)
    # The copy's rows name the session's folder: point the collection at the copy.
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = new_home / "photos"
    m = json.loads((folder / "manifest.json").read_text())
    m["roots"] = [str(new_photos)]
    t = pq.read_table(folder / m["files"]["images"])
    t = t.set_column(t.schema.get_field_index("root"), "root", pa.array([str(new_photos)] * len(t), pa.string()))
    pq.write_table(t, folder / m["files"]["images"])
    e = pq.read_table(folder / m["files"]["errors"])
    e = e.set_column(e.schema.get_field_index("root"), "root", pa.array([str(new_photos)] * len(e), pa.string()))
    pq.write_table(e, folder / m["files"]["errors"])
    (folder / "manifest.json").write_text(json.dumps(m))
    monkeypatch.setenv("VSEARCH_HOME", str(new_home))
    return new_home, new_photos
