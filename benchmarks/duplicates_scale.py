"""Near pairs and groups of a large collection: time and memory of finding every pair (the
rebuild `vsearch reindex` does), of making the groups from them, and of the update an ingest of
1,000 more photos does.

    python benchmarks/duplicates_scale.py --n 200000         # while the machine is shared
    python benchmarks/duplicates_scale.py --n 1000000        # the figure the README quotes

Vectors are drawn around the real Flickr8k photo vectors of align-lite as benchmarks/index.py
draws them (its helpers); `--copies` of them (default 2 %) are near copies of another one (its
vector plus noise, cosine 0.85-0.99, its thumbnail re-toned, half of them made smaller; the copied
photo is in the same chunk), the rest have their own random thumbnail and one of three picture
sizes (CAMERAS), so both searches and the window matches really run. Photos are handed over in
chunks of 65,536, as a collection streams its shards. Memory: the peak resident set of this process above
what it held before the search (`peak MB`, which counts the pages of the search's memory-mapped
temporary files as they are touched) and the peak of its private memory (`anon MB`), sampled
every 50 ms. The update: the 1,000 new photos (2 % copies of stored ones) are searched in an IVF
index of the whole collection (`vsearch/index` kind `ivf`, which an auto collection of this size
may be; HNSW answers such a search alike), their hashes among all the collection's; the
update's own figures leave out making the index and the hashes (the commit has them).
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from index import Collection, flickr_vectors  # noqa: E402

CHUNK = 65_536  # photos handed over at a time, as a collection streams its shards

# Picture sizes of the photos (width, height as seen) and how many have each: landscape and portrait
# photos of one camera, and exports for screens.
CAMERAS = np.array([(4000, 3000), (3000, 4000), (1920, 1080)], np.float32)
CAMERA_SHARES = (0.5, 0.25, 0.25)


def rss_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


class Peak:
    """Samples resident and private memory while it runs."""

    def __init__(self):
        self.base_rss, self.base_anon = rss_kb("VmRSS"), rss_kb("RssAnon")
        self.rss = self.anon = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self.rss = max(self.rss, rss_kb("VmRSS") - self.base_rss)
            self.anon = max(self.anon, rss_kb("RssAnon") - self.base_anon)

    def __enter__(self) -> "Peak":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


class Library:
    """Collection's vectors, a share of them near copies of another photo of their chunk, each with
    a thumbnail, drawn once into files (fp16 vectors, as shards hold them; thumbnails; shapes) and
    read back chunk by chunk, as a collection streams its shards."""

    def __init__(self, n: int, copies: float, folder: Path, seed: int = 0):
        self.col = Collection(flickr_vectors()["images"], n, seed)
        self.n, self.copies, self.folder = n, copies, folder
        self.ids = np.zeros(n + 1_000, np.int64)

    def chunk(self, start: int, size: int):
        from vsearch.duplicates import Batch

        ids, vecs = self.col.chunk(start, size)
        rng = np.random.default_rng([7, start])
        thumbs = rng.integers(0, 256, (size, 32, 32), dtype=np.uint8)
        shapes = CAMERAS[rng.choice(len(CAMERAS), size, p=CAMERA_SHARES)]
        m = int(size * self.copies)
        if m:  # the last m rows copy random earlier rows of the chunk
            src = rng.integers(0, size - m, m)
            noise = rng.normal(size=(m, vecs.shape[1])).astype(np.float32) * rng.uniform(0.01, 0.035, (m, 1)).astype(np.float32)
            near = vecs[src] + noise
            vecs[-m:] = near / np.linalg.norm(near, axis=1, keepdims=True)
            thumbs[-m:] = np.clip(thumbs[src].astype(np.int16) * 0.9 + 12, 0, 255).astype(np.uint8)
            smaller = rng.random(m) < 0.5  # half are exports made smaller, half keep the size (re-saves)
            shapes[-m:] = np.round(shapes[src] * np.where(smaller, rng.uniform(0.5, 0.9, m), 1.0)[:, None])
        np.save(self.folder / f"vecs-{start}.npy", vecs.astype(np.float16))
        np.save(self.folder / f"thumbs-{start}.npy", thumbs)
        np.save(self.folder / f"shapes-{start}.npy", shapes)
        np.save(self.folder / f"ids-{start}.npy", ids)
        self.ids[start:start + size] = ids
        return Batch(ids, vecs, thumbs, shapes)

    def draw(self) -> None:
        for start in range(0, self.n, CHUNK):
            self.chunk(start, min(CHUNK, self.n - start))

    def batches(self):
        from vsearch.duplicates import Batch

        for start in range(0, self.n, CHUNK):
            part = {w: np.load(self.folder / f"{w}-{start}.npy") for w in ("ids", "vecs", "thumbs", "shapes")}
            yield Batch(part["ids"], part["vecs"].astype(np.float32), part["thumbs"], part["shapes"])

    def rows(self, what: str, positions: np.ndarray) -> np.ndarray:
        starts = sorted({min(int(p) // CHUNK * CHUNK, self.n) for p in positions})
        parts = {s: np.load(self.folder / f"{what}-{s}.npy", mmap_mode="r") for s in starts}
        return np.stack([parts[min(int(p) // CHUNK * CHUNK, self.n)][int(p) - min(int(p) // CHUNK * CHUNK, self.n)]
                         for p in positions])

    def lookup(self, ids: np.ndarray):
        from vsearch.duplicates import Batch

        order = np.argsort(self.ids)
        pos = order[np.searchsorted(self.ids, ids, sorter=order)]
        return Batch(ids, self.rows("vecs", pos).astype(np.float32), self.rows("thumbs", pos), self.rows("shapes", pos))

    def all_vectors(self, n: int) -> np.ndarray:
        return np.concatenate([np.load(self.folder / f"vecs-{s}.npy") for s in list(range(0, self.n, CHUNK)) + [self.n]])[:n]

    def all_thumbs(self, n: int) -> np.ndarray:
        return np.concatenate([np.load(self.folder / f"thumbs-{s}.npy", mmap_mode="r") for s in list(range(0, self.n, CHUNK)) + [self.n]])[:n]


def images_table(ids: np.ndarray):
    """A minimal images table: one file per photo, equal in every keeper rule but the path."""
    import pyarrow as pa

    from vsearch.store.tables import IMAGES_SCHEMA, conform

    n = len(ids)
    cols = {"id": pa.array(ids), "path": pa.array([f"f{i % 1000}/{i}.jpg" for i in range(n)]), "root": pa.array(["/lib"] * n),
            "folder": pa.array([f"f{i % 1000}" for i in range(n)]), "digest": pa.array([""] * n),
            "bytes": pa.array(np.full(n, 2_000_000)), "mtime": pa.nulls(n, pa.timestamp("us", tz="UTC")),
            "mtime_ns": pa.array(np.full(n, 10**18)), "width": pa.array(np.full(n, 4000, np.int32)),
            "height": pa.array(np.full(n, 3000, np.int32))}
    return conform(pa.table(cols), IMAGES_SCHEMA)  # the rest (phash, ...) null


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=200_000, help="photos in the collection")
    ap.add_argument("--added", type=int, default=1_000, help="photos an ingest then adds")
    ap.add_argument("--copies", type=float, default=0.02, help="share of photos that are near copies of another")
    args = ap.parse_args()
    import faiss

    from vsearch.duplicates import Rule, duplicate_groups, find_new_pairs, find_pairs
    from vsearch.imaging.signature import phash
    from vsearch.index import build_index

    faiss.omp_set_num_threads(min(2, os.cpu_count() or 1))
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (the machine may be shared)")
    with tempfile.TemporaryDirectory(prefix="dup-scale-") as tmp:
        lib = Library(args.n, args.copies, Path(tmp))
        t = time.perf_counter()
        lib.draw()
        print(f"drawn {args.n:,} photos in {time.perf_counter() - t:.0f} s")
        timings: dict[str, float] = {}
        t = time.perf_counter()
        with Peak() as peak:
            pairs = find_pairs(lib.batches(), args.n, lib.col.photos.shape[1], workdir=tmp, timings=timings)
        total = time.perf_counter() - t
        print(f"\n{args.n:,} photos ({args.copies:.0%} near copies): {len(pairs):,} near pairs in {total:.0f} s "
              f"(reading them {timings['read']:.0f} s, vectors {timings['vectors']:.0f} s, hashes {timings['hashes']:.0f} s, "
              f"measuring {timings['score']:.0f} s, of which {timings['windows']:,.0f} window matches); "
              f"peak {peak.rss / 1024:.0f} MB, anon {peak.anon / 1024:.0f} MB")
        table = images_table(lib.ids[:args.n])
        t = time.perf_counter()
        groups = duplicate_groups(pairs, table, Rule())
        print(f"groups from the pairs: {len(groups):,} groups holding {sum(len(g.rows) for g in groups):,} photos "
              f"in {time.perf_counter() - t:.1f} s")
        planted = int(args.n * args.copies)
        print(f"(planted: ~{planted:,} copies; found in a group: see the pair count against it)")

        new = lib.chunk(args.n, args.added)
        t = time.perf_counter()
        index = build_index("ivf", lib.ids[:args.n + args.added], lib.all_vectors(args.n + args.added).astype(np.float32))
        print(f"\nthe collection's index (ivf, {index.params}) built for the update in {time.perf_counter() - t:.0f} s")
        all_ids = lib.ids[:args.n + args.added]
        hashes = phash(lib.all_thumbs(args.n + args.added))
        searched = {}

        def search(q, k):
            t0 = time.perf_counter()
            out = index.search(q, k)
            searched["s"] = time.perf_counter() - t0
            return out

        t = time.perf_counter()
        with Peak() as peak:
            added = find_new_pairs(new, search, all_ids, hashes, np.ones(len(all_ids), bool), lib.lookup, workdir=tmp)
        print(f"update: {args.added:,} photos added: {len(added):,} new pairs in {time.perf_counter() - t:.2f} s "
              f"(index search {searched['s']:.2f} s); peak {peak.rss / 1024:.0f} MB, anon {peak.anon / 1024:.0f} MB")


if __name__ == "__main__":
    main()
