"""Query latency: warm `Collection.search()` (text query, k=10) at 10k and 100k vectors, and the
cold `vsearch query` wall time (a new process: imports, model and index loading included).

    python benchmarks/query.py [--sizes 10000,100000] [--queries 50]
    python benchmarks/query.py --fresh COLLECTION --home DIR --vectors queries.npy

`--fresh` is the first queries after an ingest, an import or a restart: this process opens an
existing collection (benchmarks/scale.py makes them, then runs this right after) and times
`Collection.search_vector` for each query vector (hubness-corrected, as a text query is): the
first 100 (the index opened on the first) and the next 1,000 (steady state). It prints one
JSON line: open time, p50/p95 of both, and the process's private and mapped memory.

Collections are synthetic (clustered random unit vectors in the default model's space, with
metadata rows) so that 100k images need no 100k photos; the query path is the real one.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

QUERIES = ["a dog running on the beach", "two children playing in the snow", "a man riding a red bicycle",
           "people sitting at a cafe table", "a black and white cat", "a skateboarder jumping", "a crowd at a concert"]


def make_collection(home: Path, n: int, model, root: str = "/photos", vectors: tuple[np.ndarray, np.ndarray] | None = None,
                    shards: bool = False, name: str | None = None) -> str:
    """A committed collection of n synthetic vectors whose rows name files root/f<i%100>/img<i>.jpg.
    `vectors`: (ids, vectors) to use instead of clustered random ones; `shards`: also store them as
    vector shards, so that a later `vsearch ingest` into the collection can commit over them."""
    from datetime import datetime, timezone

    from vsearch.models.identity import model_record
    from vsearch.store.collection import BIAS_SCHEMA, CollectionStore
    from vsearch.store.tables import images_table
    from vsearch.index import choose_and_build
    from vsearch.store.manifest import IndexRecord, Manifest

    rng = np.random.default_rng(0)
    d = model.embed_dim
    if vectors is None:
        centers = rng.normal(size=(200, d)).astype(np.float32)
        vecs = centers[rng.integers(0, 200, n)] + 0.6 * rng.normal(size=(n, d)).astype(np.float32)
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        ids = np.arange(1, n + 1, dtype=np.int64)
    else:
        ids, vecs = vectors
    now = datetime.now(timezone.utc)
    images = images_table({
        "id": ids, "path": [f"f{i % 100}/img{i}.jpg" for i in ids], "root": [root] * n,
        "folder": [f"f{i % 100}" for i in ids], "digest": [f"{i:032x}" for i in ids], "bytes": np.full(n, 2_000_000),
        "mtime": [now] * n, "mtime_ns": np.zeros(n, dtype=np.int64), "width": np.full(n, 4000, dtype=np.int32),
        "height": np.full(n, 3000, dtype=np.int32), "taken_at": [None] * n, "camera": [None] * n,
        "orientation": [None] * n, "raw_path": [None] * n})
    name = name or f"synthetic{n}"
    store = CollectionStore(home / name)
    if shards:
        rows = images.select(["id", "digest", "bytes", "mtime_ns", "width", "height", "taken_at", "camera", "orientation"]).to_pylist()
        vector_store = store.vectors(d)
        for start in range(0, n, 20_000):
            vector_store.write_shard(rows[start:start + 20_000], vecs[start:start + 20_000])
    index, record = choose_and_build(ids, vecs, "auto", text_queries=model.hubness.texts, image_queries=model.hubness.images)
    m = Manifest(model=model_record(model), index=IndexRecord.from_json({**record, "type": index.kind, "params": index.params,
                                                                         "requested": "auto"}),
                 counts={"images": n, "vectors": n, "errors": 0, "texts": 0}, roots=[root])
    # As ingest does: each image's hubness correction, so text queries pay for re-ranking k + 200.
    bias = pa.table({"id": ids, "bias": model.hubness.image_bias(vecs)},
                    schema=BIAS_SCHEMA.with_metadata({"hubness": model.hubness.signature}))
    store.commit(m, images=images, index=index, image_bias=bias)
    return name


def status_mb(field: str) -> float:
    with open("/proc/self/status") as f:
        return next((int(line.split()[1]) for line in f if line.startswith(field + ":")), 0) / 1024


def fresh(name: str, home: Path, vectors: Path, first: int = 100, prefetch: bool = True) -> dict:
    """Open `name` in this (new) process and time each query vector; see the module docstring.
    `prefetch=False`: as before the index was pre-faulted at open (the baseline)."""
    import vsearch

    queries = np.load(vectors).astype(np.float32)
    base_anon = status_mb("RssAnon")
    t = time.perf_counter()
    col = vsearch.open_collection(name, home=home, prefetch=prefetch)
    open_s = time.perf_counter() - t
    lat = []
    for q in queries:
        t = time.perf_counter()
        hits = col.search_vector(q, k=10, hubness=True)
        lat.append((time.perf_counter() - t) * 1000)
        assert len(hits) == 10
    a, b = np.array(lat[:first]), np.array(lat[first:])
    return {"index": col.info(disk_usage=False)["index"]["type"], "vectors": col.info(disk_usage=False)["counts"]["vectors"],
            "open_s": round(open_s, 3), "first_p50": float(np.median(a)), "first_p95": float(np.percentile(a, 95)),
            "next_p50": float(np.median(b)) if len(b) else None, "next_p95": float(np.percentile(b, 95)) if len(b) else None,
            "first_query_ms": lat[0], "anon_mb": status_mb("RssAnon") - base_anon, "file_mb": status_mb("RssFile"),
            "load": os.getloadavg()[0]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--queries", type=int, default=50)
    ap.add_argument("--cold-runs", type=int, default=5)
    ap.add_argument("--fresh", metavar="COLLECTION", help="time the first queries on an existing collection")
    ap.add_argument("--home", type=Path)
    ap.add_argument("--vectors", type=Path, help="query vectors (.npy, float32 [n, d]) for --fresh")
    ap.add_argument("--no-prefetch", action="store_true", help="--fresh without pre-faulting the index (the baseline)")
    args = ap.parse_args()
    if args.fresh:
        print(json.dumps(fresh(args.fresh, args.home, args.vectors, prefetch=not args.no_prefetch)))
        return

    import vsearch
    from vsearch.models import load_model

    model = load_model()
    home = Path(tempfile.mkdtemp(prefix="vsearch-bench-"))
    print(f"{'vectors':>8} {'index':>6} {'warm p50 ms':>12} {'warm p95 ms':>12} {'filtered p50 ms':>16} {'cold CLI s (median)':>20}")
    for n in [int(s) for s in args.sizes.split(",")]:
        name = make_collection(home, n, model)
        col = vsearch.open_collection(name, home=home, model=model)
        col.search(QUERIES[0], k=10)  # warm-up: index loaded
        lat, flat = [], []
        for i in range(args.queries):
            t = time.perf_counter()
            hits = col.search(QUERIES[i % len(QUERIES)], k=10)
            lat.append((time.perf_counter() - t) * 1000)
            assert len(hits) == 10
        for i in range(max(5, args.queries // 5)):
            t = time.perf_counter()
            col.search(QUERIES[i % len(QUERIES)], k=10, where="folder = 'f7'")
            flat.append((time.perf_counter() - t) * 1000)
        cold = []
        env = {**os.environ, "VSEARCH_HOME": str(home)}
        for i in range(args.cold_runs):
            t = time.perf_counter()
            subprocess.run([sys.executable, "-m", "vsearch.cli", "query", QUERIES[i % len(QUERIES)], "-c", name, "--json"],
                           env=env, check=True, capture_output=True)
            cold.append(time.perf_counter() - t)
        q = statistics.quantiles(lat, n=20)
        print(f"{n:>8} {col.info()['index']['type']:>6} {statistics.median(lat):>12.1f} {q[18]:>12.1f} "
              f"{statistics.median(flat):>16.1f} {statistics.median(cold):>20.2f}")


if __name__ == "__main__":
    main()
