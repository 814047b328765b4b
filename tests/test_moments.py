"""One result per video, at its best moment (vsearch/search/moments.py)."""
from __future__ import annotations

from vsearch.search.moments import collapse

VIDEO = {10: "a", 11: "a", 12: "a", 20: "b", 21: "b"}  # frame id -> video


def test_each_video_is_one_result_at_its_best_frame_with_its_other_moments():
    candidates = [(0.9, 11), (0.8, 1), (0.7, 10), (0.6, 20), (0.5, 2), (0.4, 12), (0.3, 21)]
    got = collapse(candidates, VIDEO.get, 10)
    assert [(c.id, c.score) for c in got] == [(11, 0.9), (1, 0.8), (20, 0.6), (2, 0.5)]
    assert got[0].moments == [(10, 0.7), (12, 0.4)] and got[2].moments == [(21, 0.3)] and got[1].moments == []


def test_k_results_and_the_moments_of_those_met_later():
    got = collapse([(0.9, 10), (0.8, 1), (0.7, 2), (0.6, 11), (0.5, 20)], VIDEO.get, 2)
    assert [c.id for c in got] == [10, 1] and got[0].moments == [(11, 0.6)]


def test_fewer_than_k_when_the_candidates_run_out():
    assert [c.id for c in collapse([(0.9, 10), (0.8, 11), (0.7, 12)], VIDEO.get, 3)] == [10]
