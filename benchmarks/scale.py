"""The product path at scale: `vsearch import` of N vectors, queries in a fresh process right after,
adding 10k vectors to the collection, and `vsearch reindex` — wall time and peak memory of each.

    python benchmarks/scale.py --sizes 1000000,2000000 [--index auto] [--add 10000] [--work DIR]

Vectors are drawn around the real Flickr8k photo vectors of align-lite as benchmarks/index.py draws
them, and written as a clip-retrieval output folder (`img_emb/*.npy` fp16 + `metadata/*.parquet`)
whose paths are not on this machine (embeddings made elsewhere: the usual import). Every command
runs as the user runs it, in its own process (`vsearch import … --json`); its process tree is
sampled every 50 ms for:
- peak RssAnon: the memory the command allocated (what must fit the machine), and
- peak RssFile: mapped file pages (the memory-mapped index and sources: page cache, shared and
  evictable), reported apart.
After the import, `benchmarks/query.py --fresh` opens the collection in a new process and times
the first 100 and the next 1,000 queries (real test-caption vectors, hubness-corrected as a text
query is). The machine may be shared: the load average is printed with each row.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from index import CACHE, REPO, Collection, flickr_vectors  # noqa: E402

PART = 500_000  # rows per img_emb_<n>.npy
# Fresh-process query runs right after the import: as the product opens a collection (pre-faulting
# the index), and as it did before (`--no-prefetch`); with the files still in the page cache, and
# with the collection's files dropped from it (a restart after the cache went to other work).
QUERY_RUNS = [("query", False, []), ("query before", False, ["--no-prefetch"]),
              ("query cold", True, []), ("query cold before", True, ["--no-prefetch"])]


def evict(folder: Path) -> None:
    """Drop a folder's files from the page cache (POSIX_FADV_DONTNEED: this process's files only)."""
    for p in folder.rglob("*"):
        if p.is_file():
            fd = os.open(p, os.O_RDONLY)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            os.close(fd)


def write_source(folder: Path, col: Collection, start: int, n: int, prefix: str) -> None:
    """A clip-retrieval output folder holding rows start..start+n of `col`."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    (folder / "img_emb").mkdir(parents=True)
    (folder / "metadata").mkdir()
    for part, s in enumerate(range(start, start + n, PART)):
        size = min(PART, start + n - s)
        _, vecs = col.chunk(s, size)
        np.save(folder / "img_emb" / f"img_emb_{part:04d}.npy", vecs.astype(np.float16))
        rows = np.arange(s, s + size)
        paths = [f"{prefix}/{i // 1000:05d}/{i:09d}.jpg" for i in rows.tolist()]
        pq.write_table(pa.table({"image_path": paths}), folder / "metadata" / f"metadata_{part:04d}.parquet")


def status_kb(pid: int) -> tuple[int, int]:
    """(RssAnon, RssFile) of one process, in kB (0, 0 once it is gone)."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0, 0
    got = {}
    for line in text.splitlines():
        if line.startswith(("RssAnon:", "RssFile:", "RssShmem:")):
            key, value = line.split(":")
            got[key] = int(value.split()[0])
    return got.get("RssAnon", 0), got.get("RssFile", 0) + got.get("RssShmem", 0)


def tree(pid: int) -> list[int]:
    """pid and every descendant."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return out


def run(cmd: list[str], env: dict) -> dict:
    """Run a command, sampling its process tree's memory; returns wall time, peaks and its JSON."""
    peak = {"anon": 0, "file": 0}
    samples: list[tuple[float, int]] = []  # (seconds since the start, RssAnon kB)
    t = time.perf_counter()
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def sample() -> None:
        while p.poll() is None:
            kb = [status_kb(q) for q in tree(p.pid)]
            anon = sum(a for a, _ in kb)
            samples.append((time.perf_counter() - t, anon))
            peak["anon"] = max(peak["anon"], anon)
            peak["file"] = max(peak["file"], sum(f for _, f in kb))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = p.communicate()
    wall = time.perf_counter() - t
    sampler.join()
    if p.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed ({p.returncode}):\n{err[-4000:]}")
    try:
        payload = json.loads(out)
    except ValueError:
        payload = {"stdout": out[-2000:]}
    return {"wall_s": wall, "anon_mb": peak["anon"] / 1024, "file_mb": peak["file"] / 1024, "json": payload,
            "phase_anon_mb": phase_peaks(samples, wall, payload), "load": os.getloadavg()[0]}


