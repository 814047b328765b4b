"""An ingest of many copies of one photo: each copy decoded (before) against hash first, decode once.

    python benchmarks/copies.py [--copies 2000] [--repeats 3] [--workers N]

Makes a folder of --copies hard links to one Flickr8k photo (identical bytes, as a NAS's duplicate
folders or exported copies hold them; links keep the folder small: every copy is still opened, read
and hashed) and ingests it into a fresh collection --repeats times each way, in a forked child per
run (the model and the encoder session are made in every run, as in a real ingest):
  decode every copy   the decode workers decode each file whose content is not stored yet, copies
                      met in the same run included (how vsearch worked before: pipeline/copies.py's
                      claims turned off)
  hash first          a worker that meets content another worker already claimed only hashes it
Prints the median seconds of each, files/s, and the ratio.
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from flickr import add_flickr_option


def run(folder: Path, home: Path, workers: int | None, decode_every_copy: bool, out) -> None:
    import vsearch
    from vsearch.pipeline import copies

    if decode_every_copy:  # before: only content stored by an earlier run was skipped
        copies.Claims.__contains__ = lambda self, cid: cid in self.stored
    t = time.perf_counter()
    s = vsearch.ingest(folder, home=home, workers=workers)
    out.send((time.perf_counter() - t, s.images, s.encoded))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--copies", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--workers", type=int, default=None, help="decode workers (default: vsearch's, cores - 1)")
    add_flickr_option(ap)
    args = ap.parse_args()

    photo = sorted((args.flickr / "images").iterdir())[0]
    base = Path(tempfile.mkdtemp(prefix="vsearch-copies-"))
    try:
        folder = base / "copies"
        folder.mkdir()
        for i in range(args.copies):
            try:
                os.link(photo, folder / f"copy-{i:05d}.jpg")
            except OSError:
                shutil.copy(photo, folder / f"copy-{i:05d}.jpg")
        print(f"{args.copies} copies of {photo.name} ({photo.stat().st_size / 1024:.0f} KB), workers "
              f"{args.workers if args.workers is not None else 'default'}, {os.cpu_count()} cores, median of {args.repeats}")
        ctx = mp.get_context("fork")
        times: dict[str, list[float]] = {"decode every copy": [], "hash first": []}
        for r in range(args.repeats):
            for mode in times:
                recv, send = ctx.Pipe(duplex=False)
                child = ctx.Process(target=run, args=(folder, base / f"home-{r}-{mode[0]}", args.workers,
                                                      mode == "decode every copy", send))
                child.start()
                seconds, images, encoded = recv.recv()
                child.join()
                assert images == args.copies and encoded == 1, (images, encoded)
                times[mode].append(seconds)
        print(f"{'mode':<20}{'median s':>10}{'files/s':>10}")
        for mode, ts in times.items():
            m = statistics.median(ts)
            print(f"{mode:<20}{m:>10.2f}{args.copies / m:>10.0f}")
        before, after = (statistics.median(times[m]) for m in times)
        print(f"ratio (decode every copy / hash first): {before / after:.2f}x")
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
