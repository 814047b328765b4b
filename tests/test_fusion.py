"""Search modes, hybrid fusion, the relative relevance cut and sorting, as functions over ranked lists."""
from types import SimpleNamespace

import pytest

from vsearch.errors import QueryError
from vsearch.search.fusion import cut_and_sort, fuse, hybrid, relative_cut, rrf, sort_hits

SEMANTIC = [(1, 0.50), (2, 0.48), (3, 0.47), (4, 0.30)]   # 1: undescribed; 2, 3: described
KEYWORD = [(3, 7.0), (2, 2.0), (9, 5.0)]                  # 9: a photo the vectors did not rank at all


def test_modes_and_required_phrases():
    assert fuse("semantic", SEMANTIC, KEYWORD) == SEMANTIC
    assert fuse("keyword", SEMANTIC, KEYWORD) == KEYWORD
    assert [i for i, _ in fuse("semantic", SEMANTIC, KEYWORD, required={2, 4})] == [2, 4]
    assert [i for i, _ in fuse("hybrid", SEMANTIC, KEYWORD, required={3}, coverage={3: 1.0})] == [3]
    with pytest.raises(QueryError, match="hybrid"):
        fuse("fuzzy", SEMANTIC, KEYWORD)


def test_hybrid_lifts_the_photo_whose_words_cover_the_query():
    ranked = hybrid(SEMANTIC, KEYWORD, coverage={3: 1.0, 2: 0.3}, described={2, 3})
    assert [i for i, _ in ranked][:2] == [3, 1]
    assert dict(ranked)[9] == pytest.approx(0.30)   # a keyword-only hit starts from the vector list's floor


def test_a_few_shared_words_do_not_push_down_an_undescribed_photo():
    # photo 1 has no words; 2 and 3 hold a third of the query's words (say "dog" of "a dog on a beach")
    ranked = hybrid(SEMANTIC, KEYWORD, coverage={2: 0.3, 3: 0.3}, described={2, 3})
    assert ranked[0][0] == 1
    # reciprocal rank fusion does push it down: why it is not the hybrid ranking
    assert rrf(SEMANTIC, KEYWORD)[0][0] != 1


def test_a_described_photo_that_does_not_hold_the_words_goes_down():
    ranked = hybrid([(2, 0.50), (1, 0.49)], [], coverage={}, described={2})
    assert [i for i, _ in ranked] == [1, 2]


def test_relative_cut_follows_the_query_not_a_flat_score():
    high = [0.62, 0.60, 0.55, 0.31, 0.30]
    low = [0.33, 0.31, 0.29, 0.05]
    assert relative_cut(high, 0.1) == 3 and relative_cut(low, 0.1) == 3   # a flat 0.3 would keep 5 and 2
    assert relative_cut([], 0.1) == 0 and relative_cut([0.2], 0.0) == 1


def _hit(id_, score, taken, name, size, mtime="2020-01-01T00:00:00+00:00"):
    return SimpleNamespace(id=id_, score=score, taken_at=taken, mtime=mtime, relpath=f"a/{name}", bytes=size)


def test_sorting_a_cut_result_set():
    hits = [_hit(1, 0.60, "2019-05-01T10:00:00", "b.jpg", 10), _hit(2, 0.58, None, "A.jpg", 30,
                                                                     mtime="2021-01-01T00:00:00+00:00"),
            _hit(3, 0.55, "2018-01-01T10:00:00", "c.jpg", 20), _hit(4, 0.20, "2022-01-01T00:00:00", "d.jpg", 5)]
    assert [h.id for h in cut_and_sort(hits, "hybrid", "taken_at")] == [2, 1, 3]  # 4 is cut; no EXIF date: file date
    assert [h.id for h in cut_and_sort(hits, "hybrid", "taken_at", descending=False)] == [3, 1, 2]
    assert [h.id for h in cut_and_sort(hits, "semantic", "name")] == [2, 1, 3]    # A→Z, case-insensitive
    assert [h.id for h in cut_and_sort(hits, "keyword", "size")] == [2, 3, 1, 4]  # keyword: every match is kept
    assert [h.id for h in cut_and_sort(hits, "hybrid")] == [1, 2, 3, 4]           # relevance: nothing cut
    with pytest.raises(QueryError, match="taken_at"):
        sort_hits(hits, "colour")
