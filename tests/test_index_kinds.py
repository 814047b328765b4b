"""Every index kind (vsearch.index) passes the same checks against brute force; auto's choice,
its measured recall and the rebuild advice; parts merged on disk equal one build."""
from __future__ import annotations

import json

import faiss
import numpy as np
import pytest

from vsearch.errors import CollectionFormatError
from vsearch.index import KINDS, IndexInputError, IndexKindError, build_index, load_index
from vsearch.index import gpu as gpu_tools
from vsearch.index.auto import choose_and_build, plan, rebuild_due
from vsearch.index.parts import build_part, merge_parts, train

D, N = 32, 4000
# Small data, so small structures; auto sizes them itself (tested below).
PARAMS = {
    "flat": {},
    "hnsw": {"M": 16, "ef_construction": 40, "ef_search": 64},
    "ivf": {"nlist": 32, "nprobe": 8},
    "ivfsq8": {"nlist": 32, "nprobe": 8},
    "ivfpq": {"nlist": 32, "nprobe": 8, "m": 8, "nbits": 6},
}
MIN_RECALL = {"flat": 1.0, "hnsw": 0.95, "ivf": 0.9, "ivfsq8": 0.9, "ivfpq": 0.85}
KIND_NAMES = sorted(PARAMS)


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    # Small data: OpenMP threads cost more than they bring (and spin on a busy machine).
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    yield
    faiss.omp_set_num_threads(before)


@pytest.fixture(scope="module")
def data():
    # Clustered like real embeddings; ids are arbitrary 63-bit values, one of them negative.
    rng = np.random.default_rng(3)
    centres = rng.standard_normal((40, D))
    vecs = unit(centres[rng.integers(0, 40, N)] + 0.6 * rng.standard_normal((N, D)))
    ids = rng.choice(2**62, size=N, replace=False).astype(np.int64)
    ids[17] = -12345
    queries = unit(vecs[rng.choice(N, 40, replace=False)] + 0.3 * rng.standard_normal((40, D)))
    return ids, vecs, queries


@pytest.fixture(scope="module")
def built(data, tmp_path_factory):
    """Each kind built once, saved; tests that change an index load their own copy."""
    ids, vecs, _ = data
    folder = tmp_path_factory.mktemp("indexes")
    out = {}
    for kind in KIND_NAMES:
        index = build_index(kind, ids, vecs, PARAMS[kind])
        index.save(folder / kind)
        out[kind] = (index, folder / kind)
    return out


def brute(ids, vecs, q, k, allowed=None):
    s = q @ vecs.T
    if allowed is not None:
        s = np.where(np.isin(ids, allowed)[None], s, -np.inf)
    order = np.argsort(-s, axis=1)[:, :k]
    return ids[order], np.take_along_axis(s, order, 1)


def recall(found, ids, vecs, q, k, allowed=None):
    """Tie-tolerant recall@k: a found id counts when it is a true neighbour or scores at least
    the k-th true score."""
    true_ids, true_scores = brute(ids, vecs, q, k, allowed)
    row_of = {int(i): r for r, i in enumerate(ids)}
    hits = 0
    for qi, row in enumerate(found):
        for i in set(int(x) for x in row if x != -1):
            score = float(q[qi] @ vecs[row_of[i]])
            hits += i in set(true_ids[qi].tolist()) or score >= true_scores[qi, -1] - 1e-5
    return hits / (len(found) * k)


# ---------------------------------------------------------------------------- the shared suite
@pytest.mark.parametrize("kind", KIND_NAMES)
def test_recall_against_brute_force(kind, data, built):
    ids, vecs, q = data
    index, _ = built[kind]
    scores, found = index.search(q, 10)
    assert found.shape == scores.shape == (len(q), 10)
    assert recall(found, ids, vecs, q, 10) >= MIN_RECALL[kind]
    assert (np.diff(scores, axis=1) <= 1e-6).all()
    assert index.ntotal == N and index.kind == kind