REST = "after the index"  # commit steps, duplicates, the generation's write, compaction, export


def phase_peaks(samples: list[tuple[float, int]], wall: float, payload: dict) -> dict[str, float]:
    """Peak RssAnon (MB) within each phase of a command's `timings` up to its index phase, and
    after it (REST): the laps are contiguous and end at `elapsed_s`, but `timings` adds a phase's
    laps together, and the commit's laps come before and after the duplicates', so only the
    phases up to the index have exact windows. Time before the first lap (interpreter start-up
    and imports) counts as "start"."""
    timings, elapsed = payload.get("timings") or {}, payload.get("elapsed_s")
    if not timings or elapsed is None:
        return {}
    edges, at = [("start", wall - elapsed)], wall - elapsed
    for phase, seconds in timings.items():
        at += seconds
        edges.append((phase, at))
        if phase == "index":
            break
    edges.append((REST, float("inf")))
    out: dict[str, float] = {}
    for t, kb in samples:
        phase = next(name for name, end in edges if t <= end)
        out[phase] = max(out.get(phase, 0.0), kb / 1024)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1000000")
    ap.add_argument("--index", default=None, help="--index for the import (default: the collection's auto)")
    ap.add_argument("--max-index-memory", default=None)
    ap.add_argument("--add", type=int, default=10_000, help="vectors added to each collection after its import")
    ap.add_argument("--queries", type=int, default=1_100)
    ap.add_argument("--no-reindex", action="store_true")
    ap.add_argument("--no-queries", action="store_true", help="skip the fresh-process query runs")
    ap.add_argument("--work", type=Path, default=CACHE / "scale")
    ap.add_argument("--keep", action="store_true", help="keep the collections and sources")
    ap.add_argument("--reuse-sources", action="store_true",
                    help="use the sources a kept run left in --work (the same sizes) instead of writing them again")
    ap.add_argument("--product-queries", action="store_true",
                    help="only the query runs as the product opens a collection (not the runs without the pre-fault)")
    args = ap.parse_args()

    data = flickr_vectors()
    rng = np.random.default_rng(7)
    queries = data["captions"][rng.permutation(len(data["captions"]))[:args.queries]]
    args.work.mkdir(parents=True, exist_ok=True)
    qfile = args.work / "queries.npy"
    np.save(qfile, queries.astype(np.float32))
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")}
    vsearch = [sys.executable, "-m", "vsearch.cli"]
    index_opts = (["--index", args.index] if args.index else []) + (
        ["--max-index-memory", args.max_index_memory] if args.max_index_memory else [])
    results = []
    for n in [int(float(s)) for s in args.sizes.split(",")]:
        col = Collection(data["images"], n + args.add)
        work = args.work / f"n{n}"
        home, name = work / "home", f"scale{n}"
        reuse = args.reuse_sources and (work / "source").is_dir() and (work / "added").is_dir()
        shutil.rmtree(home if reuse else work, ignore_errors=True)
        t = time.perf_counter()
        if not reuse:
            write_source(work / "source", col, 0, n, "/remote/photos")
            write_source(work / "added", col, n, args.add, "/remote/added")
        print(f"{n:,}: sources {'reused' if reuse else 'written'} in {time.perf_counter() - t:.0f} s", flush=True)
        row: dict = {"n": n}
        row["import"] = run([*vsearch, "import", str(work / "source"), "--model", "align-lite", "--collection", name,
                             "--home", str(home), "--root", "/remote/photos", "--json", *index_opts], env)
        print(f"  import: {fmt(row['import'])}", flush=True)
        runs = [] if args.no_queries else [r for r in QUERY_RUNS if not (args.product_queries and r[2])]
        for label, cold, extra in runs:
            if cold:
                evict(home / name)
            row[label] = run([sys.executable, str(REPO / "benchmarks" / "query.py"), "--fresh", name, "--home", str(home),
                              "--vectors", str(qfile), *extra], env)
            print(f"  queries in a fresh process, {label}: {json.dumps(row[label]['json'])}", flush=True)
        if args.add:
            row["add"] = run([*vsearch, "import", str(work / "added"), "--model", "align-lite", "--collection", name,
                              "--home", str(home), "--root", "/remote/added", "--json"], env)
            print(f"  add {args.add:,}: {fmt(row['add'])}", flush=True)
        if not args.no_reindex:
            row["reindex"] = run([*vsearch, "reindex", "--collection", name, "--home", str(home), "--json"], env)
            print(f"  reindex: {fmt(row['reindex'])}", flush=True)
        info = subprocess.run([*vsearch, "info", "--collection", name, "--home", str(home), "--json"], env=env,
                              capture_output=True, text=True, check=True)
        row["index"] = {k: json.loads(info.stdout)["index"].get(k) for k in ("type", "params", "recall_at_10", "chosen")}
        results.append(row)
        (args.work / f"results-{n}.json").write_text(json.dumps(row, indent=1, default=str))
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print_table(results, args.add)


