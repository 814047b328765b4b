"""`vsearch import` at scale: time per phase and memory, against the size of the vectors.

    python benchmarks/import.py [--rows 200000] [--parts 4] [--index flat] [--workdir DIR]

Writes a clip-retrieval output folder of `--rows` random 256-d fp16 vectors (align-lite's width)
in `--parts` parts, with paths that are not on this machine (embeddings made elsewhere: the usual
case; files that are here add one read per file for their content ids), imports it into a new
collection, and prints:
- rows/s of the two passes over the source (check: nothing written; write: ids, fp16 shards,
  rows) and the time of each phase (the index and the commit are the same work an ingest of as many
  photos does);
- memory: the process's anonymous resident memory (RssAnon: what it allocated, not the pages of
  the memory-mapped source, which the kernel can drop) when the import starts and its highest
  value in each phase (sampled every 20 ms), beside the baselines of the same run: the fp16 source
  on disk, and the float32 vectors a reader that loaded the source whole would hold. The index and
  commit phases load every live vector as float32 and compute the hubness biases, as an ingest's
  commit does.
"""
from __future__ import annotations

import argparse
import itertools
import shutil
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

PART_CHUNK = 50_000


def anon_mb() -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("RssAnon:")) / 1024


class Sampler(threading.Thread):
    """(time, RssAnon MB) every 20 ms until stopped."""

    def __init__(self):
        super().__init__(daemon=True)
        self.samples: list[tuple[float, float]] = []
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.02):
            self.samples.append((time.perf_counter(), anon_mb()))


def write_source(folder: Path, rows: int, parts: int, dim: int) -> int:
    (folder / "img_emb").mkdir(parents=True)
    (folder / "metadata").mkdir()
    rng = np.random.default_rng(0)
    bounds = [int(x) for x in np.linspace(0, rows, parts + 1)]
    size = 0
    for n, (a, b) in enumerate(itertools.pairwise(bounds)):
        vecs = np.lib.format.open_memmap(folder / "img_emb" / f"img_emb_{n:02d}.npy", "w+", np.float16, (b - a, dim))
        for s in range(0, b - a, PART_CHUNK):
            e = min(b - a, s + PART_CHUNK)
            v = rng.normal(size=(e - s, dim)).astype(np.float32)
            vecs[s:e] = v / np.linalg.norm(v, axis=1, keepdims=True)
        vecs.flush()
        del vecs
        paths = [f"/remote/photos/{i // 1000:05d}/{i:09d}.jpg" for i in range(a, b)]
        pq.write_table(pa.table({"image_path": paths}), folder / "metadata" / f"metadata_{n:02d}.parquet")
        size += (folder / "img_emb" / f"img_emb_{n:02d}.npy").stat().st_size
    return size


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--parts", type=int, default=4)
    ap.add_argument("--index", default="flat")
    ap.add_argument("--workdir", type=Path, default=None)
    args = ap.parse_args()

    from vsearch.pipeline.importing import import_embeddings

    work = Path(tempfile.mkdtemp(prefix="import-bench-", dir=args.workdir))
    try:
        dim = 256
        src_bytes = write_source(work / "emb", args.rows, args.parts, dim)
        start_mb = anon_mb()
        sampler = Sampler()
        sampler.start()
        t = time.perf_counter()
        s = import_embeddings(work / "emb", "align-lite", home=work / "home", index_type=args.index)
        wall = time.perf_counter() - t
        sampler.done.set()
        sampler.join()
        assert s.images == args.rows, s.to_json()

        # phases are contiguous from the call (pipeline/transaction.py Clock): map each sample to its phase
        edges, at = [], t
        for phase, sec in s.timings.items():
            edges.append((phase, at, at + sec))
            at += sec
        fp32 = args.rows * dim * 4 / 2**20
        print(f"{args.rows:,} rows x {dim}-d in {args.parts} parts, index {args.index}: {wall:.1f} s in all")
        print(f"baselines: fp16 source {src_bytes / 2**20:.0f} MB on disk, float32 vectors {fp32:.0f} MB; "
              f"RssAnon at start {start_mb:.0f} MB")
        print(f"{'phase':12} {'s':>7} {'rows/s':>10} {'peak RssAnon MB':>16} {'- start, x fp32':>16}")
        for phase, a, b in edges:
            peak = max((mb for when, mb in sampler.samples if a <= when < b), default=float("nan"))
            rate = f"{args.rows / (b - a):,.0f}" if phase in ("check", "write") and b > a else ""
            print(f"{phase:12} {b - a:7.2f} {rate:>10} {peak:16.0f} {(peak - start_mb) / fp32:16.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
