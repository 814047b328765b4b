"""Every index type passes the same checks against brute force."""
import numpy as np
import pytest

from conftest import unit_rows
from vsearch.errors import CollectionFormatError
from vsearch.store.index import VectorIndex

KINDS = ["flat", "hnsw", "ivf"]


def brute(vecs, ids, q, k, allowed=None):
    s = q @ vecs.T
    if allowed is not None:
        s = np.where(np.isin(ids, allowed)[None], s, -np.inf)
    order = np.argsort(-s, axis=1)[:, :k]
    return ids[order]


@pytest.fixture(scope="module")
def data():
    # Clustered like real embeddings (uniform random vectors are the worst case for IVF).
    centers = unit_rows(30, 48, seed=1)
    rng = np.random.default_rng(1)
    vecs = centers[rng.integers(0, 30, 3000)] + 0.25 * unit_rows(3000, 48, seed=4)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    ids = np.random.default_rng(2).choice(2**62, size=3000, replace=False).astype(np.int64)
    q = vecs[:40] + 0.1 * unit_rows(40, 48, seed=3)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    return vecs, ids, q


@pytest.mark.parametrize("kind", KINDS)
def test_recall_against_brute_force(kind, data):
    vecs, ids, q = data
    idx = VectorIndex.build(ids, vecs, kind)
    _, got = idx.search(q, 10)
    ref = brute(vecs, ids, q, 10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(got, ref)])
    assert recall == 1.0 if kind == "flat" else recall >= 0.9


@pytest.mark.parametrize("kind", KINDS)
def test_filtered_search_returns_k_allowed_hits(kind, data):
    vecs, ids, q = data
    idx = VectorIndex.build(ids, vecs, kind)
    allowed = ids[::37]  # 82 ids, ~3%
    scores, got = idx.search(q, 10, allowed)
    assert np.isin(got, allowed).all()
    assert (got >= 0).all()  # k hits although the filter is selective
    ref = brute(vecs, ids, q, 10, allowed)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(got, ref)])
    assert recall >= (1.0 if kind == "flat" else 0.8)
    assert (np.diff(scores, axis=1) <= 1e-6).all()


@pytest.mark.parametrize("kind", KINDS)
def test_save_load_and_reconstruct(kind, data, tmp_path):
    vecs, ids, q = data
    idx = VectorIndex.build(ids, vecs, kind)
    idx.save(tmp_path / "i.faiss")
    again = VectorIndex.load(tmp_path / "i.faiss", idx.kind, idx.params)
    np.testing.assert_array_equal(idx.search(q, 5)[1], again.search(q, 5)[1])
    np.testing.assert_allclose(again.reconstruct(ids[7]), vecs[7], atol=1e-6)


def test_damaged_index_is_refused(tmp_path):
    p = tmp_path / "i.faiss"
    p.write_bytes(b"garbage" * 10)
    with pytest.raises(CollectionFormatError, match="reindex"):
        VectorIndex.load(p, "flat", {})
