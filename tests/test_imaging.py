"""The image reader against the bad-input corpus (tests/bad_inputs.py), each file read in a worker
process under a memory limit and a timeout: decoded as expected, or refused with the expected
reason; never a crash, a hang or a memory blow-up. Plus: every pixel mode against a reference
rendering, and Preprocess unchanged for the photos vsearch has always seen.

Run as a script (`python tests/test_imaging.py --worker LIMIT_BYTES`) it is that worker.
"""
from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bad_inputs import TARGET, W, H, picture, write_corpus  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
MEMORY_LIMIT = 1536 << 20  # address space a worker may add to its baseline (imports done)
FILE_TIMEOUT_S = 20.0      # per file; the whole corpus takes a few seconds


# --- the worker ------------------------------------------------------------------------------
def _vm_size() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:"))


def _worker(limit: int) -> None:
    import resource

    from vsearch.imaging import ImageError, read_image_file
    from vsearch.models.preprocess import Preprocess

    pp = Preprocess(size=TARGET)
    resource.setrlimit(resource.RLIMIT_AS, (_vm_size() + limit,) * 2)
    print(json.dumps({"ready": True, "torch": "torch" in sys.modules}), flush=True)
    for line in sys.stdin:
        job = json.loads(line)
        t = time.perf_counter()
        try:
            d = read_image_file(job["path"], TARGET)
            pixels = pp.to_pixels(d.image)
            out = {"ok": True, "size": list(d.image.size), "mode": d.image.mode, "stored": [d.width, d.height],
                   "pixels": list(pixels.shape), "meta": {k: (v.isoformat() if hasattr(v, "isoformat") else v)
                                                         for k, v in d.meta.__dict__.items()}}
            if d.image.width * d.image.height <= 1_000_000:
                np.save(job["out"], np.asarray(d.image))
                out["array"] = job["out"]
        except ImageError as e:
            out = {"ok": False, "error": type(e).__name__, "reason": e.reason, "message": str(e)}
        except BaseException as e:  # noqa: BLE001 - reported as the crash it is
            out = {"ok": False, "crash": f"{type(e).__name__}: {e}"}
        out["ms"] = (time.perf_counter() - t) * 1000
        print(json.dumps(out), flush=True)


# --- the parent side -------------------------------------------------------------------------
class Worker:
    def __init__(self) -> None:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
                   MALLOC_ARENA_MAX="2", OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
        self.proc = subprocess.Popen([sys.executable, __file__, "--worker", str(MEMORY_LIMIT)], env=env, text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.proc.stdout, selectors.EVENT_READ)
        self.hello = self._line(60.0)
        assert self.hello and self.hello.get("ready"), "the worker did not start"

    def _line(self, timeout: float) -> dict | None:
        if not self.sel.select(timeout):
            return None
        line = self.proc.stdout.readline()
        return json.loads(line) if line else None

    def read(self, path: str, out: str) -> dict:
        self.proc.stdin.write(json.dumps({"path": path, "out": out}) + "\n")
        self.proc.stdin.flush()
        result = self._line(FILE_TIMEOUT_S)
        if result is None:
            hung = self.proc.poll() is None
            self.close()
            return {"ok": False, "crash": "hang (timeout)" if hung else f"worker died (exit {self.proc.returncode})"}
        return result

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


def read_all(folder: Path, names: list[str], out: Path) -> dict[str, dict]:
    """Every file through the reader in an isolated worker; a worker that hangs or dies is replaced."""
    results, worker = {}, None
    for i, name in enumerate(names):
        if worker is None or worker.proc.poll() is not None:
            worker = Worker()
        results[name] = worker.read(os.fsdecode(os.path.join(os.fsencode(folder), os.fsencode(name))), str(out / f"{i}.npy"))
    worker.close()
    return results


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("corpus")
    cases = write_corpus(folder)
    out = tmp_path_factory.mktemp("decoded")
    try:
        return cases, read_all(folder, sorted(cases), out)
    finally:
        os.chmod(folder / "no_permission.jpg", 0o644)


def test_corpus_covers_every_kind(corpus):
    cases, _ = corpus
    kinds = {}
    for e in cases.values():
        kinds[e.kind] = kinds.get(e.kind, 0) + 1
    assert len(cases) >= 30 and set(kinds) == {"broken", "hostile", "special", "format", "name"}, kinds


