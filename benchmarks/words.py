"""The words benchmark: Flickr8k photos written as a photographer's library (vsearch/evaluation/
words_library.py), searched by caption and by rendered word in semantic, keyword and hybrid mode.

    python benchmarks/words.py                       # dev, all 1,091 photos, with OCR
    python benchmarks/words.py --split train --limit 1091 --sweep   # where the fusion was tuned

Prints: Recall@1/@10 per query set and mode; the OCR gate's share, precision and recall and the
rendered names OCR found; ingest time and the time the words (and OCR) add to it; the relevance
cut against a flat threshold. The semantic rankings come from a real align-lite ingest of the
built folder; the keyword index is built from the words read back from the files.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parent))
from flickr import add_flickr_option  # noqa: E402

from vsearch.evaluation.words_library import Library, build_library  # noqa: E402
from vsearch.evaluation.words_run import (caption_cut, described_ids, keyword_docs, query_lists,  # noqa: E402
                                          recall_rows)


def _cpu() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _table(title: str, header: list[str], rows: list[list]) -> None:
    print(f"\n{title}\n| " + " | ".join(header) + " |\n|" + "---|" * len(header))
    for r in rows:
        print("| " + " | ".join(f"{x:.3f}" if isinstance(x, float) else str(x) for x in r) + " |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_flickr_option(ap)
    ap.add_argument("--split", default="dev")
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--out", type=Path, default=Path("runs/words-bench"))
    ap.add_argument("--no-ocr", action="store_true", help="skip OCR (word queries then rely on nothing but names)")
    ap.add_argument("--sweep", action="store_true", help="also print hybrid R@1 for a grid of fusion settings")
    ap.add_argument("--fresh", action="store_true", help="rebuild the library and the collection")
    args = ap.parse_args()

    out = args.out / f"{args.split}-{args.limit or 'all'}"
    if args.fresh and out.exists():
        shutil.rmtree(out)
    if not (out / "queries.json").is_file():
        build_library(args.flickr, out, split=args.split, limit=args.limit)
    lib = Library.load(out)
    home = out / "home"
    import vsearch

    shutil.rmtree(home, ignore_errors=True)  # ingest time is measured from scratch every run
    t, cpu = time.perf_counter(), _cpu()
    vsearch.ingest(str(lib.root), home=str(home), collection="library")
    ingest_s, ingest_cpu = time.perf_counter() - t, _cpu() - cpu
    col = vsearch.open_collection("library", home=str(home))

    cpu = _cpu()
    docs, timing, gate = keyword_docs(col, lib, ocr=not args.no_ocr)
    words_cpu = _cpu() - cpu - timing.pop("decode_cpu", 0.0)
    from vsearch.fulltext import KeywordIndex

    index = KeywordIndex.build(out / "keywords", docs.items())
    sets = {"caption, captioned half": [(q, p) for q, p in lib.caption_queries(True)],
            "caption, uncaptioned half": [(q, p) for q, p in lib.caption_queries(False)],
            "word, signs": [(q, p) for q, p, kind in lib.word_queries() if kind == "sign"],
            "word, documents": [(q, p) for q, p, kind in lib.word_queries() if kind != "sign"]}
    t = time.perf_counter()
    lists = {name: query_lists(col, index, docs, queries) for name, queries in sets.items()}
    print(f"ranked {sum(map(len, lists.values()))} queries in {time.perf_counter() - t:.1f} s")
    described = described_ids(docs)
    rows = recall_rows(lists, described=described)
    rows += [[r[0], r[1], "hybrid by RRF", r[3], r[4]] for r in recall_rows(lists, ("hybrid",), fusion="rrf")]
    _table(f"Recall ({args.split}, {len(col.images)} files; shared 2-core machine)",
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
    text_ids = {p.relpath for p in lib.photos if p.sign} | {d["relpath"] for d in lib.documents}
    if gate:
        passed = gate["passed"]
        hit = len(passed & text_ids)
        _table("OCR gate (DBNet at 128 px) and OCR", ["files", "with text", "gated", "share OCRed", "precision",
                                                      "recall", "names read by OCR"],
               [[n, len(text_ids), len(passed), len(passed) / n, hit / max(1, len(passed)), hit / len(text_ids),
                 f"{gate['read']}/{len(text_ids)}"]])
    extra = timing["words"] + timing.get("gate", 0.0) + timing.get("ocr", 0.0)
    _table("Ingest time (one run each; CPU: user + system of the process and its workers)",
           ["ingest s", "words s", "gate s", "OCR s", "with words", "with words + OCR", "ingest CPU s",
            "words + OCR CPU s", "CPU with words + OCR"],
           [[round(ingest_s, 1), round(timing["words"], 1), round(timing.get("gate", 0.0), 1),
             round(timing.get("ocr", 0.0), 1), f"{(ingest_s + timing['words']) / ingest_s:.2f}x",
             f"{(ingest_s + extra) / ingest_s:.2f}x", round(ingest_cpu, 1), round(words_cpu, 1),
             f"{(ingest_cpu + words_cpu) / ingest_cpu:.2f}x"]])

    captions = lists["caption, captioned half"] + lists["caption, uncaptioned half"]
    _table("Relevance cut on caption queries (keep: the caption's own photo is kept; cut: share of the "
           "collection left out)", ["cut", "setting", "keep", "cut", "median kept"], caption_cut(captions, n))


if __name__ == "__main__":
    main()
