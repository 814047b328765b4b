"""Indexes built from vectors that arrive a chunk at a time (index/chunks.py, build.py) equal the
ones built from arrays in memory; IVF parts merged on disk stream their fp16 store into a file
that is byte for byte what FAISS writes; a mapped index is saved by sharing its files."""
from __future__ import annotations

import os

import faiss
import numpy as np
import pytest

from vsearch.index import build, build_index, load_index
from vsearch.index.auto import choose_and_build, choose_and_build_chunks
from vsearch.index.chunks import ArrayChunks, collect, sample, sample_rows
from vsearch.index.fp16store import new_store, read_store, store_rows, write_store
from vsearch.index.measure import GroundTruth

from test_index_kinds import MIN_RECALL, PARAMS, one_thread, recall, unit  # noqa: F401 (one_thread: autouse)

D, N = 32, 3000


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(5)
    centres = rng.standard_normal((30, D))
    vecs = unit(centres[rng.integers(0, 30, N)] + 0.6 * rng.standard_normal((N, D)))
    vecs = vecs.astype(np.float16).astype(np.float32)  # as the shards store them
    ids = rng.choice(2**62, size=N, replace=False).astype(np.int64)
    queries = unit(vecs[rng.choice(N, 30, replace=False)] + 0.3 * rng.standard_normal((30, D)))
    return ids, vecs, queries


class Uneven(ArrayChunks):
    """Chunks of a size the caller did not ask for (shards end where they end)."""

    def chunks(self, rows=None):
        cuts = [0, 7, 700, 701, 1900, self.n]
        for a, b in zip(cuts, cuts[1:]):
            yield self.ids[a:b], self.vecs[a:b]


def test_sample_is_the_same_rows_whatever_the_chunking(data):
    ids, vecs, _ = data
    want = vecs[sample_rows(N, 500, seed=3)]
    np.testing.assert_array_equal(sample(ArrayChunks(ids, vecs), 500, seed=3, rows=64), want)
    np.testing.assert_array_equal(sample(Uneven(ids, vecs), 500, seed=3), want)
    assert len(sample(Uneven(ids, vecs), 10 * N)) == N  # a sample bigger than the source is all of it
    got_ids, got = collect(Uneven(ids, vecs))
    np.testing.assert_array_equal(got_ids, ids)
    np.testing.assert_array_equal(got, vecs)


def test_store_written_in_blocks_is_the_file_faiss_writes(tmp_path):
    rng = np.random.default_rng(0)
    store = new_store(D)
    store.add(unit(rng.standard_normal((1000, D))))
    rows = store_rows(store)
    n = write_store(tmp_path / "v.faiss", D, [rows[:1], rows[1:600], rows[600:600], rows[600:]], block_rows=128)
    assert n == 1000
    assert (tmp_path / "v.faiss").read_bytes() == faiss.serialize_index(store).tobytes()
    mapped = read_store(tmp_path / "v.faiss", mmap=True)
    np.testing.assert_array_equal(mapped.reconstruct_n(0, 1000), store.reconstruct_n(0, 1000))
    write_store(tmp_path / "empty.faiss", D, [])
    assert read_store(tmp_path / "empty.faiss", mmap=False).ntotal == 0
    with pytest.raises(ValueError, match="uint8"):
        write_store(tmp_path / "bad.faiss", D, [np.zeros((3, D), np.float32)])


@pytest.mark.parametrize("kind", sorted(PARAMS))
def test_built_from_chunks_equals_built_from_arrays(kind, data):
    ids, vecs, q = data
    params = build.kind_class(kind).resolve_params(N, D, PARAMS[kind])
    streamed = build.build_from_chunks(kind, params, Uneven(ids, vecs))
    assert streamed.ntotal == N
    if kind == "hnsw":  # the graph depends on the order vertices arrive in: as good, not the same
        assert recall(streamed.search(q, 10)[1], ids, vecs, q, 10) >= MIN_RECALL[kind]
        return
    whole = build_index(kind, ids, vecs, PARAMS[kind])
    a, b = whole.search(q, 10), streamed.search(q, 10)
    np.testing.assert_array_equal(a[1], b[1])
    np.testing.assert_allclose(a[0], b[0], atol=1e-6)


