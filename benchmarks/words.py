"""The words benchmark: Flickr8k photos written as a photographer's library (vsearch/evaluation/
words_library.py), ingested by `vsearch ingest` (its words read at ingest; `--ocr` for the text in
the pictures) and searched by caption and by rendered word in semantic, keyword and hybrid mode.

    python benchmarks/words.py                       # dev, all 1,091 photos (+12 documents)
    python benchmarks/words.py --split test          # held out: report these
    python benchmarks/words.py --limit 200 --repeat 1   # small, on a shared machine
    python benchmarks/words.py --sweep               # hybrid R@1 for a grid of fusion settings (dev only)

Prints: Recall@1/@10 per query set and mode through `Collection.search(mode=…)` (and hybrid by
reciprocal rank fusion, for comparison); what OCR read at ingest and the share of images it ran
on; the ingest time of the folder without and with `--ocr` (from scratch, alternating, medians;
wall and CPU of the process and its decode workers), and their ratio; the relevance cut against a
flat threshold.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np


sys.path.insert(0, str(Path(__file__).resolve().parent))
from flickr import add_flickr_option  # noqa: E402

from vsearch.evaluation.words_library import Library, build_library  # noqa: E402
from vsearch.evaluation.words_run import (caption_cut, described_ids, gate_report, query_lists,  # noqa: E402
                                          recall_rows, search_rows, stored_docs, stored_index)


def _cpu() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _table(title: str, header: list[str], rows: list[list]) -> None:
    print(f"\n{title}\n| " + " | ".join(header) + " |\n|" + "---|" * len(header))
    for r in rows:
        print("| " + " | ".join(f"{x:.3f}" if isinstance(x, float) else str(x) for x in r) + " |")


def _ingest(root: Path, home: Path, ocr: bool):
    """One ingest from scratch: (summary, wall s, CPU s of the process and its workers)."""
    import vsearch

    shutil.rmtree(home, ignore_errors=True)
    t, cpu = time.perf_counter(), _cpu()
    s = vsearch.ingest(str(root), home=str(home), collection="library", ocr=ocr)
    return s, time.perf_counter() - t, _cpu() - cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_flickr_option(ap)
    ap.add_argument("--split", default="dev")
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--out", type=Path, default=Path("runs/words-bench"))
    ap.add_argument("--repeat", type=int, default=3, help="ingests of each kind, alternating (medians)")
    ap.add_argument("--sweep", action="store_true", help="also print hybrid R@1 for a grid of fusion settings")
    ap.add_argument("--fresh", action="store_true", help="rebuild the library")
    args = ap.parse_args()

    out = args.out / f"{args.split}-{args.limit or 'all'}"
    if args.fresh and out.exists():
        shutil.rmtree(out)
    if not (out / "queries.json").is_file():
        build_library(args.flickr, out, split=args.split, limit=args.limit)
    lib = Library.load(out)
    import vsearch

    # a first ingest makes the model's ONNX exports (once per machine): not counted
    _ingest(lib.root / "Documents", out / "warm", ocr=True)
    runs: dict[bool, list] = {False: [], True: []}
    for _ in range(args.repeat):
        for ocr in (False, True):
            runs[ocr].append(_ingest(lib.root, out / ("home-ocr" if ocr else "home"), ocr))
    summary = runs[True][-1][0]
    col = vsearch.open_collection("library", home=str(out / "home-ocr"))

    sets = {"caption, captioned half": [(q, p) for q, p in lib.caption_queries(True)],
            "caption, uncaptioned half": [(q, p) for q, p in lib.caption_queries(False)],
            "word, signs": [(q, p) for q, p, kind in lib.word_queries() if kind == "sign"],
            "word, documents": [(q, p) for q, p, kind in lib.word_queries() if kind != "sign"]}
    t = time.perf_counter()
    rows = search_rows(col, sets)
    print(f"ranked {sum(map(len, sets.values())) * 3} searches in {time.perf_counter() - t:.1f} s")
    docs, index = stored_docs(col), stored_index(col)
    lists = {name: query_lists(col, index, docs, queries) for name, queries in sets.items()}
    described = described_ids(docs)
    rows += [[r[0], r[1], "hybrid by RRF", r[3], r[4]] for r in recall_rows(lists, ("hybrid",), fusion="rrf")]
    _table(f"Recall ({args.split}, {len(col.images)} files, ingested with --ocr; shared 2-core machine)",
           ["queries", "n", "mode", "R@1", "R@10"], sorted(rows, key=lambda r: list(sets).index(r[0])))
    if args.sweep:
        rows = []
        for power in (1, 2, 3):
            for bonus in (0.2, 0.3, 0.4, 0.5):
                for penalty in (0.0, 0.05, 0.1):
                    r = recall_rows(lists, ("hybrid",), described, bonus=bonus, penalty=penalty, power=power)
                    rows.append([power, bonus, penalty] + [x[3] for x in r])
        _table("Hybrid R@1 by fusion setting", ["power", "bonus", "penalty", *sets], rows)

    n = len(col.images)
    read = gate_report(col, lib)
    _table("OCR at ingest (the gate: the text detector at 128 px, pages again at 256 px)",
           ["files", "with rendered text", "OCRed", "share OCRed", "names read", "others given text"],
           [[n, read["with_text"], summary.ocr_read, summary.ocr_read / max(1, summary.ocr_looked),
             f"{read['read']}/{read['with_text']}", read["other_with_text"]]])
    med = {ocr: (float(np.median([r[1] for r in runs[ocr]])), float(np.median([r[2] for r in runs[ocr]])))
           for ocr in runs}
    _table(f"Ingest of the folder from scratch ({args.repeat} of each, alternating; medians; CPU: user + system "
           "of the process and its decode workers)",
           ["ingest", "wall s", "CPU s", "wall ratio", "CPU ratio"],
           [["vsearch ingest", round(med[False][0], 1), round(med[False][1], 1), "1.00x", "1.00x"],
            ["vsearch ingest --ocr", round(med[True][0], 1), round(med[True][1], 1),
             f"{med[True][0] / med[False][0]:.2f}x", f"{med[True][1] / med[False][1]:.2f}x"]])

    captions = lists["caption, captioned half"] + lists["caption, uncaptioned half"]
    _table("Relevance cut on caption queries (keep: the caption's own photo is kept; cut: share of the "
           "collection left out)", ["cut", "setting", "keep", "cut", "median kept"], caption_cut(captions, n))


if __name__ == "__main__":
    main()