def _mismatch(name: str, expect, got: dict) -> str | None:
    if "crash" in got:
        return f"{name!r}: {got['crash']}"
    if expect.outcome != "ok":
        if got["ok"]:
            return f"{name!r}: decoded {got['size']}, expected a refusal with {expect.outcome!r}"
        if expect.outcome not in got["reason"]:
            return f"{name!r}: refused with {got['reason']!r}, expected {expect.outcome!r}"
        return None
    if not got["ok"]:
        return f"{name!r}: refused with {got['reason']!r}, expected it to decode"
    if got["mode"] != "RGB" or got["pixels"] != [TARGET, TARGET, 3]:
        return f"{name!r}: mode {got['mode']}, pixels {got['pixels']}"
    if expect.size and tuple(got["size"]) != expect.size:
        return f"{name!r}: decoded size {tuple(got['size'])}, expected {expect.size}"
    if expect.reference is not None:
        arr = np.load(got["array"])
        if arr.shape != expect.reference.shape:
            return f"{name!r}: decoded shape {arr.shape}, reference {expect.reference.shape}"
        mad = float(np.abs(arr.astype(np.int16) - expect.reference).mean())
        if mad > expect.tolerance:
            return f"{name!r}: mean abs difference {mad:.2f} from the reference > {expect.tolerance}"
    for k, v in (expect.meta or {}).items():
        if got["meta"][k] != v:
            return f"{name!r}: meta {k} = {got['meta'][k]!r}, expected {v!r}"
    return None


def test_every_corpus_file_decodes_or_is_refused_with_its_reason(corpus):
    cases, results = corpus
    problems = [m for name in sorted(cases) if (m := _mismatch(name, cases[name], results[name]))]
    assert not problems, "\n".join(problems)


def test_refusals_name_the_file_and_are_one_line(corpus):
    cases, results = corpus
    refused = [(n, r) for n, r in results.items() if not r["ok"] and "crash" not in r]
    assert len(refused) >= 25
    for name, r in refused:
        assert r["message"].endswith(r["reason"]) and "\n" not in r["reason"] and len(r["reason"]) < 200, (name, r)


def test_the_worker_never_imports_torch(corpus):
    """The reader and Preprocess.to_pixels are torch-free (the ONNX Runtime ingest path needs that)."""
    assert Worker().hello["torch"] is False


def test_a_fifo_swapped_in_after_the_stat_check_is_refused_by_fstat(tmp_path, monkeypatch):
    """The path check can be raced (a regular file replaced by a FIFO before open): the open does not
    block and fstat of the opened descriptor refuses it."""
    import signal

    from vsearch.imaging import NotRegularFileError, read_file_bytes

    (tmp_path / "regular.jpg").write_bytes(b"x")
    os.mkfifo(tmp_path / "fifo.jpg")
    regular = os.stat(tmp_path / "regular.jpg")
    monkeypatch.setattr(os, "stat", lambda path, *a, **k: regular)  # the path check sees a regular file
    signal.signal(signal.SIGALRM, lambda *_: pytest.fail("reading a FIFO blocked"))
    signal.alarm(5)
    try:
        with pytest.raises(NotRegularFileError, match="fifo"):
            read_file_bytes(tmp_path / "fifo.jpg")
    finally:
        signal.alarm(0)


# --- pixel modes without a file format of their own --------------------------------------------
def _mad(a: Image.Image, ref: np.ndarray) -> float:
    return float(np.abs(np.asarray(a, np.int16) - ref).mean())


