"""A mapped IVF index updated into a new folder (index/ivfupdate.py) answers as the same changes
made in memory, leaves the folder it came from as it was, shares its fp16 rows with it (a hard
link; the new rows are a segment of their own) and keeps few store segments over many updates."""
from __future__ import annotations

import hashlib

import numpy as np
import pytest
from conftest import make_image, unit_rows

import vsearch
from vsearch.index import build, load_index
from vsearch.index.chunks import ArrayChunks
from vsearch.index.fp16store import plan_segments
from vsearch.index.ivfupdate import update_into
from vsearch.pipeline.derived import index as index_step
from vsearch.store.collection import CollectionStore

from test_index_kinds import PARAMS, one_thread  # noqa: F401 (one_thread: autouse)
from test_index_streaming import D, N, data  # noqa: F401 (data: a fixture)


def digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def shuffled_chunks(ids, vecs, seed=0):
    order = np.random.default_rng(seed).permutation(len(ids))
    for part in np.array_split(order, 3):
        yield ids[part], vecs[part]


@pytest.mark.parametrize("merged", [False, True], ids=["saved", "merged-on-disk"])
@pytest.mark.parametrize("kind", ["ivf", "ivfsq8", "ivfpq"])
def test_an_update_into_a_new_folder_equals_the_update_in_memory(kind, merged, data, tmp_path, monkeypatch):
    ids, vecs, q = data
    first, later = N - 200, slice(N - 200, N)
    params = build.kind_class(kind).resolve_params(first, D, PARAMS.get(kind))
    if merged:
        monkeypatch.setattr(build, "part_rows", lambda cls, dim, params: 1000)
        build.build_from_chunks(kind, params, ArrayChunks(ids[:first], vecs[:first]), workdir=tmp_path / "work")
        folder = tmp_path / "work" / "merged"
    else:
        build.build_from_chunks(kind, params, ArrayChunks(ids[:first], vecs[:first])).save(tmp_path / "saved")
        folder = tmp_path / "saved"
    before = digest(folder)
    memory = load_index(folder)
    memory.remove(ids[:40])
    memory.add(ids[later], vecs[later])

    new = update_into(load_index(folder, mmap=True), tmp_path / "new", ids[:40], ids[later],
                      shuffled_chunks(ids[later], vecs[later]))
    assert new.mmapped and new.ntotal == memory.ntotal == first - 40 + 200
    for allowed in (None, np.sort(ids[100::7])):
        a, b = memory.search(q, 10, allowed), new.search(q, 10, allowed)
        np.testing.assert_array_equal(a[1], b[1])
        np.testing.assert_allclose(a[0], b[0], atol=1e-6)
    np.testing.assert_array_equal(new.vectors(ids[N - 260:]), vecs[N - 260:])  # old rows and new
    assert digest(folder) == before  # the previous generation's files are untouched
    assert (tmp_path / "new" / "vectors.faiss").stat().st_ino == (folder / "vectors.faiss").stat().st_ino
    assert [f.name for f in new.store.files] == ["vectors.faiss", "vectors.1.faiss"]
    np.testing.assert_array_equal(load_index(tmp_path / "new").search(q, 10)[1], memory.search(q, 10)[1])


def test_refused_chunks_that_do_not_match_the_announced_ids(data, tmp_path):
    ids, vecs, _ = data
    build.build_from_chunks("ivfsq8", build.kind_class("ivfsq8").resolve_params(2000, D, PARAMS["ivfsq8"]),
                            ArrayChunks(ids[:2000], vecs[:2000])).save(tmp_path / "a")
    mapped = load_index(tmp_path / "a", mmap=True)
    with pytest.raises(vsearch.errors.VsearchError, match="not announced"):
        update_into(mapped, tmp_path / "b", [], ids[2000:2100], [(ids[2100:2200], vecs[2100:2200])])
    with pytest.raises(vsearch.errors.VsearchError, match="held 50 of the 100"):
        update_into(mapped, tmp_path / "c", [], ids[2000:2100], [(ids[2000:2050], vecs[2000:2050])])


def test_segments_stay_few_and_the_large_one_is_never_rewritten_by_a_small_update():
    sizes = [1_000_000]
    rewritten = 0
    for _ in range(100):
        sizes.append(1000)
        groups = plan_segments(sizes)
        assert groups[0] == [0]  # the first segment is linked, never copied
        rewritten += sum(sum(sizes[g] for g in group) for group in groups if len(group) > 1)
        sizes = [sum(sizes[g] for g in group) for group in groups]
    assert len(sizes) <= 8
    assert rewritten <= 8 * 100 * 1000  # each new row rewritten ~log2(updates) times


