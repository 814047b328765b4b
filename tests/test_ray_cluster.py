"""--engine ray beyond one process group: a Ray cluster of three nodes on this machine (a head,
two workers of 2 CPUs each, `ray.cluster_utils.Cluster`: separate raylets, object stores and
worker processes, as on separate machines that share a filesystem).

- decode tasks and encoder actors run on both workers, and the collection equals the local
  runner's;
- the driver killed mid-job: a rerun resumes (what is in shards is not encoded again) and equals
  a clean run;
- `ingest/job.py` through `ray job submit` to the cluster's job server;
- `vsearch reindex --engine ray`: the index's parts filled on both workers, merged on the driver;
- every worker killed mid-job (Ray waits for capacity): the driver stops with a library error
  once nothing has moved for the no-progress limit, and a rerun resumes to a clean run;
- a worker node killed mid-job: the job still finishes (Ray retries the lost tasks and restarts
  the lost encoder on the other worker, beside its own, which must leave a CPU slot for the
  retried decode tasks; a batch written twice is one content id twice, which the shards resolve
  to one vector) and the collection equals a clean run.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from test_ray import assert_same_collection, local_ingest, snapshot

REPO = Path(__file__).resolve().parents[1]
BATCH = 4
pytestmark = pytest.mark.slow


class Nodes:
    """The cluster process of tests/ray_nodes.py, and the commands it takes."""

    def __init__(self):
        self.p = subprocess.Popen([sys.executable, str(Path(__file__).with_name("ray_nodes.py"))], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True, start_new_session=True)
        first = self._answer()
        self.address, self.webui, self.workers = first["address"], first["webui"], first["workers"]

    def _answer(self) -> dict:
        line = self.p.stdout.readline()
        assert line, "the Ray cluster process died"
        return json.loads(line)

    def command(self, cmd: str) -> None:
        self.p.stdin.write(cmd + "\n")
        self.p.stdin.flush()
        self.workers = self._answer()["workers"]

    def close(self) -> None:
        self.p.stdin.close()
        try:
            self.p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.p.pid, signal.SIGKILL)
            self.p.wait()


@pytest.fixture(scope="module")
def cluster():
    pytest.importorskip("ray.data", reason="the `ray` extra is not installed")
    pytest.importorskip("aiohttp", reason="the job server needs ray[default] (the `ray` extra)")
    nodes = Nodes()
    yield nodes
    nodes.close()


def photo_folder(root: Path, n: int, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(root / f"p{i:03d}.png")
    return root


def cluster_ingest(address: str, folder: Path, home: Path, *extra: str, wait: bool = True, env: dict | None = None):
    """`vsearch ingest --engine ray --ray-address ADDRESS` as its own process (the driver)."""
    cmd = [sys.executable, "-m", "vsearch.cli", "ingest", str(folder), "--home", str(home), "--engine", "ray",
           "--ray-address", address, "--batch-size", str(BATCH), "--json", *extra]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env=None if env is None else {**os.environ, **env})
    if not wait:
        return p
    out, err = p.communicate(timeout=600)
    assert p.returncode == 0, err[-3000:]
    return json.loads(out)


def shards(home: Path, name: str) -> list[Path]:
    return sorted((home / name / "vectors").glob("shard-*.parquet"))


def wait_for_shards(p: subprocess.Popen, home: Path, name: str, n: int) -> None:
    deadline = time.time() + 300
    while time.time() < deadline and len(shards(home, name)) < n:
        assert p.poll() is None, p.communicate()[1][-3000:]
        time.sleep(0.05)
    assert len(shards(home, name)) >= n, "no progress"


def test_decode_and_encode_span_the_nodes(cluster, tmp_path, model):
    photos = photo_folder(tmp_path / "photos", 256)
    s = cluster_ingest(cluster.address, photos, tmp_path / "ray")
    assert s["images"] == 256 and s["encoded"] == 256, s["nodes"]
    worker_ids = set(cluster.workers)
    assert set(s["nodes"]["decoded"]) == worker_ids  # decode tasks ran on both workers
    assert set(s["nodes"]["encoded"]) == worker_ids, s["nodes"]  # and so did the encoder actors
    assert sum(s["nodes"]["encoded"].values()) == 256
    local_ingest(photos, tmp_path / "local", model, batch=BATCH)
    assert_same_collection(snapshot(tmp_path / "ray", "photos"), snapshot(tmp_path / "local", "photos"))


def test_killed_driver_resumes_on_the_cluster(cluster, tmp_path, model):
    photos = photo_folder(tmp_path / "photos", 96, seed=1)
    home = tmp_path / "killed"
    p = cluster_ingest(cluster.address, photos, home, wait=False)
    wait_for_shards(p, home, "photos", 2)
    p.send_signal(signal.SIGKILL)  # the driver only: the cluster lives on, and drops the job's workers
    p.wait()
    assert not (home / "photos" / "manifest.json").exists(), "the job finished before it was killed"
    time.sleep(1)  # let the dead job's last actor call land, if it was writing
    from vsearch.store.vectors import VectorStore

    stored = len(VectorStore(home / "photos" / "vectors", model.embed_dim).known_ids())
    assert 0 < stored < 96
    resumed = cluster_ingest(cluster.address, photos, home)
    assert resumed["images"] == 96
    assert resumed["encoded"] <= 96 - stored  # what was in shards is not encoded again
    local_ingest(photos, tmp_path / "clean", model, batch=BATCH)
    assert_same_collection(snapshot(home, "photos"), snapshot(tmp_path / "clean", "photos"))


def test_ingest_job_through_ray_job_submit(cluster, tmp_path, model):
    photos = photo_folder(tmp_path / "photos", 16, seed=2)
    home = tmp_path / "submitted"
    r = subprocess.run(["ray", "job", "submit", "--address", f"http://{cluster.webui}", "--working-dir",
                        str(REPO / "ingest"), "--", "python", "job.py", str(photos), "--home", str(home),
                        "--batch-size", str(BATCH), "--json"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    assert "succeeded" in r.stdout + r.stderr
    local_ingest(photos, tmp_path / "clean", model, batch=BATCH)
    assert_same_collection(snapshot(home, "photos"), snapshot(tmp_path / "clean", "photos"))


def test_worker_node_killed_mid_job(cluster, tmp_path, model):
    photos = photo_folder(tmp_path / "photos", 160, seed=3)
    home = tmp_path / "survived"
    p = cluster_ingest(cluster.address, photos, home, wait=False)
    wait_for_shards(p, home, "photos", 3)
    assert not (home / "photos" / "manifest.json").exists(), "the job finished before the node was killed"
    cluster.command("kill 1")  # its raylet, object store and workers killed at once
    try:
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0 and out.strip(), err[-3000:]
        s = json.loads(out)
        assert s["images"] == 160
        local_ingest(photos, tmp_path / "clean", model, batch=BATCH)
        assert_same_collection(snapshot(home, "photos"), snapshot(tmp_path / "clean", "photos"))
    finally:
        cluster.command("add")  # the cluster as it was, for whatever runs next


def test_every_worker_killed_stops_the_job_then_a_rerun_resumes(cluster, tmp_path, model):
    """Work that no node can take (both workers lost: nothing left with a CPU) is a case Ray does
    not recover from: it waits for capacity. The driver stops once nothing has moved for the
    no-progress limit (20 s here, 10 min by default) with one line that says to run it again,
    commits nothing, and the rerun on a cluster with workers again resumes to a clean run's
    collection."""
    photos = photo_folder(tmp_path / "photos", 96, seed=4)
    home = tmp_path / "stopped"
    p = cluster_ingest(cluster.address, photos, home, wait=False, env={"RAY_DATA_EXECUTION_NO_PROGRESS_TIMEOUT_S": "20"})
    try:
        wait_for_shards(p, home, "photos", 2)
        assert not (home / "photos" / "manifest.json").exists(), "the job finished before the nodes were killed"
        cluster.command("kill 1")
        cluster.command("kill 0")
        out, err = p.communicate(timeout=300)  # stopped, not waiting forever
        assert p.returncode == 2, err[-3000:]  # a library error: one line, no traceback
        assert "Traceback" not in err and "run it again to resume" in err, err[-3000:]
        assert not (home / "photos" / "manifest.json").exists()
    finally:
        p.kill()
        while len(cluster.workers) < 2:
            cluster.command("add")
    from vsearch.store.vectors import VectorStore

    stored = len(VectorStore(home / "photos" / "vectors", model.embed_dim).known_ids())
    resumed = cluster_ingest(cluster.address, photos, home)
    assert resumed["images"] == 96 and resumed["encoded"] <= 96 - stored and stored > 0
    local_ingest(photos, tmp_path / "clean", model, batch=BATCH)
    assert_same_collection(snapshot(home, "photos"), snapshot(tmp_path / "clean", "photos"))


def test_index_parts_filled_on_the_nodes_and_merged(cluster, tmp_path, monkeypatch):
    """The distributed index build (pipeline/ray_index.py): trained once on the driver, parts
    filled by tasks on both workers from the shards, merged on disk; it answers as the same index
    built on one machine from the same vectors."""
    import ray

    from vsearch.index.auto import choose_and_build_chunks
    from vsearch.pipeline import ray_index
    from vsearch.store.collection import CollectionStore

    rng = np.random.default_rng(0)
    d, n = 32, 6000
    vecs = rng.standard_normal((n, d)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    ids = rng.choice(2**62, n, replace=False).astype(np.int64)
    store = CollectionStore(tmp_path / "big")
    vectors = store.vectors(d)
    for a in range(0, n, 500):  # 12 shards, as ingest batches leave them
        vectors.write_shard([{"id": int(i), "digest": ""} for i in ids[a:a + 500]], vecs[a:a + 500])
    live = np.sort(ids[:5500])  # the rest: vectors whose photos are gone
    monkeypatch.setattr(ray_index, "part_rows", lambda cls, dim, params: 1000)  # 6 parts
    ray.init(address=cluster.address, logging_level="WARNING")
    try:
        index, record, workdir = ray_index.build_on_ray(ray, store, live, d, "ivfsq8")
    finally:
        ray.shutdown()
    assert index.mmapped and index.ntotal == 5500 and (workdir / "merged" / "lists.ivfdata").is_file()
    assert set(record["nodes"]) == set(cluster.workers) and sum(record["nodes"].values()) == 5500
    assert not list(workdir.glob("part-*"))  # merged, then removed
    local, local_record = choose_and_build_chunks(vectors.chunks(live), "ivfsq8")
    assert record["params"] == local_record["params"] and record["recall_at_10"] == local_record["recall_at_10"]
    q = vecs[rng.choice(n, 50, replace=False)]
    a, b = local.search(q, 10), index.search(q, 10)
    np.testing.assert_array_equal(a[1], b[1])
    np.testing.assert_allclose(a[0], b[0], atol=1e-6)


def test_reindex_engine_ray_fills_the_parts_on_the_nodes(cluster, tmp_path, monkeypatch):
    """`vsearch reindex --engine ray` (the library call the CLI makes): the collection's IVF index
    rebuilt with its parts filled on both workers; it finds every vector as the local build did,
    and the work folder is gone."""
    from conftest import unit_rows
    from test_import import clip_retrieval_folder
    from vsearch import open_collection
    from vsearch.pipeline import ray_index
    from vsearch.pipeline.importing import import_embeddings
    from vsearch.pipeline.reindex import reindex

    n = 3000
    vecs = unit_rows(n, 256, seed=5)
    paths = [f"/nowhere/big/{i:05d}.jpg" for i in range(n)]
    home = tmp_path / "home"
    import_embeddings(clip_retrieval_folder(tmp_path / "big", paths, vecs), "align-lite", home=home, roots=["/nowhere"],
                      index_type="ivfsq8")
    monkeypatch.setattr(ray_index, "part_rows", lambda cls, dim, params: 1000)  # 3 parts, whatever the shards
    r = reindex("big", home=home, engine="ray", ray_address=cluster.address)
    assert r["index"]["type"] == "ivfsq8" and r["vectors"] == n
    assert set(r["nodes"]) == set(cluster.workers) and sum(r["nodes"].values()) == n
    assert not [p for p in (home / "big").iterdir() if p.name.startswith(".tmp-")]
    col = open_collection("big", home=home)
    picks = range(0, n, 150)
    assert [col.search(vector=vecs[i], k=1)[0].path for i in picks] == [paths[i] for i in picks]