@pytest.mark.parametrize("kind", KIND_NAMES)
@pytest.mark.parametrize("share", [0.01, 0.3])  # selective (exact path) and broad (index + bitmap)
def test_filtered_search_returns_k_allowed_hits(kind, share, data, built):
    ids, vecs, q = data
    index, _ = built[kind]
    allowed = np.sort(np.random.default_rng(5).choice(ids, int(share * N), replace=False))
    scores, found = index.search(q, 10, allowed)
    assert np.isin(found, allowed).all() and (found >= 0).all()
    assert recall(found, ids, vecs, q, 10, allowed) >= min(MIN_RECALL[kind], 0.9)
    assert (np.diff(scores, axis=1) <= 1e-6).all()


@pytest.mark.parametrize("kind", KIND_NAMES)
def test_filter_smaller_than_k_and_unknown_ids(kind, data, built):
    ids, vecs, q = data
    index, _ = built[kind]
    allowed = np.array([ids[3], ids[99], ids[2000], 424242], np.int64)  # 424242 is not indexed
    scores, found = index.search(q[:3], 10, allowed)
    assert (np.sort(found[:, :3], axis=1) == np.sort(allowed[:3])).all()
    assert (found[:, 3:] == -1).all() and np.isneginf(scores[:, 3:]).all()
    assert (index.search(q[:2], 5, np.array([424242], np.int64))[1] == -1).all()


@pytest.mark.parametrize("kind", KIND_NAMES)
def test_selection_by_table_rows_equals_selection_by_ids(kind, data, built):
    ids, vecs, q = data
    _, folder = built[kind]
    index = load_index(folder)
    table_ids = np.concatenate([ids[::-1], [424242]])  # a metadata table: any order, ids the index lacks
    row_positions = index.lookup(table_ids)  # once per index
    assert row_positions[-1] == -1 and (index.lookup(ids[[5, 9]]) >= 0).all()
    rows = np.flatnonzero(np.arange(len(table_ids)) % 7 == 0)  # what a --where matched
    rows = np.concatenate([rows, rows[:3], [len(table_ids) - 1]])  # repeats and the absent id
    by_rows = index.search(q, 10, index.select(positions=row_positions[rows]))
    by_ids = index.search(q, 10, table_ids[rows])
    np.testing.assert_array_equal(by_rows[1], by_ids[1])
    selection = index.select(table_ids[rows])
    index.remove(ids[:1])
    with pytest.raises(IndexInputError, match="resolve the filter again"):
        index.search(q, 10, selection)


@pytest.mark.parametrize("kind", KIND_NAMES)
def test_save_load_memory_mapped_and_vectors(kind, data, built):
    ids, vecs, q = data
    index, folder = built[kind]
    expected = index.search(q, 10)[1]
    for mmap in (False, True):
        again = load_index(folder, mmap=mmap)
        assert again.kind == kind and again.params == index.params and again.mmapped == mmap
        np.testing.assert_array_equal(again.search(q, 10)[1], expected)
        # fp16 storage in the IVF kinds: 1e-3 of a unit vector
        np.testing.assert_allclose(again.vectors(ids[[7, 17, 3999]]), vecs[[7, 17, 3999]], atol=1e-3)
        np.testing.assert_allclose(again.reconstruct(ids[5]), vecs[5], atol=1e-3)
    with pytest.raises(IndexInputError, match="not in the index"):
        index.vectors(np.array([424242], np.int64))


@pytest.mark.parametrize("kind", KIND_NAMES)
def test_add_and_remove_without_rebuild(kind, data, built):
    ids, vecs, q = data
    _, folder = built[kind]
    index = load_index(folder, mmap=True)
    gone = ids[:500]
    assert index.remove(np.concatenate([gone, [424242]])) == 500  # a mapped index reads itself into RAM first
    assert not index.mmapped and index.ntotal == N - 500
    assert load_index(folder).ntotal == N  # the saved folder is untouched
    _, found = index.search(q, 10)
    assert not np.isin(found, gone).any()
    assert recall(found, ids[500:], vecs[500:], q, 10) >= MIN_RECALL[kind]
    new = unit(vecs[:50] + 0.01)
    index.add(np.arange(1, 51, dtype=np.int64), new)  # new ids, near the removed vectors
    _, found = index.search(new, 1)
    assert (found[:, 0] == np.arange(1, 51)).mean() >= 0.9
    index.add(gone[:5], vecs[:5])  # a removed id may come back
    assert index.ntotal == N - 500 + 55
    with pytest.raises(IndexInputError, match="already in the index"):
        index.add(ids[600:601], vecs[600:601])
    # flat closes the gaps; the graph masks what it cannot remove; IVF removes from its lists
    # but keeps the fp16 rows (positions must not move): both count towards a rebuild.
    assert index.dead_fraction == (0.0 if kind == "flat" else pytest.approx(500 / (N + 55)))


