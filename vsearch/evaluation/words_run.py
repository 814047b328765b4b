"""Running the words benchmark over a built library and its ingested collection: read each file's
words back (and OCR the gated ones), rank every query in each mode, score Recall@K and the
relevance cut. Shared by benchmarks/words.py and tests/test_words_bench.py."""
from __future__ import annotations

import io
import time
from dataclasses import dataclass

import numpy as np
from PIL import Image

from ..fulltext import KeywordIndex, coverage, documents, is_described, parse_query
from ..imaging import read_file_bytes
from ..imaging.decode import decode_image_bytes
from ..imaging.words import embedded_words, merge, photo_words, sidecar_words
from ..search.fusion import DEPTH, MODES, fuse, relative_cut, rrf
from .words_library import Library



def keyword_docs(col, lib: Library, ocr: bool = True) -> tuple[dict[int, dict[str, str]], dict[str, float], dict]:
    """{content id: words} read back from the library's files as ingest reads them (one record per
    content: the words of its files joined), seconds spent reading words / gating / OCR, and what
    the gate passed."""
    gate = engine = None
    if ocr:
        from ..ocr import OcrEngine, TextGate

        gate, engine = TextGate(), OcrEngine()
    timing = {"words": 0.0, "gate": 0.0, "ocr": 0.0, "decode_cpu": 0.0}
    passed, read_names = set(), 0
    names = {p.relpath: p.sign for p in lib.photos if p.sign} | {d["relpath"]: d["name"] for d in lib.documents}
    rows = []
    for row in col.images.select(["id", "path"]).to_pylist():
        path = lib.root / row["path"]
        data = read_file_bytes(path)
        t = time.perf_counter()
        img = Image.open(io.BytesIO(data))
        words = merge(sidecar_words(path), embedded_words(img))
        timing["words"] += time.perf_counter() - t
        text = ""
        if gate is not None:
            c = time.process_time()
            small = decode_image_bytes(data, 224).image  # what ingest has decoded anyway: not counted
            timing["decode_cpu"] += time.process_time() - c
            t = time.perf_counter()
            look = gate.look(small)
            likely = look.share >= gate.threshold
            timing["gate"] += time.perf_counter() - t
            if likely:
                passed.add(row["path"])
                t = time.perf_counter()
                text = engine.read(decode_image_bytes(data, 960).image, look)
                timing["ocr"] += time.perf_counter() - t
                wanted = names.get(row["path"])
                read_names += bool(wanted and wanted.lower() in text.lower())
        rows.append({"id": row["id"], **photo_words(words, row["path"], text)})
    return documents(rows), timing, ({"passed": passed, "read": read_names} if gate is not None else {})


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
    return [(h.id, h.score) for h in col.search(text.replace('"', " "), k=min(len(col.images), most))]


def query_lists(col, index: KeywordIndex, docs: dict[int, dict[str, str]], queries: list[tuple[str, str]],
                depth: int = DEPTH) -> list[QueryLists]:
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
