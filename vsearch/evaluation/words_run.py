"""Running the words benchmark over a built library and the collection a real `vsearch ingest`
(with `--ocr`) made of it: the words each photo got at ingest, the ranking of every query in each
mode through `Collection.search(mode=…)`, Recall@K and the relevance cut; and, for tuning the
fusion, each query's ranked lists (the collection's own keyword index and stored words). Shared by
benchmarks/words.py and tests/test_words_bench.py."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..fulltext import KeywordIndex, coverage, documents, is_described, parse_query
from ..fulltext.part import words_table
from ..search.fusion import DEPTH, MODES, fuse, relative_cut, rrf
from .words_library import Library


def stored_docs(col) -> dict[int, dict[str, str]]:
    """{content id: its words} as the collection stored them at ingest (the keyword index's documents)."""
    return documents(words_table(col.images).to_pylist())


def stored_index(col) -> KeywordIndex:
    """The keyword index the collection's last commit derived."""
    return KeywordIndex(col.store.folder / col.store.manifest.files["keywords"])


def gate_report(col, lib: Library) -> dict:
    """What OCR read at ingest: the files whose stored text holds a rendered name, and the files
    with no rendered text that got some text anyway."""
    names = {p.relpath: p.sign for p in lib.photos if p.sign} | {d["relpath"]: d["name"] for d in lib.documents}
    read, other = 0, 0
    for row in col.images.select(["path", "ocr"]).to_pylist():
        text = (row["ocr"] or "").lower()
        if row["path"] in names:
            read += names[row["path"]].lower() in text
        elif text:
            other += 1
    return {"with_text": len(names), "read": read, "other_with_text": other}


def search_ranks(col, queries: list[tuple[str, str]], mode: str, k: int = 10) -> np.ndarray:
    """The 1-based rank of each query's own photo in `Collection.search(mode=…)`'s top k (np.inf
    beyond): what the CLI, the UI and the service return."""
    ids = {r["path"]: r["id"] for r in col.images.select(["id", "path"]).to_pylist()}
    out = []
    for text, relpath in queries:
        got = [h.id for h in col.search(text, k=k, mode=mode)]
        out.append(got.index(ids[relpath]) + 1 if ids[relpath] in got else np.inf)
    return np.asarray(out, dtype=np.float64)


@dataclass
class QueryLists:
    target: int                          # content id of the photo the query is about
    semantic: list[tuple[int, float]]    # every photo, best first (as `Collection.search` ranks them)
    keyword: list[tuple[int, float]]
    required: set[int] | None            # ids holding every quoted phrase
    coverage: dict[int, float]           # of the query's words, for each candidate of hybrid ranking


def _semantic(col, text: str, most: int = 2_000) -> list[tuple[int, float]]:
    """The photos ranked for a text query by the vectors alone (all of them, up to `most`): quotes are
    taken out, since `Collection.search` would apply the phrases with the collection's own words."""
    return [(h.id, h.score) for h in col.search(text.replace('"', " "), k=min(len(col.images), most), mode="semantic")]


def query_lists(col, index: KeywordIndex, docs: dict[int, dict[str, str]], queries: list[tuple[str, str]],
                depth: int = DEPTH) -> list[QueryLists]:
    """Each query's ranked lists, for fusion settings other than the shipped one (`ranks`)."""
    ids = {r["path"]: r["id"] for r in col.images.select(["id", "path"]).to_pylist()}
    out = []
    for text, relpath in queries:
        parsed = parse_query(text)
        semantic, keyword = _semantic(col, text), index.search(parsed, depth)
        idf = index.idf(parsed)
        candidates = {i for i, _ in semantic[:depth]} | {i for i, _ in keyword}
        cov = {i: coverage(parsed, docs[i], idf) for i in candidates if i in docs}
        out.append(QueryLists(ids[relpath], semantic, keyword, index.matching_ids(parsed), cov))
    return out


def described_ids(docs: dict[int, dict[str, str]]) -> set[int]:
    return {i for i, w in docs.items() if is_described(w)}


def ranks(lists: list[QueryLists], mode: str, described: set[int] = frozenset(), depth: int = DEPTH,
          fusion: str = "coverage", **options) -> np.ndarray:
    """The 1-based rank of each query's own photo in `mode` (np.inf when not in the fused list);
    `fusion="rrf"` ranks hybrid by reciprocal rank fusion instead."""
    r = []
    for q in lists:
        if mode == "hybrid" and fusion == "rrf":
            fused = [i for i, _ in rrf(q.semantic[:depth], q.keyword, **options)]
        else:
            fused = [i for i, _ in fuse(mode, q.semantic, q.keyword, q.required, q.coverage, described,
                                        depth=depth, **options)]
        r.append(fused.index(q.target) + 1 if q.target in fused else np.inf)
    return np.asarray(r, dtype=np.float64)


def recall(r: np.ndarray, k: int) -> float:
    return float(np.mean(r <= k) * 100) if len(r) else float("nan")


def search_rows(col, sets: dict[str, list[tuple[str, str]]], modes=MODES) -> list[list]:
    """[query set, n, mode, R@1, R@10] through `Collection.search` (the shipped ranking)."""
    rows = []
    for name, queries in sets.items():
        for mode in modes:
            r = search_ranks(col, queries, mode)
            rows.append([name, len(queries), mode, round(recall(r, 1), 1), round(recall(r, 10), 1)])
    return rows


def recall_rows(sets: dict[str, list[QueryLists]], modes=MODES, described: set[int] = frozenset(),
                **options) -> list[list]:
    rows = []
    for name, lists in sets.items():
        for mode in modes:
            r = ranks(lists, mode, described, **options)
            rows.append([name, len(lists), mode, round(recall(r, 1), 1), round(recall(r, 10), 1)])
    return rows


def caption_cut(lists: list[QueryLists], n_files: int, margins=(0.1, 0.2, 0.25, 0.3),
                flat=(0.25, 0.3, 0.35, 0.4)) -> list[list]:
    """For each relative margin and each flat cosine threshold: the share of caption queries whose
    own photo the cut keeps, and the share of the collection it leaves out (mean over queries)."""
    rows = []
    for kind, settings in (("relative (best - margin)", margins), ("flat (score >=)", flat)):
        for s in settings:
            kept, sizes = [], []
            for q in lists:
                scores = [x[1] for x in q.semantic]
                n = relative_cut(scores, s) if kind.startswith("relative") else sum(x >= s for x in scores)
                sizes.append(n)
                kept.append(q.target in {i for i, _ in q.semantic[:n]})
            rows.append([kind, s, round(float(np.mean(kept)), 3), round(1 - float(np.mean(sizes)) / n_files, 3),
                         int(np.median(sizes))])
    return rows
