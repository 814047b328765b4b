"""`vsearch reindex --engine`: the options are checked before any work (the distributed build
itself runs on a multi-node cluster in tests/test_ray_cluster.py, slow suite)."""
from __future__ import annotations

from conftest import cli


def test_reindex_refuses_an_unknown_engine_and_an_address_without_ray(tmp_path):
    r = cli("reindex", "--engine", "spark", "--home", tmp_path, code=2, one_line=True)
    assert "unknown engine 'spark'" in r.output
    r = cli("reindex", "--ray-address", "auto", "--home", tmp_path, code=2, one_line=True)
    assert "--engine ray" in r.output
    assert not list(tmp_path.iterdir())  # refused before anything was written


def test_parts_split_a_large_shard_and_keep_every_live_row_once():
    """The distributed build's parts (pipeline/ray_index.groups): about `rows` live rows each, a
    shard larger than that (an import writes large ones) split by its rows, so a cluster's nodes
    all get parts; every live row in exactly one part, in shard order."""
    import numpy as np

    from vsearch.pipeline.ray_index import groups

    big, empty, sparse = np.ones(3000, bool), np.zeros(10, bool), np.array([1, 0, 1, 1] * 250, bool)
    parts = groups([("big", big), ("empty", empty), ("sparse", sparse)], 1000)
    assert [sum(int(m.sum()) for _, m in part) for part in parts] == [1000, 1000, 1000, 750]
    for name, mask in (("big", big), ("sparse", sparse)):
        pieces = [m for part in parts for s, m in part if s == name]
        assert (np.sum(pieces, axis=0) == mask).all()  # each live row once, no dead row
    assert not [s for part in parts for s, _ in part if s == "empty"]
