"""Pre-faulting a mapped index (index/prefetch.py): what every query walks is mapped into the
process before the first query, within the budget; the rest follows in the background or is
left to the queries; a collection opened to serve queries does it, one opened for one query not."""
from __future__ import annotations

import ctypes
import os
from pathlib import Path

import numpy as np
import pytest

from vsearch.index import build_index, load_index
from vsearch.index.prefetch import backing_file, page_span

D, N = 64, 20_000


def cached(region: np.ndarray) -> float:
    """Share of a mapped region's pages in the page cache (mincore)."""
    start, size = page_span(region)
    page = os.sysconf("SC_PAGE_SIZE")
    vec = (ctypes.c_ubyte * (-(-size // page)))()
    assert ctypes.CDLL(None).mincore(ctypes.c_void_p(start), ctypes.c_size_t(size), vec) == 0
    return float(np.frombuffer(vec, np.uint8).astype(bool).mean())


def evict(folder: Path) -> None:
    """Drop the folder's files from the page cache (as after a restart of a busy machine)."""
    for p in folder.iterdir():
        fd = os.open(p, os.O_RDONLY)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        os.close(fd)


def evicted(region: np.ndarray) -> None:
    if cached(region) >= 0.5:
        pytest.skip("this filesystem keeps its files in memory (tmpfs): nothing to pre-fault")


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    rng = np.random.default_rng(0)
    vecs = rng.standard_normal((N, D)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    folder = tmp_path_factory.mktemp("prefetch")
    for kind, params in (("hnsw", {"M": 8, "ef_construction": 16}), ("ivfsq8", {"nlist": 64})):
        build_index(kind, np.arange(N), vecs, params).save(folder / kind)
    return folder


def test_regions_are_views_of_the_index_files(saved):
    index = load_index(saved / "hnsw", mmap=True)
    every, some = index.hot_regions()
    assert [r.nbytes for r in every[:2]] == [index.index.hnsw.neighbors.size() * 4, N * D * 4] and some == []
    path, offset = backing_file(page_span(every[1])[0])
    assert Path(path) == saved / "hnsw" / "index.faiss" and 0 < offset < os.path.getsize(path)


def test_what_every_query_walks_is_mapped_before_the_first_query(saved):
    evict(saved / "hnsw")
    index = load_index(saved / "hnsw", mmap=True)
    every, _ = index.hot_regions()
    evicted(every[1])
    assert index.prefetch(1 << 30) is None  # nothing left for the background: HNSW is all walked
    assert all(cached(r) == 1.0 for r in every)


def test_the_budget_bounds_what_is_read(saved):
    evict(saved / "hnsw")
    index = load_index(saved / "hnsw", mmap=True)
    links, vectors, _ = index.hot_regions()[0]
    evicted(vectors)
    index.prefetch(links.nbytes + 1)  # the links fit, the vectors do not: they are left to the queries
    assert cached(links) == 1.0 and cached(vectors) < 0.5


def test_ivf_store_follows_in_the_background_when_the_budget_holds_it(saved):
    index = load_index(saved / "ivfsq8", mmap=True)
    every, some = index.hot_regions()
    assert len(some) == 1 and some[0].nbytes == N * D * 2  # the fp16 store
    evict(saved / "ivfsq8")
    job = index.prefetch(1 << 30)
    assert job is not None and job.wait(60) and job.bytes == some[0].nbytes and cached(some[0]) == 1.0
    assert load_index(saved / "ivfsq8", mmap=True).prefetch(sum(r.nbytes for r in every)) is None  # no room left
    assert build_index("flat", np.arange(3), np.eye(3, D, dtype=np.float32)).prefetch(1 << 30) is None  # in memory


def test_collection_prefetches_only_when_asked(ingested):
    import vsearch

    home, photos = ingested
    name = photos.name
    col = vsearch.open_collection(name, home=home)
    assert col._gen.loaded("index")  # opened with the collection, not by the first query
    col.close()
    one_shot = vsearch.open_collection(name, home=home, prefetch=False)
    assert not one_shot._gen.loaded("index")
    assert one_shot.search_vector(one_shot.index.reconstruct(int(one_shot.images.column("id")[0].as_py())), k=1)
    one_shot.close()
