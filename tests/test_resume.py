"""kill -9 in the middle of an ingest, then run it again: the result equals a clean run."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pyarrow.parquet as pq

from conftest import need_flickr

N_IMAGES = 64


def run_ingest(folder, home, batch=4, wait=True):
    env = {**os.environ, "VSEARCH_HOME": str(home)}
    cmd = [sys.executable, "-m", "vsearch.cli", "ingest", str(folder), "--batch-size", str(batch), "--json"]
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if wait:
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0, err
        return json.loads(out)
    return p


def snapshot(home):
    folder = home / "photos"
    manifest = json.loads((folder / "manifest.json").read_text())
    images = pq.read_table(folder / manifest["files"]["images"]).drop_columns(["root"]).to_pylist()
    from vsearch.store.vectors import VectorStore

    ids, vecs, _ = VectorStore(folder / "vectors", manifest["model"]["embed_dim"]).load(
        np.array([r["id"] for r in images], dtype=np.int64))
    return images, dict(zip(ids.tolist(), vecs))


def test_kill_9_then_resume_equals_clean_run(tmp_path):
    flickr = need_flickr()
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in sorted(os.listdir(flickr / "images"))[:N_IMAGES]:
        shutil.copy(flickr / "images" / name, photos / name)

    killed_home = tmp_path / "killed"
    p = run_ingest(photos, killed_home, wait=False)
    shards = killed_home / "photos" / "vectors"
    deadline = time.time() + 300
    while time.time() < deadline and len(list(shards.glob("shard-*.parquet"))) < 3:
        time.sleep(0.05)
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    assert not (killed_home / "photos" / "manifest.json").exists()  # killed before its commit
    done_before = len(list(shards.glob("shard-*.parquet")))
    assert 3 <= done_before < N_IMAGES // 4

    resumed = run_ingest(photos, killed_home)
    assert resumed["images"] == N_IMAGES
    assert resumed["encoded"] <= N_IMAGES - 4 * 3  # picked up where it was, encoded nothing twice

    clean_home = tmp_path / "clean"
    run_ingest(photos, clean_home)
    killed_rows, killed_vecs = snapshot(killed_home)
    clean_rows, clean_vecs = snapshot(clean_home)
    assert killed_rows == clean_rows
    assert killed_vecs.keys() == clean_vecs.keys() and len(killed_vecs) == N_IMAGES
    for k in clean_vecs:
        np.testing.assert_allclose(killed_vecs[k], clean_vecs[k], atol=2e-3)
