"""Added latency of ITM reranking per text query, on a real collection.

    python benchmarks/rerank.py [--n 300] [--queries 20]

Ingests N Flickr8k dev photos into a temporary collection (ingest stores the reranker's image
tokens), then for k = 8, 16, 32, 64 times `search(text, rerank=True, rerank_k=k)` against plain
`search(text)`, two ways per k:
  stored     — image tokens read from the collection (the normal path);
  from files — no stored tokens (a collection ingested before its reranker existed): each hit's
               photo is decoded and run through the image tower at query time.
Prints median added milliseconds per query.
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from flickr import add_flickr_option


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--queries", type=int, default=20)
    add_flickr_option(ap)
    ap.add_argument("--reranker", type=Path, default=None, help="ITM checkpoint (default: the model's shipped one)")
    args = ap.parse_args()

    import vsearch
    from vsearch.evaluation.pairs import load_pairs
    from vsearch.store.tokens import TokenStore

    pairs = load_pairs(args.flickr, "dev", args.n)
    tmp = Path(tempfile.mkdtemp(prefix="vsearch-rerank-bench-"))
    (tmp / "photos").mkdir()
    for p in pairs.images:
        shutil.copy(p, tmp / "photos" / p.name)
    vsearch.ingest(tmp / "photos", home=tmp / "home", reranker=args.reranker)
    # The same photos without stored tokens: reranking then reads each hit's file.
    vsearch.ingest(tmp / "photos", home=tmp / "home-files", rerank_tokens=False)
    col = vsearch.open_collection(home=tmp / "home", reranker=args.reranker)
    if col.reranker is None:
        raise SystemExit("the default model has no shipped reranker")
    held = len([t for t in TokenStore(col.store.folder, col.reranker.fingerprint).lookup(
        [int(i) for i in col.images.column("id").to_pylist()]) if t is not None])
    print(f"stored reranker tokens for {held} of {len(col.images)} photos")
    queries = pairs.captions[:: max(1, len(pairs.captions) // args.queries)][: args.queries]
    col.search(queries[0], k=10, rerank=True, rerank_k=8)  # load the reranker
    base = []
    for q in queries:
        t = time.perf_counter()
        col.search(q, k=10)
        base.append((time.perf_counter() - t) * 1000)
    b = statistics.median(base)
    print(f"collection {args.n} photos, {len(queries)} queries; plain search median {b:.1f} ms")
    print(f"{'k':>4}{'stored: added ms':>18}{'from files: added ms':>22}")
    for k in (8, 16, 32, 64):
        stored, files = [], []
        for q in queries:
            t = time.perf_counter()
            col.search(q, k=10, rerank=True, rerank_k=k)
            stored.append((time.perf_counter() - t) * 1000 - b)
            # A fresh collection object per query: no tokens computed earlier in the session.
            cold = vsearch.open_collection(home=tmp / "home-files", model=col.model, reranker=col.reranker)
            t = time.perf_counter()
            cold.search(q, k=10, rerank=True, rerank_k=k)
            files.append((time.perf_counter() - t) * 1000 - b)
        print(f"{k:>4}{statistics.median(stored):>18.1f}{statistics.median(files):>22.1f}")
    shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
