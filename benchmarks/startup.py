"""Start-up and small-change costs, as a user meets them: whole `vsearch` processes (imports are
the point), wall time from launch to exit, median of several runs.

    python benchmarks/startup.py [--runs 5] [--cold-runs 3] [--sizes 10000[,100000]] [--baseline SRC]
    python benchmarks/startup.py --pieces 3      # what a first run is made of, piece by piece

Rows (targets on a 2-core CPU, from the issue "a small folder ingests in seconds"):
  * `vsearch ingest` of the 24 example photos with cold caches: a fresh VSEARCH_CACHE, HOME and
    index home, so the ONNX exports are made in the run (<= 10 s);
  * the same with warm caches, into a fresh index home (<= 3 s);
  * adding 10 photos to a collection of N images (<= 3 s at 10k): the N are synthetic vectors
    stored as real shards (so the ingest's plan sees them as stored) under rows whose files
    exist (hard links), so the scan, the plan and the commit do their real work;
  * a cold `vsearch query "a dog"` on the 24 photos (<= 1 s).
Each ingest row also gives the median of the phases the ingest reports (`--json` timings).

`--baseline SRC` runs the same rows against another vsearch source tree (e.g. a checkout of the
commit before this work) in the same session and prints the ratios; without it the figures the
issue measured before are printed for comparison.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples" / "photos"
ISSUE_BEFORE = {"cold24": None, "warm24": 15.2, "query": 1.2}  # the issue's measurements (2-core CPU)
TARGETS = {"cold24": 10.0, "warm24": 3.0, "add10": 3.0, "query": 1.0}


def vsearch(src: Path, args: list[str], env: dict[str, str]) -> tuple[float, dict | list]:
    """(wall seconds, parsed --json output) of one `vsearch` process run from source tree `src`."""
    env = {**env, "PYTHONPATH": str(src)}
    t = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "vsearch.cli", *args, "--json"], env=env, cwd=src, capture_output=True,
                       text=True)  # cwd: `-m` puts the working folder first on sys.path
    wall = time.perf_counter() - t
    if p.returncode != 0:
        raise SystemExit(f"vsearch {' '.join(args)} failed:\n{p.stderr[-3000:]}")
    return wall, json.loads(p.stdout)


def make_big_collection(home: Path, root: Path, n: int) -> str:
    """A committed collection of n images under `root`: synthetic unit vectors written as real
    vector shards, rows naming real files (hard links of one small file), index and hubness
    biases built by `reindex` — as after ingesting n photos."""
    import pyarrow as pa

    import vsearch
    from vsearch.models.handle import ModelHandle
    from vsearch.models.identity import model_record
    from vsearch.store.collection import CollectionStore
    from vsearch.store.tables import images_table
    from vsearch.store.manifest import IndexRecord, Manifest

    handle = ModelHandle.open()
    root.mkdir(parents=True)
    first = sorted(EXAMPLES.iterdir())[0]
    for d in range(100):  # a hidden seed file per folder (one file takes at most 65k links)
        (root / f"f{d}").mkdir()
        shutil.copy(first, root / f"f{d}" / ".seed.jpg")
        os.utime(root / f"f{d}" / ".seed.jpg", ns=(1_600_000_000 * 10**9, 1_600_000_000 * 10**9))
    st = (root / "f0" / ".seed.jpg").stat()
    ids = np.arange(1, n + 1, dtype=np.int64)
    paths = [f"f{i % 100}/img{i}.jpg" for i in ids]
    for p in paths:
        os.link(root / p.partition("/")[0] / ".seed.jpg", root / p)
    rng = np.random.default_rng(0)
    d = handle.embed_dim
    vecs = rng.normal(size=(n, d)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    name = root.name
    store = CollectionStore(home / name)
    vectors = store.vectors(d)
    rows = [{"id": int(i), "digest": f"{i:032x}", "width": 500, "height": 375} for i in ids]
    for s in range(0, n, 8192):  # a compacted collection: a few large shards
        vectors.write_shard(rows[s:s + 8192], vecs[s:s + 8192])
    mtime = pa.scalar(st.st_mtime_ns // 1000, pa.timestamp("us", tz="UTC"))
    images = images_table({
        "id": ids, "path": paths, "root": [str(root)] * n, "folder": [p.rpartition("/")[0] for p in paths],
        "digest": [f"{i:032x}" for i in ids], "bytes": np.full(n, st.st_size), "mtime": pa.array([mtime.as_py()] * n, mtime.type),
        "mtime_ns": np.full(n, st.st_mtime_ns), "width": np.full(n, 500, dtype=np.int32),
        "height": np.full(n, 375, dtype=np.int32), "taken_at": [None] * n, "camera": [None] * n,
        "orientation": [None] * n, "raw_path": [None] * n})
    m = Manifest(model=model_record(handle), index=IndexRecord(),
                 counts={"images": n, "vectors": n, "errors": 0, "texts": 0}, roots=[str(root)])
    store.commit(m, images=images)
    vsearch.reindex(name, home=home)
    return name


def first_run_pieces() -> dict[str, float]:
    """What a first run is made of, each piece timed in turn in this (fresh) process with an
    empty cache: importing PyTorch, building the towers (timm's import included), exporting each
    graph, starting each ONNX Runtime session, the hubness centres."""
    import importlib

    t0 = time.perf_counter()
    out: dict[str, float] = {}

    def lap(name: str) -> None:
        nonlocal t0
        now = time.perf_counter()
        out[name] = now - t0
        t0 = now

    import vsearch.cli  # noqa: F401  (what every command imports)
    import pyarrow.parquet  # noqa: F401
    lap("import vsearch.cli, pyarrow (numpy before)")
    importlib.import_module("torch")
    lap("import torch")
    from vsearch.models import load_model
    from vsearch.models.handle import ModelHandle
    from vsearch.models.image_encoder import encoder_for

    model = load_model()
    lap("model skeleton (weights read)")
    importlib.import_module("timm")
    lap("import timm (torchvision, torch._dynamo)")
    _ = model.image
    lap("build image tower")
    _ = model.text
    lap("build text tower")
    h = ModelHandle.open(model)
    h.exports.image_export()
    lap("export image graph")
    h.exports.export_text()
    lap("export text graph")
    fresh = ModelHandle.open()
    enc = encoder_for(fresh)
    lap("ONNX Runtime image session")
    enc.encode(np.zeros((24, fresh.preprocess.size, fresh.preprocess.size, 3), np.uint8))
    lap("encode 24 images (ONNX Runtime)")
    fresh.encode_texts(["a dog"])
    lap("ONNX Runtime text session + 1 text")
    from vsearch.models.hubness import Hubness

    hb = fresh.hubness
    Hubness(hb.texts, hb.images, hb.beta_t2i, hb.lambda_t2i, hb.beta_i2t, hb.lambda_i2t)._centre_img
    lap("hubness image centre (not shipped)")
    return out


ROWS = {"cold24": "ingest 24 photos, cold caches", "warm24": "ingest 24 photos, warm caches",
        "query": 'cold `vsearch query "a dog"`'}


def phase_medians(phases: list[dict]) -> str:
    keys = list(dict.fromkeys(k for p in phases for k in p))
    med = {k: statistics.median(p.get(k, 0.0) for p in phases) for k in keys}
    return ", ".join(f"{k} {v:.2f}" for k, v in med.items() if v >= 0.01)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5, help="runs of each warm row")
    ap.add_argument("--cold-runs", type=int, default=3, help="runs of the cold-cache row")
    ap.add_argument("--sizes", default="10000", help="collection sizes for the add-10-photos row")
    ap.add_argument("--baseline", type=Path, default=None, help="another vsearch source tree to compare with")
    ap.add_argument("--pieces", type=int, default=0, metavar="N",
                    help="only time the pieces of a first run, in N fresh processes, and print their medians")
    ap.add_argument("--pieces-child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.pieces_child:
        print(json.dumps(first_run_pieces()))
        return
    if args.pieces:
        runs = []
        for _ in range(args.pieces):
            with tempfile.TemporaryDirectory() as cache:
                p = subprocess.run([sys.executable, __file__, "--pieces-child"], capture_output=True, text=True,
                                   env={**os.environ, "VSEARCH_CACHE": cache, "PYTHONPATH": str(REPO)}, cwd=REPO)
                if p.returncode != 0:
                    raise SystemExit(p.stderr[-3000:])
                runs.append(json.loads(p.stdout.strip().splitlines()[-1]))
        print(f"{'piece of a first run':<44} {'median s':>8} {'min':>6} {'max':>6}")
        for k in runs[0]:
            v = [r[k] for r in runs]
            print(f"{k:<44} {statistics.median(v):8.2f} {min(v):6.2f} {max(v):6.2f}")
        return

    work = Path(tempfile.mkdtemp(prefix="vsearch-startup-"))
    base_env = {k: v for k, v in os.environ.items() if k != "VSEARCH_HOME"}
    trees = [("new", REPO, {**base_env, "VSEARCH_CACHE": str(work / "cache-new")})]
    if args.baseline:
        trees.append(("base", args.baseline.resolve(), {**base_env, "VSEARCH_CACHE": str(work / "cache-base")}))
    photos = work / "photos"
    shutil.copytree(EXAMPLES, photos)
    homes = iter(range(10**9))
    samples: dict[tuple[str, str], list[tuple[float, dict]]] = {}

    def ingest(tag: str, src: Path, env: dict, row: str | None, folder: Path, home: Path | None = None) -> None:
        home = home or work / f"home{next(homes)}"
        wall, s = vsearch(src, ["ingest", str(folder), "--home", str(home)], env)
        t = s.get("timings", {})
        if row:
            samples.setdefault((tag, row), []).append(
                (wall, {"imports": 0.0, **t, "exit": wall - s["elapsed_s"] - t.get("imports", 0.0)}))

    # Untimed: each tree's exports are made once (the warm rows), and the query's collection.
    qhomes = {}
    for tag, src, env in trees:
        qhomes[tag] = work / f"query-{tag}"
        ingest(tag, src, env, None, photos, qhomes[tag])
    # The trees take turns run by run, so that a machine busy for a while weighs on both alike.
    for i in range(max(args.runs, args.cold_runs)):
        for tag, src, env in trees:
            if i < args.cold_runs:  # cold caches: a fresh cache, HOME and index home
                cold = work / f"cold-{tag}-{i}"
                (cold / "home").mkdir(parents=True)
                ingest(tag, src, {**env, "VSEARCH_CACHE": str(cold / "cache"), "HOME": str(cold / "home")}, "cold24",
                       photos)
            if i < args.runs:
                ingest(tag, src, env, "warm24", photos)
                wall, _ = vsearch(src, ["query", "a dog", "--home", str(qhomes[tag]), "-k", "5"], env)
                samples.setdefault((tag, "query"), []).append((wall, {}))

    for n in [int(x) for x in args.sizes.split(",") if x]:
        big_home, root = work / f"big{n}", work / f"library{n}"
        sys.path.insert(0, str(REPO))
        name = make_big_collection(big_home, root, n)
        pristine = work / f"big{n}-pristine"
        shutil.copytree(big_home / name, pristine)
        (root / "new").mkdir()
        for p in sorted(EXAMPLES.iterdir())[:10]:
            shutil.copy(p, root / "new" / p.name)
        ROWS[f"add10@{n}"] = f"add 10 photos to {n:,} images"
        for _ in range(args.runs):
            # The big collection is made in this tree's format, which an older tree may not read:
            # this row is timed for this tree only.
            for tag, src, env in trees[:1]:
                shutil.rmtree(big_home / name)
                shutil.copytree(pristine, big_home / name)
                ingest(tag, src, env, f"add10@{n}", root, big_home)

    print(f"{'what':<34} {'median':>7} {'min':>6} {'max':>6} {'target':>7} {'met':>4} {'before':>7} {'ratio':>6}  "
          f"phases of this tree (median s)")
    for row, label in ROWS.items():
        if ("new", row) not in samples:
            continue
        walls = [w for w, _ in samples[("new", row)]]
        med = statistics.median(walls)
        target = TARGETS.get(row.split("@")[0])
        base = samples.get(("base", row))
        before = statistics.median(w for w, _ in base) if base else ISSUE_BEFORE.get(row)
        print(f"{label:<34} {med:7.2f} {min(walls):6.2f} {max(walls):6.2f} {target or '':>7} "
              f"{('yes' if med <= target else 'NO') if target else '':>4} {f'{before:.2f}' if before else '-':>7} "
              f"{f'{before / med:5.1f}x' if before else '':>6}  {phase_medians([p for _, p in samples[('new', row)]])}")
        if base and any(p for _, p in base):
            print(f"{'':<34} {'':>7} {'':>6} {'':>6} {'':>7} {'':>4} {'':>7} {'':>6}  baseline: "
                  f"{phase_medians([p for _, p in base])}")
    print(f"\nwall seconds per process, {args.runs} runs ({args.cold_runs} cold); before: "
          f"{'the --baseline tree, runs alternating with these' if args.baseline else 'the issue (2-core CPU)'}; "
          f"phases: `vsearch ingest --json` timings, exit = wall time outside the ingest and the imports")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
