"""Index kinds at 1M and 10M vectors in align-lite's 256-d space: build time, size, resident
memory, open time, single-query latency, recall@10 against exact search, filtered latency.

    python benchmarks/index.py                         # 1M: every kind and auto
    python benchmarks/index.py --sizes 10000000 --kinds ivfpq-parts,auto:2e9

A kind `K-parts` is trained once, added in parts of 500k and merged on disk (parts.py);
`auto:BYTES` is auto under that memory budget (plain `auto`: a quarter of the RAM).

Data, made realistic rather than uniform: every Flickr8k photo is encoded once with align-lite
(cached under ./.cache/index-bench), and the collection is drawn around them — each vector a
random photo mixed (weight U(0, 0.5)) with one of its 10 nearest photos, plus noise shaped by
the photos' own covariance (|noise| ~ 0.5), normalised. Queries: 500 real captions of test
photos (text, cross-modal) and 500 test photos themselves (image). Filters keep a
pseudo-random 1 % and 10 % of rows (by a hash of the row); filtered queries are timed twice:
given the allowed ids, and as a collection would run them — its id column looked up once
(`lookup s`), then each query selecting by the matching rows. Ids are 63-bit hashes.

Each index is built here (2 OpenMP threads), saved, then opened and queried in a fresh process
(1 OpenMP thread: one query per core, as a server would run), which reports its open time and
resident memory: peak RSS minus RSS before opening, after the plain queries (`RSS plain`) and
after the filtered ones too (`RSS all`), and the private (anonymous) part at the end; the rest
is mapped file pages. The latter are page cache — shared and evictable —
and this kernel maps whole large folios (up to ~2 MB) around every touched row, so they
overstate what a memory-mapped index needs. `auto` is tuned with the
model's bank of 6,000 caption vectors as text queries — not the test captions it is measured
with. The machine is shared: the load average is printed with the table.
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # spinning OpenMP threads cost 4x on a shared 2-core machine

import argparse  # noqa: E402
import csv  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from flickr import FLICKR  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / ".cache" / "index-bench"
CHUNK = 500_000
K = 10
FILTERED_QUERIES = 100


# ---------------------------------------------------------------------------- data
def flickr_vectors(model_name: str = "align-lite") -> dict[str, np.ndarray]:
    """Every Flickr8k photo and every test caption encoded once, cached under ./.cache."""
    path = CACHE / f"flickr8k-{model_name}.npz"
    if path.is_file():
        with np.load(path) as z:
            return {k: z[k] for k in z.files}
    from vsearch.models import load_model
    from vsearch.evaluation.encoding import encode_image_files, encode_texts

    names = sorted(p.name for p in (FLICKR / "images").iterdir() if p.suffix.lower() == ".jpg")
    test = set((FLICKR / "splits" / "test.txt").read_text().split())
    with open(FLICKR / "captions.csv", newline="") as f:
        captions = [(r["image"], r["caption"]) for r in csv.DictReader(f) if r["image"] in test]
    model = load_model(model_name)
    _progress = lambda p: print(f"\r{p.task}: {p.done}/{p.total}", end="", flush=True)  # noqa: E731 (a Reporter)
    t = time.perf_counter()
    images, failed = encode_image_files(model, [FLICKR / "images" / n for n in names], progress=_progress)
    if failed:
        raise SystemExit(f"{len(failed)} Flickr8k photos failed to encode, e.g. {failed[0]}")
    texts = encode_texts(model, [c for _, c in captions], progress=_progress)
    print(f"\nencoded {len(names)} photos and {len(captions)} test captions in {time.perf_counter() - t:.0f} s")
    out = {"images": images.astype(np.float32), "image_names": np.array(names),
           "captions": texts.astype(np.float32), "caption_images": np.array([i for i, _ in captions]),
           "test_images": np.array(sorted(test))}
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, **out)
    os.replace(tmp, path)
    return out


def splitmix(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


class Collection:
    """n vectors drawn around the Flickr8k photos, generated chunk by chunk (deterministic)."""

    def __init__(self, photos: np.ndarray, n: int, seed: int = 0):
        self.photos, self.n, self.seed = photos, n, seed
        sims = photos @ photos.T
        np.fill_diagonal(sims, -np.inf)
        self.neighbours = np.argsort(-sims, axis=1)[:, :10]
        centred = photos - photos.mean(0)
        eigval, eigvec = np.linalg.eigh(np.cov(centred.T))
        # noise ~ N(0, cov / trace(cov)) * 0.5: shaped like the photos' spread, |noise| ~ 0.5
        self.shape = (eigvec * np.sqrt(np.clip(eigval, 0, None) / eigval.clip(0).sum())).astype(np.float32) * 0.5

    def chunks(self):
        for start in range(0, self.n, CHUNK):
            yield start, *self.chunk(start, min(CHUNK, self.n - start))

    def chunk(self, start: int, size: int) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng([self.seed, start])
        a = rng.integers(0, len(self.photos), size)
        b = self.neighbours[a, rng.integers(0, 10, size)]
        w = rng.uniform(0, 0.5, size).astype(np.float32)[:, None]
        x = (1 - w) * self.photos[a] + w * self.photos[b]
        x += rng.standard_normal((size, self.photos.shape[1]), dtype=np.float32) @ self.shape.T
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        return self.ids(start, size), x

    def ids(self, start: int, size: int) -> np.ndarray:
        return (splitmix(np.arange(start, start + size)) >> np.uint64(1)).astype(np.int64)

    def in_filter(self, start: int, size: int, percent: int) -> np.ndarray:
        return (splitmix(np.arange(start, start + size) ^ 0x5EED) % np.uint64(100)) < np.uint64(percent)

    def filter_rows(self, percent: int) -> np.ndarray:
        """The rows a `percent` % filter keeps (what a metadata query returns)."""
        return np.concatenate([start + np.flatnonzero(self.in_filter(start, min(CHUNK, self.n - start), percent))
                               for start in range(0, self.n, CHUNK)])

    def all(self, dtype=np.float32) -> tuple[np.ndarray, np.ndarray]:
        ids = np.empty(self.n, np.int64)
        vecs = np.empty((self.n, self.photos.shape[1]), dtype)
        for start, i, v in self.chunks():
            ids[start:start + len(i)], vecs[start:start + len(i)] = i, v
        return ids, vecs


def ground_truth(col: Collection, queries: dict[str, np.ndarray], filters: dict[str, np.ndarray]) -> dict:
    """Exact top-K ids for every query set, and for the first text queries under each filter."""
    import faiss

    best = {}

    def fold(key: str, q: np.ndarray, ids: np.ndarray, vecs: np.ndarray) -> None:
        if not len(ids):
            return
        s, r = faiss.knn(q, vecs, min(K, len(ids)), metric=faiss.METRIC_INNER_PRODUCT)
        s = np.concatenate([best[key][0], s], 1) if key in best else s
        i = np.concatenate([best[key][1], ids[r]], 1) if key in best else ids[r]
        order = np.argsort(-s, axis=1, kind="stable")[:, :K]
        best[key] = (np.take_along_axis(s, order, 1), np.take_along_axis(i, order, 1))

    t = time.perf_counter()
    for start, ids, vecs in col.chunks():
        for name, q in queries.items():
            fold(name, q, ids, vecs)
        for name, allowed in filters.items():
            keep = np.isin(ids, allowed)
            fold(f"text@{name}", queries["text"][:FILTERED_QUERIES], ids[keep], vecs[keep])
    print(f"exact ground truth for {col.n:,} vectors: {time.perf_counter() - t:.0f} s", flush=True)
    return best


def recall(found: np.ndarray, truth: tuple[np.ndarray, np.ndarray]) -> float:
    """recall@K by id membership (strict: with continuous vectors exact ties do not occur)."""
    hits = (found[:, :K, None] == truth[1][:, None, :]).any(axis=2)
    return float(hits.mean())


# ---------------------------------------------------------------------------- building
def build(kind: str, col: Collection, work: Path, bank: np.ndarray, max_memory: int | None) -> dict:
    """Build one kind, save it under work/<kind>; returns what the build reports."""
    from vsearch.index import kind_class
    from vsearch.index.auto import choose_and_build
    from vsearch.index.parts import build_part, merge_parts, train

    out = work / kind.replace(":", "@")
    shutil.rmtree(out, ignore_errors=True)
    t = time.perf_counter()
    record = None
    if kind.startswith("auto"):  # auto, or auto:BYTES for a given memory budget
        budget = int(float(kind.split(":")[1])) if ":" in kind else max_memory
        ids, vecs = col.all(np.float16 if col.n > 2_000_000 else np.float32)
        index, record = choose_and_build(ids, vecs, "auto", max_memory=budget, text_queries=bank)
        del ids, vecs
        build_s = record["build_s"]
    elif kind.endswith("-parts"):
        trained = train(kind.removesuffix("-parts"), col.chunk(0, min(CHUNK, col.n))[1], col.n)
        parts = []
        for start, ids, vecs in col.chunks():
            parts.append(work / f"{kind}.part{start // CHUNK:03d}")
            shutil.rmtree(parts[-1], ignore_errors=True)
            build_part(trained, ids, vecs, parts[-1])
        merge_parts(trained, parts, out)
        for p in parts:
            shutil.rmtree(p)
        build_s = time.perf_counter() - t
        print(f"  {kind}: trained, {len(parts)} parts added and merged on disk in {build_s:.0f} s", flush=True)
        return {"build_s": build_s, "params": trained.params}
    else:
        cls = kind_class(kind)
        if col.n <= 2_000_000:
            ids, vecs = col.all()
            index = cls.build(ids, vecs)
            del ids, vecs
        else:
            params = cls.resolve_params(col.n, col.photos.shape[1])
            index = cls.empty(col.photos.shape[1], params, col.chunk(0, CHUNK)[1] if cls.train_size(params) else None)
            for _, ids, vecs in col.chunks():
                index.add(ids, vecs)
        build_s = time.perf_counter() - t
    index.save(out)
    print(f"  {kind}: built in {build_s:.0f} s ({index.kind} {index.params})", flush=True)
    return {"build_s": build_s, "params": index.params, "record": record}


def folder_bytes(path: Path) -> tuple[int, int]:
    """(index bytes, fp16 store bytes) of a saved index folder."""
    total = sum(p.stat().st_size for p in path.iterdir() if p.is_file())
    store = (path / "vectors.faiss").stat().st_size if (path / "vectors.faiss").exists() else 0
    return total - store, store


# ---------------------------------------------------------------------------- measuring (subprocess)
def rss_kb(field: str = "VmRSS") -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def measure(folder: Path, inputs: Path) -> None:
    """Runs in a fresh process: open `folder` memory-mapped, query it, print JSON."""
    import faiss

    from vsearch.index import load_index

    faiss.omp_set_num_threads(1)
    z = np.load(inputs)
    base_rss, base_anon, base_file = rss_kb(), rss_kb("RssAnon"), rss_kb("RssFile")
    t = time.perf_counter()
    index = load_index(folder, mmap=True)
    open_s = time.perf_counter() - t
    open_rss = rss_kb()
    out = {"open_s": open_s, "open_rss_mb": (open_rss - base_rss) / 1024}

    def timed(q: np.ndarray, allowed=None) -> tuple[list[float], np.ndarray]:
        lat, found = [], []
        for row in q:
            t = time.perf_counter()
            _, ids = index.search(row[None], K, allowed)
            lat.append((time.perf_counter() - t) * 1000)
            found.append(ids[0])
        return lat, np.array(found)

    timed(z["text"][:20])  # warm-up: first touches of the mapping
    out["lat"], found_text = timed(z["text"])
    out["found_text"] = found_text.tolist()
    out["found_image"] = index.search(z["image"], K)[1].tolist()
    out["rss_plain_mb"] = (rss_kb("VmHWM") - base_rss) / 1024  # before any filtered query
    for name in ("f1", "f10"):
        allowed = z[name]
        index.search(z["text"][:1], K, allowed)  # warm-up: the id lookup is built once
        lat, found = timed(z["text"][:FILTERED_QUERIES], allowed)
        out[f"lat_{name}"], out[f"found_{name}"] = lat, found.tolist()
        out[f"full_{name}"] = bool((found >= 0).all())
    # As a collection would: its id column looked up once, then each query selects by rows.
    t = time.perf_counter()
    row_positions = index.lookup(z["ids"])
    out["lookup_s"] = time.perf_counter() - t
    for name in ("f1", "f10"):
        rows, lat = z[f"{name}_rows"], []
        for row in z["text"][:FILTERED_QUERIES]:
            t = time.perf_counter()
            index.search(row[None], K, index.select(positions=row_positions[rows]))
            lat.append((time.perf_counter() - t) * 1000)
        out[f"lat_{name}_rows"] = lat
    out["rss_mb"] = (rss_kb("VmHWM") - base_rss) / 1024
    out["anon_mb"] = (rss_kb("RssAnon") - base_anon) / 1024   # private memory
    out["file_mb"] = (rss_kb("RssFile") - base_file) / 1024   # mapped file pages (page cache: shared, evictable)
    print(json.dumps(out))


def run_measure(folder: Path, inputs: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    res = subprocess.run([sys.executable, __file__, "--measure", str(folder), "--inputs", str(inputs)],
                         env=env, capture_output=True, text=True)
    if res.returncode:
        raise SystemExit(f"measuring {folder} failed:\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------- the table
def exact_scan_ms(col: Collection, q: np.ndarray, reps: int = 5) -> float:
    """Single-query exact scan of the whole collection (the baseline), from one chunk scaled."""
    import faiss

    faiss.omp_set_num_threads(1)
    _, vecs = col.chunk(0, min(CHUNK, col.n))
    flat = faiss.IndexFlatIP(vecs.shape[1])
    flat.add(vecs)
    times = []
    for row in q[:reps]:
        t = time.perf_counter()
        flat.search(row[None], K)
        times.append(time.perf_counter() - t)
    faiss.omp_set_num_threads(os.cpu_count() or 1)
    return float(np.median(times)) * 1000 * col.n / len(vecs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1000000")
    ap.add_argument("--kinds", default="flat,hnsw,ivf,ivfsq8,ivfpq,auto,auto:400e6,auto:150e6")
    ap.add_argument("--queries", type=int, default=500)
    ap.add_argument("--max-memory", type=float, default=None, help="auto's memory budget in bytes (default: RAM/4)")
    ap.add_argument("--work", type=Path, default=CACHE / "work")
    ap.add_argument("--keep", action="store_true", help="keep the built indexes")
    ap.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--inputs", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.measure:
        measure(args.measure, args.inputs)
        return

    sys.path.insert(0, str(REPO))
    data = flickr_vectors()
    from safetensors.numpy import load_file

    bank = load_file(str(REPO / "vsearch" / "models" / "weights" / "align-lite.hubness.safetensors"))["hubness.texts"]
    bank = bank.astype(np.float32)
    rng = np.random.default_rng(7)
    text = data["captions"][np.sort(rng.choice(len(data["captions"]), args.queries, replace=False))]
    test_rows = np.flatnonzero(np.isin(data["image_names"], data["test_images"]))
    image = data["images"][np.sort(rng.choice(test_rows, min(args.queries, len(test_rows)), replace=False))]
    queries = {"text": np.ascontiguousarray(text), "image": np.ascontiguousarray(image)}

    for n in [int(float(s)) for s in args.sizes.split(",")]:
        col = Collection(data["images"], n)
        row_ids = col.ids(0, n)
        rows = {f"f{p}_rows": col.filter_rows(p) for p in (1, 10)}
        filters = {f"f{p}": np.sort(row_ids[rows[f"f{p}_rows"]]) for p in (1, 10)}
        work = args.work / f"n{n}"
        work.mkdir(parents=True, exist_ok=True)
        inputs = work / "inputs.npz"
        np.savez(inputs, **queries, **filters, **rows, ids=row_ids)
        truth = ground_truth(col, queries, filters)
        baseline = exact_scan_ms(col, queries["text"])
        rows = []
        for kind in args.kinds.split(","):
            built = build(kind, col, work, bank, int(args.max_memory) if args.max_memory else None)
            folder = work / kind.replace(":", "@")
            m = run_measure(folder, inputs)
            idx_bytes, store_bytes = folder_bytes(folder)
            rows.append({"kind": kind, **built, **{k: v for k, v in m.items() if not k.startswith("found")},
                         "index_mb": idx_bytes / 1e6, "store_mb": store_bytes / 1e6,
                         "recall_text": recall(np.array(m["found_text"]), truth["text"]),
                         "recall_image": recall(np.array(m["found_image"]), truth["image"]),
                         "recall_f1": recall(np.array(m["found_f1"]), truth["text@f1"]),
                         "recall_f10": recall(np.array(m["found_f10"]), truth["text@f10"])})
            print_row(rows[-1], baseline)
            if not args.keep:
                shutil.rmtree(folder)
        (CACHE / f"results-{n}.json").write_text(json.dumps({"n": n, "baseline_exact_ms": baseline, "rows": rows,
                                                             "load": os.getloadavg()}, indent=1, default=str))
        print_table(n, rows, baseline)


def print_row(r: dict, baseline: float) -> None:
    print(f"  {r['kind']}: p50 {np.median(r['lat']):.2f} ms, recall text {r['recall_text']:.3f} image "
          f"{r['recall_image']:.3f}, filtered p50 {np.median(r['lat_f1']):.1f}/{np.median(r['lat_f10']):.1f} ms",
          flush=True)


def print_table(n: int, rows: list[dict], baseline: float) -> None:
    print(f"\n{n:,} vectors x 256 d; single queries at k={K}, 1 thread; exact scan baseline {baseline:.0f} ms; "
          f"load average {os.getloadavg()[0]:.1f}")
    head = (f"{'kind':<18} {'build s':>8} {'index MB':>9} {'fp16 MB':>8} {'RSS plain':>9} {'RSS all':>8} {'anon MB':>8} {'open s':>7} {'p50 ms':>7} "
            f"{'p95 ms':>7} {'speedup':>8} {'R@10 txt':>9} {'R@10 img':>9} {'1% ids':>7} {'1% rows':>8} {'10% ids':>8} "
            f"{'10% rows':>9} {'R@10 1%':>8} {'R@10 10%':>9} {'full k':>6} {'lookup s':>9}")
    print(head)
    for r in rows:
        p50 = float(np.median(r["lat"]))
        kind = f"{r['kind']}={r['record']['kind']}" if r.get("record") else r["kind"]
        print(f"{kind:<18} {r['build_s']:>8.0f} {r['index_mb']:>9.0f} {r['store_mb']:>8.0f} {r['rss_plain_mb']:>9.0f} "
              f"{r['rss_mb']:>8.0f} {r['anon_mb']:>8.0f} {r['open_s']:>7.2f} {p50:>7.2f} {np.percentile(r['lat'], 95):>7.2f} {baseline / p50:>7.0f}x "
              f"{r['recall_text']:>9.3f} {r['recall_image']:>9.3f} {np.median(r['lat_f1']):>7.1f} "
              f"{np.median(r['lat_f1_rows']):>8.1f} {np.median(r['lat_f10']):>8.1f} {np.median(r['lat_f10_rows']):>9.1f} "
              f"{r['recall_f1']:>8.3f} {r['recall_f10']:>9.3f} {str(r['full_f1'] and r['full_f10']):>6} {r['lookup_s']:>9.2f}")
    for r in rows:
        if r.get("record"):
            print(f"auto record: {json.dumps(r['record'])}")


if __name__ == "__main__":
    main()
