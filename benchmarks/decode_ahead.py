"""Memory of decoding ahead of a slower consumer: bounded (decode_files) against unbounded.

    python benchmarks/decode_ahead.py [--files 1500] [--consumer-ms 6] [--workers 1]

Decodes --files Flickr8k photos in worker processes while the consumer spends --consumer-ms on
each result (an encoder slower than decoding), and prints the consumer's peak resident growth and
files/s for
  unbounded   Pool.imap over every path (how decode_files worked before): results pile up in
              the consumer's process for as long as decoding outruns it, ~170 KB a photo
  bounded     decode_files: at most `ahead` files submitted and not yet taken (DEFAULT_AHEAD)
Each runs in its own child process, so each peak is its own.
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import time
from functools import partial
from pathlib import Path

from flickr import add_flickr_option


def unbounded(paths, preprocess, workers):
    from vsearch.pipeline.decode import decode_file

    with mp.get_context("fork").Pool(workers) as pool:
        yield from pool.imap(partial(decode_file, preprocess=preprocess, known=frozenset()), paths, chunksize=4)


def bounded(paths, preprocess, workers):
    from vsearch.pipeline.decode import decode_files

    yield from decode_files(paths, preprocess, workers)


def measure(mode: str, paths: list[Path], consumer_s: float, workers: int, out) -> None:
    from vsearch.models.preprocess import Preprocess

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t = time.perf_counter()
    for _ in {"unbounded": unbounded, "bounded": bounded}[mode](paths, Preprocess(size=240), workers):
        time.sleep(consumer_s)
    out.send(((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024, len(paths) / (time.perf_counter() - t)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=1500)
    ap.add_argument("--consumer-ms", type=float, default=6.0)
    ap.add_argument("--workers", type=int, default=1)
    add_flickr_option(ap)
    args = ap.parse_args()

    from vsearch.pipeline.decode import DEFAULT_AHEAD

    paths = sorted((args.flickr / "images").iterdir())[: args.files]
    for p in paths:  # page cache: both modes read from memory
        p.read_bytes()
    print(f"{len(paths)} photos, {args.workers} decode worker(s), consumer {args.consumer_ms} ms a file, "
          f"bounded window {DEFAULT_AHEAD} files")
    print(f"{'mode':<12}{'peak RSS growth MB':>20}{'files/s':>10}")
    ctx = mp.get_context("fork")
    for mode in ("unbounded", "bounded"):
        recv, send = ctx.Pipe(duplex=False)
        child = ctx.Process(target=measure, args=(mode, paths, args.consumer_ms / 1000, args.workers, send))
        child.start()
        mb, rate = recv.recv()
        child.join()
        print(f"{mode:<12}{mb:>20.0f}{rate:>10.0f}")


if __name__ == "__main__":
    main()