def fmt(r: dict) -> str:
    timings = r["json"].get("timings") or {}
    peaks = r.get("phase_anon_mb", {})
    phases = ", ".join(f"{k} {v:.0f} s" + (f" / {peaks[k]:,.0f} MB" if k in peaks else "") for k, v in timings.items())
    if REST in peaks:
        phases += f"; peak {REST} {peaks[REST]:,.0f} MB"
    return (f"{r['wall_s']:.0f} s, peak RssAnon {r['anon_mb']:,.0f} MB, mapped {r['file_mb']:,.0f} MB "
            f"(load {r['load']:.1f}){'; ' + phases if phases else ''}")


def print_table(results: list[dict], add: int) -> None:
    print(f"\n{'vectors':>10} {'step':<16} {'wall s':>8} {'peak RssAnon MB':>16} {'peak mapped MB':>15} {'load':>5}")
    for r in results:
        for step in ("import", "add", "reindex"):
            if step in r:
                s = r[step]
                label = f"add {add:,}" if step == "add" else step
                print(f"{r['n']:>10,} {label:<16} {s['wall_s']:>8.0f} {s['anon_mb']:>16,.0f} {s['file_mb']:>15,.0f} "
                      f"{s['load']:>5.1f}")
    print(f"\n{'vectors':>10} {'index':<24} {'run':<18} {'open s':>7} {'first 100 p50/p95 ms':>21} "
          f"{'next 1000 p50/p95 ms':>21} {'first/next p50':>14} {'RssAnon MB':>10} {'mapped MB':>9}")
    for r in results:
        idx = r["index"]
        for label in [q for q, _, _ in QUERY_RUNS if q in r]:
            q = r[label]["json"]
            print(f"{r['n']:>10,} {str(idx['type']) + ' ' + json.dumps(idx['params'] or {})[:17]:<24} {label:<18} "
                  f"{q['open_s']:>7.2f} {q['first_p50']:>10.2f} / {q['first_p95']:<8.2f} {q['next_p50']:>10.2f} / "
                  f"{q['next_p95']:<8.2f} {q['first_p50'] / q['next_p50']:>14.2f} {q['anon_mb']:>10,.0f} {q['file_mb']:>9,.0f}")
    for r in results:
        print(f"{r['n']:,}: {json.dumps(r['index'])}")


if __name__ == "__main__":
    main()
