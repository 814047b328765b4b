"""Server-side time of UI interactions on a 10k-image collection: one full Streamlit script run
(widgets, search, thumbnail grid) per interaction, measured with Streamlit's AppTest.

    python benchmarks/ui.py [--n 10000] [--repeats 5]

The collection is synthetic in its vectors (like benchmarks/query.py) but every row names a real
JPEG (hard links to the example photos), so thumbnails are really made and served. "first view"
runs make the thumbnails of results never shown before; "warm" runs repeat searches whose
thumbnails exist. Times are the app script's own run time on the server (it records it in
session state); the AppTest round trip, which adds AppTest's polling, is shown for the warm search.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from query import QUERIES, make_collection  # noqa: E402


def link_photos(root: Path, n: int) -> None:
    photos = sorted((REPO / "examples" / "photos").glob("*.jpg"))
    for i in range(1, n + 1):
        dst = root / f"f{i % 100}" / f"img{i}.jpg"
        dst.parent.mkdir(parents=True, exist_ok=True)
        os.link(photos[i % len(photos)], dst)


ROUND_TRIPS: list[float] = []


def timed(fn) -> float:
    """Server-side script time of the interaction (the app records it); the AppTest round trip,
    which adds AppTest's polling, is kept in ROUND_TRIPS."""
    t = time.perf_counter()
    at = fn()
    ROUND_TRIPS.append((time.perf_counter() - t) * 1000)
    return float(at.session_state["_script_ms"]) if at is not None else ROUND_TRIPS[-1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--repeats", type=int, default=5, help="Warm passes over the query list.")
    args = ap.parse_args()

    from streamlit.testing.v1 import AppTest

    import vsearch
    from vsearch.models import load_model
    from vsearch.models.onnx_export import export_text_tower

    model = load_model()
    export_text_tower(model)  # as after a real ingest: text queries run through ONNX Runtime
    base = Path(tempfile.mkdtemp(prefix="vsearch-ui-bench-"))
    root = base / "photos"
    link_photos(root, args.n)
    name = make_collection(base / "indexes", args.n, model, root=str(root))
    os.environ["VSEARCH_HOME"] = str(base / "indexes")

    at = AppTest.from_file(str(REPO / "vsearch" / "ui" / "app.py"), default_timeout=600)
    open_ms = timed(at.run)
    assert not at.exception, at.exception

    def search(q: str):
        at.text_input(key="query").input(q).run()
        assert not at.exception and len(at.main.image) >= 20, (at.exception, len(at.main.image))
        return at

    first = [timed(lambda q=q: search(q)) for q in QUERIES]
    ROUND_TRIPS.clear()
    warm = [timed(lambda q=q: search(q)) for _ in range(args.repeats) for q in QUERIES]
    warm_round_trip = list(ROUND_TRIPS)
    similar = []
    for _ in range(args.repeats):
        search(QUERIES[0])
        key = next(b.key for b in at.main.button if b.key.startswith("like-"))
        similar.append(timed(lambda: at.button(key=key).click().run()))
        at.button(key="clear-like").click().run()
    filtered = []
    for i in range(args.repeats):
        search(QUERIES[1])
        filtered.append(timed(lambda i=i: at.sidebar.multiselect(key="f_folders").set_value([f"f{i}", f"f{i + 50}"]).run()))
        at.sidebar.multiselect(key="f_folders").set_value([]).run()
    col = vsearch.open_collection(name, home=base / "indexes")
    col.search(QUERIES[0], k=20)
    api = [timed(lambda q=q: col.search(q, k=20) and None) for _ in range(args.repeats) for q in QUERIES]

    print(f"{args.n:,} images, 20 results per page, {os.cpu_count()} CPU cores")
    print(f"{'interaction':<42} {'runs':>5} {'p50 ms':>8} {'p95 ms':>8}")
    rows = [("open the app (collection load, first run)", [open_ms]),
            ("text search, first view (thumbnails made)", first),
            ("text search, warm", warm),
            ("  same, AppTest round trip", warm_round_trip),
            ("'Similar' on a result, warm", similar),
            ("folder filter change, warm", filtered),
            ("  of which Collection.search() (API only)", api)]
    for label, xs in rows:
        p95 = statistics.quantiles(xs, n=20)[18] if len(xs) >= 2 else xs[0]
        print(f"{label:<42} {len(xs):>5} {statistics.median(xs):>8.1f} {p95:>8.1f}")


if __name__ == "__main__":
    main()
