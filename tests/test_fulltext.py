"""The keyword index: BM25 with field boosts, required phrases, prefixes, incremental generations."""
import os
import stat

import pytest

from vsearch.errors import CollectionFormatError
from vsearch.fulltext import KeywordIndex, matched, parse_query

DOCS = [
    (1, {"description": "A dog runs through the grass", "keywords": "dog; grass"}),
    (2, {"ocr": "COSTCO wholesale", "folder": "2019 Lisbon"}),
    (3, {"title": "Lisbon tram", "places": "Lisbon"}),
    (4, {"description": "a black dog swimming in a pool"}),
    (5, {"description": "a black cat next to a dog"}),
]


@pytest.fixture()
def index(tmp_path):
    return KeywordIndex.build(tmp_path / "keywords-000001", DOCS)


def ids(index, q, k=10):
    return [i for i, _ in index.search(parse_query(q), k)]


def test_bm25_stems_and_ranks(index):
    assert ids(index, "dogs running")[0] == 1          # stemmed: dogs = dog, running = run
    assert set(ids(index, "dog")) == {1, 4, 5}
    assert ids(index, "café") == [] and ids(index, "costco") == [2]  # case folded


def test_field_boosts_put_a_title_or_place_above_a_folder(index):
    assert ids(index, "Lisbon") == [3, 2]


def test_quoted_phrases_must_match(index):
    assert ids(index, '"black dog"') == [4]                  # "black cat next to a dog" holds both words, not the phrase
    assert ids(index, '"black dog" grass') == [4]            # the free term only ranks what the phrase allowed
    assert ids(index, '"dog" "pool"') == [4]                 # every phrase
    assert index.matching_ids(parse_query('"black dog"')) == {4} and index.matching_ids(parse_query("dog")) is None


def test_prefixes_match_unstemmed_words(index):
    assert set(ids(index, "lisb*")) == {2, 3}
    assert set(ids(index, "swimm*")) == {4}                  # "swimming" stems to "swim"; the prefix still matches
    assert ids(index, "l*") == ids(index, "the a") == []     # too short a prefix, stop words only: no query


def test_query_text_is_data_never_syntax(index):
    for q in ['title:lisbon', 'dog AND NOT cat', '(((', 'id:[0 TO 9]', '"unclosed', '*', "x" * 5000, "\x00\x1b[31m"]:
        index.search(parse_query(q), 5)  # never raises
    assert ids(index, "title:lisbon") == [3, 2]              # the colon is just a separator


def test_incremental_generations_leave_the_previous_one_untouched(tmp_path, index):
    new = KeywordIndex.update(index.folder, tmp_path / "keywords-000002", add=[(6, {"keywords": "dog"}),
                                                                               (4, {"description": "a cat"})],
                              delete=[1])
    assert set(ids(new, "dog")) == {5, 6} and ids(new, "cat")[0] == 4 and len(new) == 5
    old = KeywordIndex(index.folder)
    assert set(ids(old, "dog")) == {1, 4, 5} and len(old) == 5


def test_a_read_only_index_is_searched(tmp_path, index):
    folder = index.folder
    for p in [folder, *folder.iterdir()]:
        os.chmod(p, stat.S_IREAD | stat.S_IEXEC if p.is_dir() else stat.S_IREAD)
    try:
        if os.access(folder, os.W_OK):
            pytest.skip("running as a user that writes anywhere")
        assert ids(KeywordIndex(folder), "tram") == [3]
    finally:
        for p in [folder, *folder.iterdir()]:
            os.chmod(p, 0o755 if p.is_dir() else 0o644)


def test_a_missing_index_is_a_format_error(tmp_path):
    with pytest.raises(CollectionFormatError):
        KeywordIndex(tmp_path / "nothing")


def test_match_reasons_name_fields_and_terms():
    words = {"description": "a black dog swimming", "folder": "2019 Lisbon", "ocr": ""}
    assert matched(parse_query('dogs lisb* "black dog"'), words) == [
        {"field": "description", "terms": ["black", "dog"]}, {"field": "folder", "terms": ["lisb*"]}]
    assert matched(parse_query("tram"), words) == []


