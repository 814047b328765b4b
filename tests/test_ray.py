"""--engine ray: on a local Ray instance (2 CPUs) the Ray Data job makes the same collection as
the local runner, and a job killed midway, run again, equals a clean run."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image
from typer.testing import CliRunner

from conftest import make_photos

N_KILLED = 48   # photos of the killed job: 12 shards of 4
BATCH = 4


@pytest.fixture()
def needs_ray():
    pytest.importorskip("ray.data", reason="the `ray` extra is not installed")


def ray_ingest(folder: Path, home: Path, *extra: str, wait: bool = True):
    """`vsearch ingest --engine ray` in its own session (so the job and the Ray instance it
    starts can be killed together); --workers 1: a local instance of 2 CPUs."""
    cmd = [sys.executable, "-m", "vsearch.cli", "ingest", str(folder), "--home", str(home), "--engine", "ray",
           "--workers", "1", "--json", *extra]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    if not wait:
        return p
    out, err = p.communicate(timeout=600)
    assert p.returncode == 0, err
    return json.loads(out)


def local_ingest(folder: Path, home: Path, model, batch: int | None = None, reranker: Path | None = None) -> None:
    from vsearch.pipeline.config import IngestConfig
    from vsearch.pipeline.local import ingest

    ingest(IngestConfig(root=folder, home=home, workers=1, batch_size=batch, reranker=reranker), model=model)


def reranker_file(folder: Path) -> tuple[Path, str]:
    """(path, fingerprint) of a small random ITM reranker that reads the image tower's feature
    map, so ingest stores its image tokens."""
    import torch

    from vsearch.models import save_checkpoint
    from vsearch.models.itm import ITMConfig, ITMHead, load_reranker_file

    torch.manual_seed(0)
    cfg = ITMConfig(width=64, layers=1, heads=2)
    path = save_checkpoint(folder / "itm.safetensors", cfg.to_json(), ITMHead(cfg).state_dict(), {"default_k": 4})
    return path, load_reranker_file(path).fingerprint


def snapshot(home: Path, name: str):
    """(images rows, errors rows, {id: vector}) of a committed collection."""
    from vsearch.store.vectors import VectorStore

    folder = home / name
    manifest = json.loads((folder / "manifest.json").read_text())
    images = pq.read_table(folder / manifest["files"]["images"]).to_pylist()
    errors = pq.read_table(folder / manifest["files"]["errors"]).to_pylist()
    ids, vecs, _ = VectorStore(folder / "vectors", manifest["model"]["embed_dim"]).load(
        np.array([r["id"] for r in images], dtype=np.int64))
    return images, errors, dict(zip(ids.tolist(), vecs))


def assert_same_collection(a, b) -> None:
    images_a, errors_a, vecs_a = a
    images_b, errors_b, vecs_b = b
    assert images_a == images_b  # same ids, paths, sizes, dates, EXIF
    assert errors_a == errors_b
    assert vecs_a.keys() == vecs_b.keys()
    for k in vecs_a:  # stored as fp16: at most one fp16 step apart (a relative 2**-10)
        np.testing.assert_allclose(vecs_a[k], vecs_b[k], rtol=1e-3, atol=1e-5)


def kill_session(p: subprocess.Popen) -> None:
    """SIGKILL the job and every process of its session (the local Ray instance it started)."""
    os.killpg(p.pid, signal.SIGKILL)
    p.wait()
    deadline = time.time() + 30
    while time.time() < deadline:
        left = [int(d) for d in os.listdir("/proc") if d.isdigit() and _session(int(d)) == p.pid]
        if not left:
            return
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.1)
    raise AssertionError("processes of the killed job are still running")


def _session(pid: int) -> int | None:
    try:
        return os.getsid(pid)
    except (ProcessLookupError, PermissionError):
        return None


@pytest.mark.slow  # 60-70 s here: a local Ray instance starts, its encoder actor loads the model
def test_ray_engine_makes_the_local_runners_collection(tmp_path, model, needs_ray):
    from vsearch.store.tokens import TokenStore

    photos = make_photos(tmp_path / "photos")  # formats, a duplicate, broken files
    reranker, fingerprint = reranker_file(tmp_path)
    local_ingest(photos, tmp_path / "local", model, reranker=reranker)
    s = ray_ingest(photos, tmp_path / "ray", "--reranker", str(reranker))
    assert s["errors"] == 3 and s["duplicates"] == 1
    ray_snapshot = snapshot(tmp_path / "ray", "photos")
    assert_same_collection(ray_snapshot, snapshot(tmp_path / "local", "photos"))
    ids = list(ray_snapshot[2])  # the reranker's tokens are stored alongside, as the local runner does
    ray_tokens = TokenStore(tmp_path / "ray" / "photos", fingerprint).lookup(ids)
    local_tokens = TokenStore(tmp_path / "local" / "photos", fingerprint).lookup(ids)
    for a, b in zip(ray_tokens, local_tokens):
        assert a is not None and b is not None
        np.testing.assert_allclose(a.astype(np.float32), b.astype(np.float32), rtol=1e-3, atol=1e-3)

    again = ray_ingest(photos, tmp_path / "ray")  # nothing changed: nothing read, Ray not started
    assert again["encoded"] == 0 and again["unchanged"] == s["images"]


@pytest.mark.slow  # ~70 s here: three ingests, two of them Ray jobs
def test_killed_ray_job_resumes_to_a_clean_run(tmp_path, model, needs_ray):
    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(0)
    for i in range(N_KILLED):
        Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(photos / f"p{i:03d}.png")
    home = tmp_path / "killed"
    shards = home / "photos" / "vectors"
    p = ray_ingest(photos, home, "--batch-size", str(BATCH), wait=False)
    deadline = time.time() + 300
    while time.time() < deadline and len(list(shards.glob("shard-*.parquet"))) < 2 and p.poll() is None:
        time.sleep(0.02)
    kill_session(p)
    assert not (home / "photos" / "manifest.json").exists(), "the job finished before it was killed"
    from vsearch.store.vectors import VectorStore

    before = len(list(shards.glob("shard-*.parquet")))
    assert 2 <= before < N_KILLED // BATCH
    stored = len(VectorStore(shards, model.embed_dim).known_ids())

    resumed = ray_ingest(photos, home, "--batch-size", str(BATCH))
    assert resumed["images"] == N_KILLED
    assert resumed["encoded"] == N_KILLED - stored  # what was in shards is not encoded again
    local_ingest(photos, tmp_path / "clean", model, batch=BATCH)
    assert_same_collection(snapshot(home, "photos"), snapshot(tmp_path / "clean", "photos"))


def test_ray_address_needs_the_ray_engine(tmp_path):
    from vsearch.cli import app

    r = CliRunner().invoke(app, ["ingest", str(tmp_path), "--ray-address", "auto"])
    assert r.exit_code == 2 and "--ray-address needs --engine ray" in r.output


def test_a_stalled_ray_job_stops_with_a_resume_hint(needs_ray, monkeypatch):
    """The no-progress limit is vsearch's 10 minutes unless Ray's variable says otherwise, and the
    error Ray Data raises when it is reached is one library error that says to run it again."""
    from ray.data import DataContext
    from ray.data.exceptions import ExecutionTimeoutError

    from vsearch.errors import VsearchError
    from vsearch.pipeline import ray_runner

    ctx = DataContext.get_current()
    before = ctx.execution_no_progress_timeout_s
    try:
        monkeypatch.delenv(ray_runner.STALL_ENV, raising=False)
        ray_runner._quiet_data()
        assert ctx.execution_no_progress_timeout_s == ray_runner.STALL_TIMEOUT_S
        ctx.execution_no_progress_timeout_s = 77.0
        monkeypatch.setenv(ray_runner.STALL_ENV, "77")
        ray_runner._quiet_data()
        assert ctx.execution_no_progress_timeout_s == 77.0  # the variable decides, as Ray reads it
    finally:
        ctx.execution_no_progress_timeout_s = before
    stalled = ExecutionTimeoutError("Dataset execution made no progress for at least 600s of scheduling time.\n"
                                    "Operators still running:\n  - MapBatches(decode_block): 1 active task(s)")
    e = ray_runner._unwrap(stalled)
    assert type(e) is VsearchError and "\n" not in str(e)
    assert "made no progress for at least 600s" in str(e) and "run it again to resume" in str(e)
