"""The words benchmark, built by the test from Flickr8k dev photos (a small library): what was
written is read back, and each mode finds what it should."""
import pytest

from vsearch.evaluation.words_library import Library, build_library
from vsearch.evaluation.words_run import described_ids, keyword_docs, query_lists, ranks, recall
from vsearch.fulltext import KeywordIndex


@pytest.fixture(scope="module")
def bench(flickr, tmp_path_factory):
    import vsearch

    out = tmp_path_factory.mktemp("words")
    build_library(flickr, out, split="dev", limit=40, sign_share=0.2, documents=3)
    lib = Library.load(out)
    vsearch.ingest(str(lib.root), home=str(out / "home"), collection="library")
    col = vsearch.open_collection("library", home=str(out / "home"))
    docs, _, gate = keyword_docs(col, lib, ocr=True)
    index = KeywordIndex.build(out / "keywords", docs.items())
    yield lib, col, docs, gate, index
    col.close()


def test_the_library_reads_back_as_written(bench):
    lib, col, docs, _, _ = bench
    by_path = {r["path"]: docs[r["id"]] for r in col.images.select(["id", "path"]).to_pylist()}
    carriers = {p.carrier for p in lib.photos if p.captioned}
    assert {"xmp", "iptc", "sidecar", "sidecar-ext"} <= carriers
    for p in lib.photos:
        words = by_path[p.relpath]
        assert words["description"] == (p.description or "")            # every carrier, exactly
        assert words["keywords"].split("; ") == (p.keywords or [""])
        assert words["filename"] == ""                                   # IMG_0001: a camera name
        assert words["folder"].startswith("2019")


def test_each_mode_finds_what_it_should(bench):
    lib, col, docs, gate, index = bench
    described = described_ids(docs)
    signs = [(q, p) for q, p, kind in lib.word_queries() if kind == "sign"]
    captioned = query_lists(col, index, docs, lib.caption_queries(True))
    words = query_lists(col, index, docs, signs)
    assert len(gate["passed"]) < len(lib.photos) / 2                      # OCR ran on few photos
    assert recall(ranks(words, "keyword"), 1) >= 90 and recall(ranks(words, "hybrid", described), 1) >= 90
    assert recall(ranks(words, "semantic"), 1) < 50                        # the vectors cannot read
    assert recall(ranks(captioned, "hybrid", described), 1) > recall(ranks(captioned, "semantic"), 1)


def test_quoted_phrases_must_match_in_every_mode(bench):
    lib, col, docs, _, index = bench
    photo = next(p for p in lib.photos if p.captioned and len(p.description.split()) > 4)
    phrase = " ".join(photo.description.split()[1:3])
    lists = query_lists(col, index, docs, [(f'"{phrase}"', photo.relpath)])
    for mode in ("semantic", "keyword", "hybrid"):
        assert ranks(lists, mode, described_ids(docs))[0] < float("inf")
    allowed = lists[0].required
    assert allowed and len(allowed) < len(docs)
