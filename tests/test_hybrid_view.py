"""The words side of a search over a words table and its keyword index."""
import pyarrow as pa
import pytest

from vsearch.errors import QueryError
from vsearch.fulltext import FIELDS, KeywordIndex, documents
from vsearch.search.hybrid import WordsView

ROWS = [  # one row per file; content 1 has two files (a copy in another folder)
    {"id": 1, "folder": "2019 Lisbon", "description": "a yellow tram climbs a hill", "keywords": "tram; Lisbon"},
    {"id": 1, "folder": "Best of", "description": "a yellow tram climbs a hill", "keywords": "tram; Lisbon"},
    {"id": 2, "ocr": "COSTCO\nWHOLESALE"},
    {"id": 3, "description": "a dog on a beach"},
    {"id": 4},
]


@pytest.fixture()
def view(tmp_path):
    table = pa.table({"id": pa.array([r["id"] for r in ROWS], pa.int64()),
                      **{f: pa.array([r.get(f, "") for r in ROWS], pa.string()) for f in FIELDS}})
    index = KeywordIndex.build(tmp_path / "k", documents(ROWS).items())
    return WordsView(table, index)


SEMANTIC = [(4, 0.52), (3, 0.50), (1, 0.45), (2, 0.20)]


def test_modes(view):
    assert [i for i, _ in view.rank("semantic", "tram", SEMANTIC).ranked] == [4, 3, 1, 2]
    assert [i for i, _ in view.rank("keyword", "tram", SEMANTIC).ranked] == [1]
    assert view.rank("hybrid", "yellow tram", SEMANTIC).ranked[0][0] == 1
    assert view.rank("hybrid", "costco", SEMANTIC).ranked[0][0] == 2     # text in the picture
    assert view.rank("hybrid", "a red car", SEMANTIC).ranked[0][0] == 4   # no words match: the vectors decide
    with pytest.raises(QueryError):
        view.rank("exact", "tram", SEMANTIC)


def test_quoted_phrases_bind_even_the_semantic_mode(view):
    assert [i for i, _ in view.rank("semantic", '"yellow tram"', SEMANTIC).ranked] == [1]
    assert view.rank("hybrid", '"red tram"', SEMANTIC).ranked == []


def test_a_filter_restricts_the_keyword_side(view):
    assert view.rank("keyword", "tram", SEMANTIC, allowed={2, 3}).ranked == []


def test_words_and_reasons_of_a_hit(view):
    words, why = view.reasons(view.rank("hybrid", "trams lisb*", SEMANTIC).parsed, 1)
    assert words["folder"] == "2019 Lisbon Best of" and "ocr" not in words
    assert why == [{"field": "description", "terms": ["tram"]}, {"field": "keywords", "terms": ["tram", "lisb*"]},
                   {"field": "folder", "terms": ["lisb*"]}]
    assert view.words_of(99) == {f: "" for f in FIELDS}


def test_without_a_keyword_index_every_mode_is_the_vectors():
    view = WordsView(pa.table({"id": pa.array([], pa.int64())}), None)
    assert view.rank("hybrid", "tram", SEMANTIC).ranked == SEMANTIC


def test_collection_search_modes_phrases_sort_and_reasons(tmp_path, home):
    import vsearch
    from tests.conftest import make_image

    root = tmp_path / "photos"
    make_image(root / "2019 Lisbon" / "tram_28.jpg", "red")
    make_image(root / "2019 Lisbon" / "IMG_2041.jpg", "blue", "circle")
    make_image(root / "Porto" / "bridge.png", "green")
    vsearch.ingest(str(root))
    with vsearch.open_collection() as col:
        keyword = col.search("lisbon", mode="keyword")
        assert sorted(h.relpath for h in keyword) == ["2019 Lisbon/IMG_2041.jpg", "2019 Lisbon/tram_28.jpg"]
        assert all(h.matched == [{"field": "folder", "terms": ["lisbon"]}] for h in keyword)
        assert keyword[0].words["folder"] == "2019 Lisbon"
        assert [h.relpath for h in col.search('"porto"', k=3)] == ["Porto/bridge.png"]   # a phrase binds semantic too
        assert col.search("tram", mode="keyword", where="folder = 'Porto'") == []
        hybrid = col.search("a red tram", mode="hybrid", k=3)
        assert hybrid[0].relpath == "2019 Lisbon/tram_28.jpg" and hybrid[0].matched
        by_name = col.search("a photo", k=3, sort="name", cutoff=10.0)
        assert [h.relpath.rsplit("/", 1)[1] for h in by_name] == ["bridge.png", "IMG_2041.jpg", "tram_28.jpg"]
        assert col.search("a photo", k=3, mode="semantic")[0].words is None         # semantic hits carry no words
        assert col.search("a photo", k=3)[0].words                                   # hybrid, the default, does
        with pytest.raises(QueryError, match="hybrid"):
            col.search("x", mode="exact")
