"""Added latency of ITM reranking per text query, on a real collection.

    python benchmarks/rerank.py [--n 300] [--queries 20]

Ingests N Flickr8k dev photos into a temporary collection, then for k = 8, 16, 32, 64 times
`search(text, rerank=True, rerank_k=k)` against plain `search(text)`, twice per k:
  cold  — the reranker's image tokens are computed from the photo files (first query on them);
  warm  — the tokens are already held in memory (repeat queries, or a collection that keeps them).
Prints median added milliseconds per query.
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--queries", type=int, default=20)
    ap.add_argument("--flickr", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/flickr8k")
    args = ap.parse_args()

    import vsearch
    from vsearch.benchmark import load_pairs

    pairs = load_pairs(args.flickr, "dev", args.n)
    tmp = Path(tempfile.mkdtemp(prefix="vsearch-rerank-bench-"))
    (tmp / "photos").mkdir()
    for p in pairs.images:
        shutil.copy(p, tmp / "photos" / p.name)
    vsearch.ingest(tmp / "photos", home=tmp / "home")
    col = vsearch.open_collection(home=tmp / "home")
    if col.reranker is None:
        raise SystemExit("the default model has no shipped reranker")
    queries = pairs.captions[:: max(1, len(pairs.captions) // args.queries)][: args.queries]
    col.search(queries[0], k=10, rerank=True, rerank_k=8)  # load the reranker
    base = []
    for q in queries:
        t = time.perf_counter()
        col.search(q, k=10)
        base.append((time.perf_counter() - t) * 1000)
    b = statistics.median(base)
    print(f"collection {args.n} photos, {len(queries)} queries; plain search median {b:.1f} ms")
    print(f"{'k':>4}{'cold added ms':>16}{'warm added ms':>16}")
    for k in (8, 16, 32, 64):
        cold, warm = [], []
        for q in queries:
            col._memories.clear()
            t = time.perf_counter()
            col.search(q, k=10, rerank=True, rerank_k=k)
            cold.append((time.perf_counter() - t) * 1000 - b)
            t = time.perf_counter()
            col.search(q, k=10, rerank=True, rerank_k=k)
            warm.append((time.perf_counter() - t) * 1000 - b)
        print(f"{k:>4}{statistics.median(cold):>16.1f}{statistics.median(warm):>16.1f}")
    shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
