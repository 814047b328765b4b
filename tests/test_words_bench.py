"""The words benchmark, built by the test from Flickr8k dev photos (a small library) and ingested by
`vsearch ingest --ocr`: what was written is what ingest stored, and each mode of
`Collection.search` finds what it should."""
import pytest

from vsearch.evaluation.words_library import Library, build_library
from vsearch.evaluation.words_run import (described_ids, gate_report, query_lists, ranks, recall, search_ranks,
                                          stored_docs, stored_index)


@pytest.fixture(scope="module")
def bench(flickr, tmp_path_factory):
    pytest.importorskip("rapidocr_onnxruntime")
    import vsearch

    out = tmp_path_factory.mktemp("words")
    build_library(flickr, out, split="dev", limit=40, sign_share=0.2, documents=3)
    lib = Library.load(out)
    summary = vsearch.ingest(str(lib.root), home=str(out / "home"), collection="library", ocr=True)
    col = vsearch.open_collection("library", home=str(out / "home"))
    yield lib, col, summary
    col.close()


def test_ingest_stores_the_library_as_written(bench):
    lib, col, summary = bench
    docs = stored_docs(col)
    by_path = {r["path"]: docs[r["id"]] for r in col.images.select(["id", "path"]).to_pylist()}
    carriers = {p.carrier for p in lib.photos if p.captioned}
    assert {"xmp", "iptc", "sidecar", "sidecar-ext"} <= carriers
    for p in lib.photos:
        words = by_path[p.relpath]
        assert words["description"] == (p.description or "")            # every carrier, exactly
        assert words["keywords"].split("; ") == (p.keywords or [""])
        assert words["filename"] == ""                                   # IMG_0001: a camera name
        assert words["folder"].startswith("2019")
    read = gate_report(col, lib)
    assert summary.ocr_looked == len(col.images) and summary.ocr_read < len(col.images) / 2  # OCR ran on few
    assert read["read"] >= 0.9 * read["with_text"]


def test_each_mode_finds_what_it_should(bench):
    lib, col, _ = bench
    signs = [(q, p) for q, p, kind in lib.word_queries() if kind == "sign"]
    captioned = lib.caption_queries(True)
    assert recall(search_ranks(col, signs, "keyword"), 1) >= 90 and recall(search_ranks(col, signs, "hybrid"), 1) >= 90
    assert recall(search_ranks(col, signs, "semantic"), 1) < 50                # the vectors cannot read
    assert recall(search_ranks(col, captioned, "hybrid"), 1) > recall(search_ranks(col, captioned, "semantic"), 1)


def test_the_tuning_lists_rank_as_the_collection_does(bench):
    """benchmarks/words.py --sweep re-fuses each query's lists: with the shipped settings they give
    the very ranking `Collection.search` gives."""
    lib, col, _ = bench
    docs = stored_docs(col)
    queries = lib.caption_queries() + [(q, p) for q, p, _ in lib.word_queries()]
    lists = query_lists(col, stored_index(col), docs, queries)
    for mode in ("semantic", "keyword", "hybrid"):
        fused = ranks(lists, mode, described_ids(docs))
        assert list(fused.clip(max=11)) == list(search_ranks(col, queries, mode).clip(max=11))


def test_quoted_phrases_must_match_in_every_mode(bench):
    lib, col, _ = bench
    photo = next(p for p in lib.photos if p.captioned and len(p.description.split()) > 4)
    phrase = " ".join(photo.description.split()[1:3])
    for mode in ("semantic", "keyword", "hybrid"):
        hits = col.search(f'"{phrase}"', k=10, mode=mode)
        assert photo.relpath in [h.relpath for h in hits]
        assert all(h.matched for h in hits) and len(hits) < len(col.images)   # only photos holding the phrase
