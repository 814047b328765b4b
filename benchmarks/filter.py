"""Metadata filter latency: `MetadataFilter.rows()` (checked, locked-down connection, one thread)
against today's unchecked way (the filter spliced into a query on a default DuckDB connection),
measured in the same run, call by call in turn, on the same synthetic images table.

    python benchmarks/filter.py [--sizes 100000,1000000] [--repeats 30]

Columns: p50 of a call (the filter's check cached, as for repeated queries), the baseline's p50 and
the ratio, and the p50 of checking a text not seen before (parse and allow-list walk, paid once).
"""
from __future__ import annotations

import argparse
import statistics
import time
from datetime import date, datetime, timedelta, timezone

import numpy as np
import pyarrow as pa

from vsearch.filters import Filter
from vsearch.store.tables import images_table
from vsearch.store.metadata_filter import MetadataFilter

CAMERAS = ["Canon EOS 5D", "NIKON D750", "iPhone 12", None]
FILTERS: list[tuple[str, "str | Filter"]] = [
    ("folder = (1 %)", "folder = 'f7'"),
    ("Filter(folders) (1 %)", Filter(folders=("f7",))),
    ("camera IN (50 %)", "camera IN ('Canon EOS 5D', 'NIKON D750')"),
    ("README: date AND LIKE", "taken_at >= '2020-01-01' AND folder LIKE '%trips%'"),
    ("README: width AND LIKE", "width >= 90 AND path LIKE '%.png'"),
    ("Filter(camera, dates, bytes)", Filter(cameras=("iPhone 12",), taken_from=date(2021, 1, 1), min_bytes=1_500_000)),
    ("lower/regexp/year", "regexp_matches(lower(path), 'img1[0-9]*\\.jpg$') AND year(taken_at) >= 2019"),
]


def make_images(n: int) -> pa.Table:
    rng = np.random.default_rng(0)
    i = np.arange(n)
    folders = np.where(i % 10 == 3, [f"trips/t{k % 100}" for k in i], [f"f{k % 100}" for k in i])
    start = datetime(2015, 1, 1)
    taken = [start + timedelta(days=int(d)) for d in rng.integers(0, 3650, n)]
    return images_table({
        "id": i + 1, "path": [f"{f}/img{k}.{'png' if k % 7 == 0 else 'jpg'}" for f, k in zip(folders, i)],
        "root": ["/photos"] * n, "folder": folders, "digest": [f"{k:032x}" for k in i],
        "bytes": rng.integers(100_000, 4_000_000, n), "mtime": [datetime.now(timezone.utc)] * n,
        "mtime_ns": np.zeros(n, dtype=np.int64), "width": rng.integers(50, 5000, n).astype(np.int32),
        "height": rng.integers(50, 5000, n).astype(np.int32), "taken_at": taken,
        "camera": [CAMERAS[k % 4] for k in i], "orientation": [None] * n, "raw_path": [None] * n})


class Unchecked:
    """Today's filter: the text spliced into SQL on a default connection (the baseline)."""

    def __init__(self, images: pa.Table):
        import duckdb

        self.con = duckdb.connect(":memory:")
        self.con.register("images_raw", images.append_column("rn", pa.array(np.arange(len(images), dtype=np.int64))))

    def rows(self, where: "str | Filter") -> np.ndarray:
        params: list = []
        if not isinstance(where, str):
            where, params = where.to_sql()
        return np.asarray(self.con.execute(f"SELECT rn FROM images_raw AS images WHERE {where}", params).fetchnumpy()["rn"])


def p50_ms(fn, repeats: int) -> float:
    return paired_p50_ms([fn], repeats)[0]


def paired_p50_ms(fns: list, repeats: int) -> list[float]:
    """Median ms of each function, called in turn each round so that load on the machine hits
    all of them alike."""
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for fn, ts in zip(fns, times):
            t = time.perf_counter()
            fn()
            ts.append((time.perf_counter() - t) * 1000)
    return [statistics.median(ts) for ts in times]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="100000,1000000")
    ap.add_argument("--repeats", type=int, default=30)
    args = ap.parse_args()

    setups: list[str] = []
    print(f"{'rows':>8} {'filter':<30} {'matches':>8} {'p50 ms':>8} {'unchecked p50 ms':>17} {'ratio':>6} {'check (uncached) ms':>20}")
    for n in [int(s) for s in args.sizes.split(",")]:
        images = make_images(n)
        t = time.perf_counter()
        checked = MetadataFilter(images)
        setup = time.perf_counter() - t
        t = time.perf_counter()
        checked.rows("folder = 'f0'")  # the first filter on a column also dictionary-encodes it
        first = time.perf_counter() - t
        baseline = Unchecked(images)
        setups.append(f"{n:>8} rows: MetadataFilter() {setup * 1000:.1f} ms, first folder filter {first * 1000:.1f} ms")
        for label, where in FILTERS:
            rows = checked.rows(where)
            text = where if isinstance(where, str) else where.to_sql()[0]
            variants = iter(text + " " * i for i in range(1, args.repeats + 1))  # each one new to the cache
            check = p50_ms(lambda: checked.check(next(variants)), args.repeats)
            expected = np.sort(baseline.rows(where))
            assert np.array_equal(rows, expected), label
            warm, base = paired_p50_ms([lambda: checked.rows(where), lambda: baseline.rows(where)], args.repeats)
            print(f"{n:>8} {label:<30} {len(rows):>8} {warm:>8.2f} {base:>17.2f} {warm / base:>6.2f} {check:>20.2f}")
    print("one-time costs:")
    print("\n".join(setups))


if __name__ == "__main__":
    main()