@pytest.mark.parametrize("kind", KIND_NAMES)
def test_bad_input_is_refused(kind, data, built):
    ids, vecs, q = data
    index, _ = built[kind]
    with pytest.raises(IndexInputError, match="dimension"):
        index.search(np.zeros((1, D + 1), np.float32), 5)
    with pytest.raises(IndexInputError, match="NaN"):
        index.search(np.full((1, D), np.nan, np.float32), 5)
    with pytest.raises(IndexInputError, match="positive"):
        index.search(q, 0)
    with pytest.raises(IndexInputError, match="duplicate"):
        build_index(kind, np.array([1, 1, 2], np.int64), vecs[:3], PARAMS[kind])
    with pytest.raises(IndexKindError, match="takes no parameter"):
        build_index(kind, ids, vecs, {**PARAMS[kind], "colour": "red"})


def test_unknown_kind_is_refused_before_any_work(data):
    ids, vecs, _ = data
    with pytest.raises(IndexKindError, match="known: auto, flat, hnsw, ivf, ivfpq, ivfsq8"):
        plan(10, D, requested="hsnw")
    with pytest.raises(IndexKindError, match="nprobe"):
        build_index("ivf", ids, vecs, {"nlist": 16, "nprobe": 64})


def test_damaged_index_is_refused(built, tmp_path):
    (tmp_path / "x").mkdir()
    with pytest.raises(CollectionFormatError, match="reindex"):
        load_index(tmp_path / "x")
    _, folder = built["ivf"]
    broken = tmp_path / "broken"
    broken.mkdir()
    for f in folder.iterdir():
        (broken / f.name).write_bytes(f.read_bytes())
    (broken / "index.faiss").write_bytes(b"garbage" * 10)
    with pytest.raises(CollectionFormatError, match="damaged.*reindex"):
        load_index(broken)


# ---------------------------------------------------------------------------- parts
@pytest.mark.parametrize("kind", ["ivf", "ivfpq"])
def test_merge_of_parts_equals_one_build(kind, data, tmp_path):
    ids, vecs, q = data
    trained = train(kind, vecs, N, PARAMS[kind])
    one = trained.empty_like()
    one.add(ids, vecs)
    order = np.argsort(ids)  # parts cut in id order, so positions match the single build's
    cuts = [0, 1000, 2500, N]
    parts = [tmp_path / f"part{i}" for i in range(3)]
    for i, part in enumerate(parts):
        rows = order[cuts[i]:cuts[i + 1]]
        build_part(trained, ids[rows], vecs[rows], part)
    merge_parts(trained, parts, tmp_path / "merged")
    merged = load_index(tmp_path / "merged", mmap=True)
    assert (tmp_path / "merged" / "lists.ivfdata").is_file()  # lists merged into an on-disk file
    for allowed in (None, np.sort(ids[::40]), np.sort(ids[::3])):
        a, b = one.search(q, 10, allowed), merged.search(q, 10, allowed)
        np.testing.assert_array_equal(a[1], b[1])
        np.testing.assert_allclose(a[0], b[0], atol=1e-6)
    # A merged index stays usable: changing it reads its lists into memory first.
    merged.remove(ids[:10])
    merged.save(tmp_path / "changed")
    assert load_index(tmp_path / "changed").ntotal == N - 10
    other = train(kind, vecs[::-1], N, {**PARAMS[kind], "nlist": 16})
    with pytest.raises(IndexInputError, match="not built from this trained index"):
        merge_parts(other, parts, tmp_path / "refused")