@pytest.mark.parametrize("mode", ["RGBX", "HSV", "YCbCr", "LAB", "CMYK", "RGBa", "La", "I;16L", "I;16N", "PA"])
def test_in_memory_modes_show_the_picture(mode):
    from bad_inputs import _alpha_mask, _over_white
    from vsearch.imaging import to_rgb

    pic = picture()
    rgb, grey, alpha = np.asarray(pic), np.asarray(pic.convert("L")), _alpha_mask()
    ref = rgb
    if mode == "RGBa":  # premultiplied alpha
        img = Image.frombytes(mode, pic.size, np.dstack([rgb * (alpha[..., None] / 255), alpha]).astype(np.uint8).tobytes())
        ref = _over_white(rgb, alpha)
    elif mode == "La":
        img = Image.frombytes(mode, pic.size, np.dstack([grey * (alpha / 255), alpha]).astype(np.uint8).tobytes())
        ref = _over_white(np.dstack([grey] * 3), alpha)
    elif mode.startswith("I;16"):
        img = Image.frombytes(mode, pic.size, (grey.astype("<u2" if mode == "I;16L" else "=u2") * 257).tobytes())
        ref = np.dstack([grey] * 3)
    elif mode == "PA":
        pal = pic.quantize(256)
        img = Image.frombytes(mode, pic.size, np.dstack([np.asarray(pal), alpha]).tobytes())
        img.putpalette(pal.getpalette())
        ref = _over_white(np.asarray(pal.convert("RGB")), alpha)
    else:
        img = pic.convert(mode)
    out = to_rgb(img)
    assert out.mode == "RGB" and out.size == pic.size
    assert _mad(out, ref) <= 2.0, mode


def test_float_and_int_ranges_are_read_from_the_values():
    from vsearch.imaging import to_rgb

    grey = np.asarray(picture().convert("L")).astype(np.float64)
    for arr, mode in ((grey - 1000.0, "F"), (grey * 1e6, "F"), (grey * 257 - 40000, "I")):
        img = Image.fromarray(arr.astype(np.float32 if mode == "F" else np.int32), mode)
        stretched = (grey - grey.min()) * 255 / (grey.max() - grey.min())
        assert _mad(to_rgb(img).convert("L"), stretched) <= 1.0, mode
    nan = np.where(grey > 128, np.nan, grey / 255).astype(np.float32)
    assert np.asarray(to_rgb(Image.fromarray(nan, "F")))[grey > 128].max() == 0  # NaN shown as the low end


# --- Preprocess ----------------------------------------------------------------------------------
def _old_to_pixels(img: Image.Image, s: int) -> np.ndarray:
    """Preprocess.to_pixels as it was before the aspect bound (the vectors of stored collections)."""
    img = img.convert("RGB")
    w, h = img.size
    scale = s / min(w, h)
    nw, nh = max(s, round(w * scale)), max(s, round(h * scale))
    img = img.resize((nw, nh), Image.Resampling.BICUBIC)
    left, top = (nw - s) // 2, (nh - s) // 2
    return np.array(img.crop((left, top, left + s, top + s)), dtype=np.uint8)


def _photos(n: int) -> list[Image.Image]:
    from conftest import FLICKR

    folder = FLICKR / "images"
    if folder.is_dir():
        return [Image.open(folder / name).convert("RGB") for name in sorted(os.listdir(folder))[:n]]
    return [picture(300 + 37 * i, 200 + 23 * i) for i in range(n)]


def test_to_pixels_is_unchanged_for_photos_up_to_16_to_1():
    from vsearch.models.preprocess import Preprocess

    rng = np.random.default_rng(0)
    photos = _photos(12)
    for i, photo in enumerate(photos):
        for _ in range(6):
            aspect = float(np.exp(rng.uniform(-np.log(16), np.log(16))))
            w = int(rng.integers(60, 900))
            img = photo.resize((max(1, w), max(1, round(w / aspect))), Image.Resampling.BILINEAR)
            for s in (224, 240):
                assert np.array_equal(Preprocess(size=s).to_pixels(img), _old_to_pixels(img, s)), (img.size, s)


def test_decode_then_to_pixels_is_unchanged_for_ordinary_photos(tmp_path):
    """Ingest's old chain (open, JPEG draft, exif_transpose, convert, to_pixels) and the new reader give
    the same model input for opaque RGB/greyscale photos, so re-ingesting changes no stored vector."""
    import io

    from bad_inputs import INVERSE, _exif
    from PIL import ImageOps
    from vsearch.imaging import decode_image_bytes
    from vsearch.models.preprocess import Preprocess

    files = []
    for i, photo in enumerate(_photos(3)):
        big = photo.resize((1000 + 100 * i, 750 - 50 * i), Image.Resampling.BICUBIC)
        for fmt, img, kw in (("JPEG", photo, {}), ("JPEG", big, {"exif": _exif(orientation=3 + i)}),
                             ("JPEG", big.transpose(INVERSE[6]), {"exif": _exif(orientation=6)}),
                             ("JPEG", big.convert("L"), {}), ("PNG", big, {}), ("WEBP", photo, {})):
            buf = io.BytesIO()
            img.save(buf, fmt, **kw)
            files.append(buf.getvalue())
    for s in (224, 240):
        pp = Preprocess(size=s)
        for data in files:
            old = Image.open(io.BytesIO(data))
            old.draft("RGB", (s, s))
            old = ImageOps.exif_transpose(old)
            assert np.array_equal(pp.to_pixels(decode_image_bytes(data, s).image), _old_to_pixels(old, s))


