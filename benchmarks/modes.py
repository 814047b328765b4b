"""What each text-search mode costs on a real collection: `Collection.search` p50/p95 per query in
semantic, hybrid (the default) and keyword mode, warm, with the ratio to semantic measured in the
same run (rounds alternate between the modes).

    python benchmarks/modes.py [--n 1000] [--queries 200] [--rounds 3]

The collection: the first N Flickr8k photos (`VSEARCH_FLICKR8K`, default ../shared/data/flickr8k)
ingested by `vsearch ingest` into a temporary home, so it has what a real library has: file-name
and folder words and their keyword index. Queries: the first caption of Flickr8k test photos, each query's
text vector computed once beforehand by a first pass (the query cache then holds it in every
mode), so the figures compare the ranking work, not the text tower.
"""
from __future__ import annotations

import argparse
import csv
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
MODES = ("semantic", "hybrid", "keyword")


def captions(flickr: Path, n: int) -> list[str]:
    """The first caption of each test photo, the first n of them."""
    test = set((flickr / "splits" / "test.txt").read_text().split())
    out, seen = [], set()
    with open(flickr / "captions.csv", encoding="utf-8", newline="") as f:
        for image, text in csv.reader(f):
            if image in test and image not in seen:
                seen.add(image)
                out.append(text)
                if len(out) >= n:
                    break
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1000, help="photos in the collection")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--k", type=int, default=10)
    args = ap.parse_args()
    flickr = Path(os.environ.get("VSEARCH_FLICKR8K", HERE.parent.parent / "shared" / "data" / "flickr8k"))
    work = Path(tempfile.mkdtemp(prefix="vsearch-modes-"))
    try:
        photos = work / "photos" / "flickr"
        photos.mkdir(parents=True)
        for name in sorted(os.listdir(flickr / "images"))[:args.n]:
            shutil.copy(flickr / "images" / name, photos / name)
        subprocess.run([sys.executable, "-m", "vsearch.cli", "ingest", str(photos), "--home", str(work / "home"),
                        "--collection", "bench"], check=True, stdout=subprocess.DEVNULL)
        from vsearch.search.collection import open_collection

        col = open_collection("bench", home=work / "home")
        queries = captions(flickr, args.queries)
        for q in queries:  # the text vectors, once (cached for every mode)
            col.search(q, k=args.k, mode="semantic")
        times: dict[str, list[float]] = {m: [] for m in MODES}
        for _ in range(args.rounds):
            for mode in MODES:
                for q in queries:
                    t = time.perf_counter()
                    col.search(q, k=args.k, mode=mode)
                    times[mode].append((time.perf_counter() - t) * 1000)
        base = statistics.median(times["semantic"])
        print(f"{args.n} Flickr8k photos, {len(queries)} caption queries x {args.rounds} rounds, k={args.k}, "
              f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        print("mode     | p50 ms | p95 ms | p50 vs semantic")
        for mode in MODES:
            ts = sorted(times[mode])
            p50, p95 = statistics.median(ts), ts[int(0.95 * (len(ts) - 1))]
            print(f"{mode:8} | {p50:6.1f} | {p95:6.1f} | {p50 / base:5.2f}x")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