def test_copies_of_one_content_make_one_document_with_both_names():
    from vsearch.fulltext import documents

    docs = documents([{"id": 7, "folder": "2019 Lisbon", "description": "a tram"},
                      {"id": 7, "folder": "Best of", "description": "a tram"}, {"id": 8, "ocr": "STOP"}])
    assert docs[7]["folder"] == "2019 Lisbon Best of" and docs[7]["description"] == "a tram"
    assert docs[8]["ocr"] == "STOP" and docs[8]["title"] == ""


def _words(rows):
    import pyarrow as pa

    from vsearch.fulltext import FIELDS

    return pa.table({"id": pa.array([r["id"] for r in rows], pa.int64()),
                     **{f: pa.array([r.get(f) for r in rows], pa.string()) for f in FIELDS}})


def test_a_commit_reindexes_only_the_contents_whose_words_changed(tmp_path):
    from vsearch.atomic import atomic_folder
    from vsearch.fulltext.part import KeywordPart, changed_ids

    before = _words([{"id": 1, "description": "a tram"}, {"id": 2, "folder": "Lisbon"}, {"id": 3, "ocr": "STOP"},
                     {"id": 4}])
    after = _words([{"id": 1, "description": "a tram"}, {"id": 2, "folder": "Porto"},  # moved to another folder
                    {"id": 4, "keywords": "dog"}, {"id": 5, "title": "new"},            # a sidecar written; a new photo
                    {"id": 1, "description": "a tram", "folder": "Best of"}])           # a copy of 1
    assert changed_ids(before, after) == ({1, 2, 4, 5}, {3})
    assert changed_ids(before, before) == (set(), set())
    first = atomic_folder(tmp_path / "keywords-000001", KeywordPart(before).save)
    part = KeywordPart(after, first, before)
    assert not part.unchanged and set(part.docs) == {1, 2, 4, 5} and part.gone == {3}
    second = atomic_folder(tmp_path / "keywords-000002", part.save)
    new, old = KeywordIndex(second), KeywordIndex(first)
    assert ids(new, "porto") == [2] and ids(new, "lisbon") == [] and ids(new, "stop") == []
    assert ids(new, "best") == [1] and len(new) == 4
    assert ids(old, "lisbon") == [2] and ids(old, "stop") == [3]          # the previous generation as it was
    assert KeywordPart(after, second, after).unchanged


def test_ingest_keeps_a_keyword_index_of_folder_and_file_names(tmp_path, home):
    """The derived step: built by the first commit, updated by the next (a renamed folder), carried
    over when nothing changed, built anew by reindex."""
    import vsearch
    from tests.conftest import make_image
    from vsearch.pipeline.reindex import reindex

    root = tmp_path / "photos"
    make_image(root / "2019 Lisbon" / "tram_28.jpg", "red")
    make_image(root / "2019 Lisbon" / "IMG_2041.jpg", "blue")
    make_image(root / "Porto" / "bridge.png", "green")
    vsearch.ingest(str(root))

    def index():
        with vsearch.open_collection() as col:
            files = col.store.manifest.files
            ids = {r["path"]: r["id"] for r in col.images.select(["id", "path"]).to_pylist()}
            return files["keywords"], KeywordIndex(col.store.folder / files["keywords"]), ids

    name, ix, by_path = index()
    assert set(ids(ix, "lisbon")) == {by_path["2019 Lisbon/tram_28.jpg"], by_path["2019 Lisbon/IMG_2041.jpg"]}
    assert ids(ix, "tram") == [by_path["2019 Lisbon/tram_28.jpg"]] and ids(ix, "img") == []
    (root / "Porto").rename(root / "Braga")
    vsearch.ingest(str(root))
    name2, ix2, by_path = index()
    assert name2 != name and ids(ix2, "porto") == [] and ids(ix2, "braga") == [by_path["Braga/bridge.png"]]
    vsearch.ingest(str(root))
    assert index()[0] == name2                                           # nothing changed: carried over
    reindex()
    name3, ix3, _ = index()
    assert name3 != name2 and set(ids(ix3, "lisbon")) == set(ids(ix2, "lisbon")) and len(ix3) == 3
