"""The vector shards read a row group at a time (store/vectors.py): the live vectors in chunks
equal what `load` reads whole, an index built from them equals one built from the arrays, and a
streamed compaction keeps exactly the live rows in bounded row groups."""
from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest

from vsearch.index import build_index
from vsearch.index.auto import choose_and_build_chunks
from vsearch.index.chunks import collect
from vsearch.store import vectors as vector_module
from vsearch.store.vectors import VectorStore

D = 16


def unit(x):
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture()
def store(tmp_path):
    """Shards as ingests leave them: some ids stored twice (a resumed batch, a re-import with
    another vector: the first stored wins, as in `load`), one shard empty of live ids."""
    rng = np.random.default_rng(0)
    s = VectorStore(tmp_path / "vectors", D)
    ids = rng.choice(2**62, 900, replace=False).astype(np.int64)
    vecs = unit(rng.standard_normal((900, D)))
    for a, b in [(0, 300), (300, 301), (301, 700), (650, 900), (100, 120)]:
        shard_vecs = vecs[a:b] if a != 100 else unit(rng.standard_normal((b - a, D)))  # repeated ids, other vectors
        s.write_shard([{"id": int(i), "digest": f"{i:x}", "width": 10} for i in ids[a:b]], shard_vecs)
    return s, ids, vecs


def test_chunks_equal_load(store):
    s, ids, _ = store
    live = ids[::2]
    want_ids, want_vecs, _ = s.load(live)
    chunks = s.chunks(live)
    assert chunks.n == len(want_ids) == len(live)
    got_ids, got_vecs = collect(chunks, rows=64)
    order = np.argsort(got_ids)
    np.testing.assert_array_equal(got_ids[order], want_ids)
    np.testing.assert_array_equal(got_vecs[order], want_vecs)
    assert max(len(i) for i, _ in chunks.chunks(64)) <= 64
    np.testing.assert_array_equal(np.sort(chunks.ids()), want_ids)
    everything = s.chunks()  # no live set: every stored id once
    assert everything.n == len(np.unique(ids))


def test_index_from_shards_equals_index_from_loaded_arrays(store):
    s, ids, _ = store
    live = ids[5:800]
    loaded_ids, loaded = s.load(live)[:2]
    q = unit(np.random.default_rng(1).standard_normal((20, D)))
    a = build_index("flat", loaded_ids, loaded).search(q, 10)
    index, record = choose_and_build_chunks(s.chunks(live), "flat")
    b = index.search(q, 10)
    np.testing.assert_array_equal(a[1], b[1])
    np.testing.assert_allclose(a[0], b[0], atol=1e-6)
    assert record["vectors"] == len(live)


def test_streamed_compaction_keeps_the_live_rows_in_bounded_row_groups(store, monkeypatch):
    s, ids, _ = store
    monkeypatch.setattr(vector_module, "ROW_GROUP", 100)
    live = ids[::3]
    before_ids, before_vecs, before_meta = s.load(live)
    s.compact(live)
    (shard,) = s.shards()
    meta = pq.ParquetFile(shard).metadata
    assert meta.num_rows == len(live) and max(meta.row_group(i).num_rows for i in range(meta.num_row_groups)) <= 100
    after_ids, after_vecs, after_meta = s.load()
    np.testing.assert_array_equal(after_ids, before_ids)
    np.testing.assert_array_equal(after_vecs, before_vecs)
    assert after_meta.to_pylist() == before_meta.to_pylist()
    s.compact(np.zeros(0, np.int64))  # nothing live: no shard left
    assert s.shards() == []


def test_biases_from_shards_equal_biases_from_arrays(store, tmp_path):
    """Only the vectors of ids without a stored bias are read; the table equals the in-memory one."""
    from vsearch.models.hubness import Hubness, reuse_or_compute, reuse_or_compute_chunks

    s, ids, _ = store
    rng = np.random.default_rng(2)
    hub = Hubness(unit(rng.standard_normal((50, D))), unit(rng.standard_normal((50, D))))
    live = ids[::2]
    live_ids, vecs, _ = s.load(live)
    prev_ids = np.sort(live_ids[::3])
    prev = (prev_ids, np.full(len(prev_ids), 0.5, np.float32))
    want = reuse_or_compute(hub.image_bias, live_ids, lambda i: vecs[np.searchsorted(live_ids, i)], prev)
    asked = []

    def vectors_of(missing):
        asked.append(len(missing))
        return s.chunks(missing).chunks(32)

    order = np.random.default_rng(3).permutation(len(live_ids))  # any order of ids
    got = reuse_or_compute_chunks(hub.image_bias, live_ids[order], prev, vectors_of)
    np.testing.assert_allclose(got, want[order], rtol=1e-6)
    assert asked == [len(live_ids) - len(prev_ids)]
    with pytest.raises(ValueError, match="not given"):
        reuse_or_compute_chunks(hub.image_bias, live_ids, None, lambda missing: s.chunks(missing[1:]).chunks())