def test_to_pixels_beyond_16_to_1_is_the_centre_window_at_a_bounded_cost():
    from vsearch.models.preprocess import Preprocess

    pp = Preprocess(size=240)
    photo = _photos(1)[0]
    for size in ((4000, 200), (200, 4000), (1, 8000), (8000, 1)):
        img = photo.resize(size, Image.Resampling.BILINEAR)
        new = pp.to_pixels(img)
        assert new.shape == (240, 240, 3)
        if max(size) / min(size) <= 200:  # still affordable the old way: the same picture, rounding aside
            assert np.abs(new.astype(np.int16) - _old_to_pixels(img, 240)).mean() < 1.0, size
    strip = Image.fromarray(np.tile(np.arange(256, dtype=np.uint8), 400)[None, :].repeat(2, 0))  # 2 x 102400
    t = time.perf_counter()
    out = pp.to_pixels(strip)
    assert out.shape == (240, 240, 3) and time.perf_counter() - t < 1.0  # the old path resized to 240 x 12.3M
    squash = Preprocess(size=240, resize_mode="squash").to_pixels(strip)
    assert squash.shape == (240, 240, 3)


def test_normalize_array_is_torch_normalize_and_matches_the_old_tensor_code():
    torch = pytest.importorskip("torch")
    from vsearch.models.preprocess import Preprocess

    pixels = np.random.default_rng(1).integers(0, 256, (3, 240, 240, 3), dtype=np.uint8)
    pp = Preprocess(240, (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711))
    x = torch.as_tensor(pixels).permute(0, 3, 1, 2).float().div_(255.0)
    old = (x - torch.tensor(pp.mean).view(1, 3, 1, 1)) / torch.tensor(pp.std).view(1, 3, 1, 1)
    new = pp.normalize(pixels)
    assert torch.equal(new, old) and new.is_contiguous(memory_format=torch.channels_last)
    arr = pp.normalize_array(pixels)
    assert arr.flags.c_contiguous and arr.dtype == np.float32 and np.array_equal(arr, old.numpy())


def test_reader_api_in_process(tmp_path):
    """decode_image_bytes is the upload path: the same refusals as files; read_image_file adds the path."""
    from bad_inputs import INVERSE, _exif, _png
    from vsearch.imaging import (EmptyFileError, FileTooLargeError, ImageBombError, NotAnImageError,
                                 decode_image_bytes, read_image_file)

    with pytest.raises(ImageBombError) as e:
        decode_image_bytes(_png(20000, 20000, 8, 0, b"\0" * 1000), TARGET)
    assert str(e.value) == e.value.reason and e.value.reason.startswith("decompression bomb")
    with pytest.raises(NotAnImageError):
        decode_image_bytes(b"<html>", TARGET)
    with pytest.raises(EmptyFileError):
        decode_image_bytes(b"", TARGET)
    (tmp_path / "page.jpg").write_bytes(b"<html>")
    with pytest.raises(NotAnImageError) as e:
        read_image_file(tmp_path / "page.jpg", TARGET)
    assert str(tmp_path / "page.jpg") in str(e.value) and e.value.reason == "not an image (format not recognised)"

    pic = picture()
    stored = pic.transpose(INVERSE[6])
    buf = __import__("io").BytesIO()
    stored.save(buf, "JPEG", quality=95, exif=_exif(orientation=6))
    with pytest.raises(FileTooLargeError):
        decode_image_bytes(buf.getvalue(), TARGET, max_bytes=100)
    d = decode_image_bytes(buf.getvalue(), TARGET)
    assert (d.width, d.height) == (H, W) and d.image.size == (W, H) and d.meta.orientation == 6
    assert _mad(d.image, np.asarray(pic)) <= 6.0  # stored sideways, shown upright


if __name__ == "__main__" and sys.argv[1:2] == ["--worker"]:
    _worker(int(sys.argv[2]))