# ---------------------------------------------------------------------------- auto
def test_auto_chooses_by_size_and_memory_budget():
    gb = 1 << 30
    assert plan(20_000, 256, 4 * gb).kind == "flat"
    assert plan(1_000_000, 256, 4 * gb).kind == "hnsw"
    assert plan(1_000_000, 256, int(1.1e9)).kind == "ivf"
    assert plan(1_000_000, 256, int(0.4e9)).kind == "ivfsq8"
    small = plan(1_000_000, 256, int(0.15e9))
    assert small.kind == "ivfpq" and small.params["m"] == 64 and small.bytes <= 0.15e9
    assert plan(1_000_000, 256, int(0.05e9)).params["m"] < 64
    assert plan(10_000_000, 256, 4 * gb).kind == "ivfsq8"  # past HNSW_MAX: no graph
    assert plan(10_000_000, 256, 4 * gb).params["nlist"] == 8_192  # capped for CPU k-means
    assert plan(1_000_000, 256, 4 * gb, requested="flat").kind == "flat"  # a requested kind is kept
    with pytest.raises(IndexKindError, match="max-index-memory"):
        plan(10_000_000, 256, 10_000_000)


def test_auto_records_recall_it_measured(data):
    ids, vecs, _ = data
    rng = np.random.default_rng(11)
    text = unit(vecs[rng.choice(N, 60, replace=False)] + 1.0 * rng.standard_normal((60, D)))
    index, record = choose_and_build(ids, vecs, "auto", max_memory=250_000, text_queries=text, target_recall=0.9)
    assert record["kind"] == index.kind == "ivfsq8" and record["requested"] == "auto"
    assert record["memory"]["index_bytes"] <= 250_000
    held_out = text[30:]  # auto tunes on the first half of each query set and proves on the rest
    found = index.search(held_out, 10)[1]
    assert record["recall_at_10"]["text"] == pytest.approx(recall(found, ids, vecs, held_out, 10), abs=1e-9)
    assert record["queries"]["text_source"] == "given" and "synthetic" in record["queries"]["image_source"]
    assert record["target_met"] == (min(record["recall_at_10"].values()) >= 0.9)
    assert record["params"] == index.params and record["tuning"]["knob"] == "nprobe"
    json.dumps(record)  # it goes into the manifest as is


def test_rebuild_due(data):
    ids, vecs, _ = data
    index, record = choose_and_build(ids[:1000], vecs[:1000], "auto", latency_ms=1.0)
    assert index.kind == "flat" and rebuild_due(index, record) is None
    index.add(ids[1000:], vecs[1000:])
    grown = dict(record, latency_ms={"target": 0.001})  # as if the collection outgrew flat's latency
    assert "auto now chooses" in rebuild_due(index, grown)
    hnsw = build_index("hnsw", ids, vecs, PARAMS["hnsw"])
    hnsw.remove(ids[: N // 4])
    assert "removed" in rebuild_due(hnsw, {"requested": "hnsw"})
    ivf = build_index("ivf", ids[:500], vecs[:500], {"nlist": 8})
    ivf.add(ids[500:], vecs[500:])
    assert "trained for 500" in rebuild_due(ivf, {"requested": "ivf", "vectors": 500})


@pytest.mark.skipif(not gpu_tools.available(), reason="needs faiss-gpu and a CUDA device")
def test_gpu_training_and_adding_match_cpu(data):
    ids, vecs, q = data
    cpu = build_index("ivfpq", ids, vecs, PARAMS["ivfpq"], gpu=False)
    gpu = build_index("ivfpq", ids, vecs, PARAMS["ivfpq"], gpu=True)
    assert isinstance(gpu.index, faiss.Index)  # a CPU index, saved CPU-readable
    assert recall(gpu.search(q, 10)[1], ids, vecs, q, 10) >= recall(cpu.search(q, 10)[1], ids, vecs, q, 10) - 0.05


def test_every_registered_kind_is_in_the_suite():
    assert sorted(KINDS) == KIND_NAMES


def test_empty_and_tiny_collections(data):
    ids, vecs, q = data
    index, record = choose_and_build(ids[:0], vecs[:0])
    assert index.kind == "flat" and record["vectors"] == 0
    assert (index.search(q, 3)[1] == -1).all()
    index.add(ids[:5], vecs[:5])
    assert sorted(index.search(q[:1], 10)[1][0][:5]) == sorted(ids[:5])
    with pytest.raises(IndexKindError, match="vectors to train on"):
        build_index("ivfpq", ids[:100], vecs[:100], {"nlist": 2, "m": 8})