def test_many_updates_keep_every_vector_in_few_segments(data, tmp_path):
    ids, vecs, q = data
    build.build_from_chunks("ivfsq8", build.kind_class("ivfsq8").resolve_params(2000, D, PARAMS["ivfsq8"]),
                            ArrayChunks(ids[:2000], vecs[:2000])).save(tmp_path / "g0")
    for g, start in enumerate(range(2000, 2800, 100), 1):
        update_into(load_index(tmp_path / f"g{g - 1}", mmap=True), tmp_path / f"g{g}", [],
                    ids[start:start + 100], [(ids[start:start + 100], vecs[start:start + 100])])
    last = load_index(tmp_path / "g8", mmap=True)
    assert len(last.store.files) <= 4
    np.testing.assert_array_equal(last.vectors(ids[:2800]), vecs[:2800])
    np.testing.assert_array_equal(load_index(tmp_path / "g8").vectors(ids[:2800]), vecs[:2800])  # read whole
    assert (last.search(q, 1)[1][:, 0] >= 0).all()
    last.remove(ids[:10])  # the in-memory path on a segmented store: its segments linked too
    last.add(ids[2800:2900], vecs[2800:2900])
    last.save(tmp_path / "g9")
    again = load_index(tmp_path / "g9", mmap=True)
    assert again.ntotal == 2890 and len(again.store.files) <= 5
    assert (tmp_path / "g9" / "vectors.faiss").stat().st_ino == (tmp_path / "g0" / "vectors.faiss").stat().st_ino
    np.testing.assert_array_equal(again.vectors(ids[10:2900]), vecs[10:2900])


def test_an_ingest_into_a_large_ivf_collection_updates_its_index_without_reading_it(photos, home, model, monkeypatch):
    """With the threshold lowered, a small collection takes the large one's path: the second
    ingest writes a new lists file and one new store segment, and links the old rows."""
    vsearch.ingest(photos, collection="c", home=home, model=model, index_type="ivf")
    called = []
    monkeypatch.setattr(index_step, "MAP_FROM_BYTES", 0)
    monkeypatch.setattr(index_step, "update_into", lambda *a: called.append(a) or update_into(*a))
    store = CollectionStore(home / "c")
    old = store.folder / store.manifest.files["index"]
    for i, colour in enumerate(("green", "red", "blue")):
        make_image(photos / f"new_{i}.jpg", colour, "circle")
    (photos / "blue_circle.png").unlink()
    vsearch.ingest(photos, collection="c", home=home, model=model)
    store = CollectionStore(home / "c")
    folder = store.folder / store.manifest.files["index"]
    assert called and folder != old and store.manifest.index.updates == 1 and store.manifest.index.type == "ivf"
    assert (folder / "vectors.faiss").stat().st_ino == (old / "vectors.faiss").stat().st_ino
    assert (folder / "vectors.1.faiss").is_file() and (folder / "lists.ivfdata").is_file()
    assert not [p for p in store.folder.iterdir() if p.name.startswith(".tmp")]
    live = np.unique(np.array(store.images().column("id").to_pylist(), dtype=np.int64))
    index = load_index(folder, mmap=True)
    assert index.ntotal == len(live) and (index.lookup(live) >= 0).all()
    hits = vsearch.open_collection("c", home=home).search("a red square", k=100)
    assert len(hits) == len(live) and "blue_circle.png" not in {h.relpath for h in hits}


def test_a_collection_that_crosses_autos_graph_limit_is_rebuilt_without_reading_its_graph(photos, home, model, monkeypatch):
    """The rebuild is decided from the live count before the old index is touched: the 2M graph
    that a 2M + 10k ingest used to read whole (2.7 GB) before finding it had to build IVF."""
    from vsearch.index import auto
    from vsearch.index.base import VectorIndex

    monkeypatch.setattr(auto, "FLAT_SCAN_BYTES_PER_MS", 1.0)  # no exact scan is fast enough
    vsearch.ingest(photos, collection="c", home=home, model=model)
    first = CollectionStore(home / "c").manifest.index
    assert first.type == "hnsw"
    monkeypatch.setattr(auto, "HNSW_MAX", first.measured["vectors"])
    written = []
    writable = VectorIndex._writable
    monkeypatch.setattr(VectorIndex, "_writable", lambda self: (self.mmapped and written.append(self.kind)) or writable(self))
    for i, colour in enumerate(("green", "red")):
        make_image(photos / f"more_{i}.jpg", colour, "circle")
    vsearch.ingest(photos, collection="c", home=home, model=model)
    after = CollectionStore(home / "c").manifest.index
    assert after.type == "ivf" and after.updates == 0 and not written


@pytest.mark.parametrize("live_count", [0, 1, 500])
def test_the_ids_to_remove_and_add_are_those_of_a_whole_comparison(live_count, monkeypatch):
    from vsearch.index import build_index

    rng = np.random.default_rng(3)
    held = rng.choice(10_000, 300, replace=False).astype(np.int64)
    index = build_index("hnsw", held, unit_rows(300, 8))  # removed entries stay as -1 in its id map
    index.remove(held[::7])
    live = np.sort(rng.choice(10_000, live_count, replace=False)).astype(np.int64)
    monkeypatch.setattr(index_step, "DIFF_BLOCK", 37)
    gone, new = index_step.differences(index, live)
    still = np.setdiff1d(held, held[::7])
    np.testing.assert_array_equal(gone, np.setdiff1d(still, live))
    np.testing.assert_array_equal(new, np.setdiff1d(live, still))
