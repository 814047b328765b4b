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