@pytest.mark.parametrize("kind", ["ivf", "ivfsq8", "ivfpq"])
def test_ivf_beyond_one_part_is_merged_on_disk(kind, data, tmp_path, monkeypatch):
    ids, vecs, q = data
    monkeypatch.setattr(build, "part_rows", lambda cls, dim, params: 1000)
    params = build.kind_class(kind).resolve_params(N, D, PARAMS[kind])
    streamed = build.build_from_chunks(kind, params, Uneven(ids, vecs), workdir=tmp_path / "work")
    assert streamed.mmapped and (tmp_path / "work" / "merged" / "lists.ivfdata").is_file()
    assert sorted(p.name for p in (tmp_path / "work").iterdir()) == ["merged"]  # the parts are gone
    whole = build_index(kind, ids, vecs, PARAMS[kind])
    for allowed in (None, np.sort(ids[::30]), np.sort(ids[::3])):
        a, b = whole.search(q, 10, allowed), streamed.search(q, 10, allowed)
        np.testing.assert_array_equal(a[1], b[1])
        np.testing.assert_allclose(a[0], b[0], atol=1e-6)
    np.testing.assert_array_equal(streamed.vectors(ids[:50]), vecs[:50])  # the streamed fp16 store

    # Saving the mapped result shares its big files (hard links), writing none of them again.
    streamed.set_search_params(nprobe=4)
    streamed.save(tmp_path / "saved")
    for name in ("lists.ivfdata", "vectors.faiss", "ids.npy", "index.faiss"):
        assert os.stat(tmp_path / "saved" / name).st_ino == os.stat(tmp_path / "work" / "merged" / name).st_ino
    reopened = load_index(tmp_path / "saved", mmap=True)
    assert reopened.params["nprobe"] == 4
    np.testing.assert_array_equal(reopened.search(q, 10)[1], streamed.search(q, 10)[1])


def test_ground_truth_from_chunks_equals_from_arrays(data):
    ids, vecs, q = data
    whole = GroundTruth(q, ids, vecs, 10)
    index = build_index("flat", ids, vecs)
    streamed = GroundTruth.of_chunks(q, Uneven(ids, vecs), 10, index.vectors)
    np.testing.assert_array_equal(whole.ids, streamed.ids)
    np.testing.assert_allclose(whole.scores, streamed.scores, atol=1e-6)
    found = build_index("ivfpq", ids, vecs, PARAMS["ivfpq"]).search(q, 10)[1]
    assert whole.recall(found) == streamed.recall(found) < 1.0


def test_auto_over_chunks_records_what_it_does_over_arrays(data):
    ids, vecs, _ = data
    text = unit(vecs[:300] + 0.8 * np.random.default_rng(1).standard_normal((300, D)))
    a_index, a = choose_and_build(ids, vecs, "ivfsq8", text_queries=text)
    b_index, b = choose_and_build_chunks(Uneven(ids, vecs), "ivfsq8", text_queries=text)
    for key in ("kind", "params", "recall_at_10", "tuning", "queries", "vectors"):
        assert a[key] == b[key], key
    assert b["recall_at_10"]["text"] >= 0.95


@pytest.mark.parametrize("merged", [False, True], ids=["saved", "merged-on-disk"])
@pytest.mark.parametrize("kind", ["ivfsq8", "ivfpq"])
def test_an_update_of_a_mapped_ivf_index_reads_no_stored_vector(kind, merged, data, tmp_path, monkeypatch):
    """Adding to (and removing from) a memory-mapped IVF index leaves its fp16 store mapped — the
    new rows go after it — and the result equals the same changes made in memory, before and
    after a save."""
    from vsearch.index.fp16store import GrowingStore

    ids, vecs, q = data
    first, later = N - 200, slice(N - 200, N)
    params = build.kind_class(kind).resolve_params(first, D, PARAMS[kind])
    trained_on = vecs[:first]
    if merged:
        monkeypatch.setattr(build, "part_rows", lambda cls, dim, params: 1000)
        build.build_from_chunks(kind, params, ArrayChunks(ids[:first], trained_on), workdir=tmp_path / "work")
        folder = tmp_path / "work" / "merged"
    else:
        build.build_from_chunks(kind, params, ArrayChunks(ids[:first], trained_on)).save(tmp_path / "saved")
        folder = tmp_path / "saved"
    mapped, memory = load_index(folder, mmap=True), load_index(folder, mmap=False)
    read = []
    monkeypatch.setattr("vsearch.index.fp16store.read_store", lambda *a: read.append(a) or read_store(*a))
    for index in (mapped, memory):
        index.remove(ids[:40])
        index.add(ids[later], vecs[later])
    assert isinstance(mapped.store, GrowingStore) and not read  # no stored row was read into memory
    for allowed in (None, np.sort(ids[100::7])):
        a, b = memory.search(q, 10, allowed), mapped.search(q, 10, allowed)
        np.testing.assert_array_equal(a[1], b[1])
        np.testing.assert_allclose(a[0], b[0], atol=1e-6)
    np.testing.assert_array_equal(mapped.vectors(ids[N - 60:]), vecs[N - 60:])  # new rows and old
    mapped.save(tmp_path / "updated")
    # the old rows are shared with the first generation (a hard link), the new ones a segment of their own
    assert (tmp_path / "updated" / "vectors.faiss").stat().st_ino == (folder / "vectors.faiss").stat().st_ino
    assert load_index(tmp_path / "updated", mmap=True).store.files[1].name == "vectors.1.faiss"
    again = load_index(tmp_path / "updated", mmap=True)
    np.testing.assert_array_equal(again.search(q, 10)[1], memory.search(q, 10)[1])
    np.testing.assert_array_equal(again.vectors(ids[100:140]), vecs[100:140])
