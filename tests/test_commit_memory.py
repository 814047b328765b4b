"""What keeps a commit's memory bounded by its work: the image index, once built, is handed to the
later steps memory-mapped from the work folder (and hard-linked into the generation), and the
near-pair search keeps each photo's neighbours in files beside its rows, handing pairs over a
block of photos at a time."""
from __future__ import annotations

import os

import numpy as np
import pytest
from conftest import unit_rows

import vsearch
from vsearch.duplicates import Batch, find_pairs, join
from vsearch.duplicates.rows import Rows
from vsearch.index import build_index
from vsearch.pipeline.derived import index as index_step
from vsearch.store import tables
from vsearch.store.collection import CollectionStore


class _Change:
    def __init__(self, folder):
        self.folder, self.made = folder, []

    def scratch(self, what):
        self.made.append(self.folder / f".tmp-{what}")
        return self.made[-1]


def test_a_large_built_index_is_handed_on_mapped_and_answers_alike(tmp_path, monkeypatch):
    ids, vecs = np.arange(1, 2001, dtype=np.int64), unit_rows(2000, 32)
    built = build_index("hnsw", ids, vecs)
    before = built.search(vecs[:20], 5)
    monkeypatch.setattr(index_step, "MAP_FROM_BYTES", 0)
    change = _Change(tmp_path)
    handed = index_step.mapped(built, change)
    assert handed.mmapped and not built.mmapped
    assert (change.made[0] / "index.faiss").is_file()
    np.testing.assert_array_equal(handed.search(vecs[:20], 5)[1], before[1])
    monkeypatch.setattr(index_step, "MAP_FROM_BYTES", 1 << 40)
    assert index_step.mapped(built, _Change(tmp_path)) is built  # a small one stays in memory


def test_a_commit_links_the_mapped_index_into_place_and_leaves_no_work_folder(photos, home, model, monkeypatch):
    monkeypatch.setattr(index_step, "MAP_FROM_BYTES", 0)
    vsearch.ingest(photos, collection="c", home=home, model=model)
    store = CollectionStore(home / "c")
    folder = store.folder / store.manifest.files["index"]
    assert os.stat(folder / "index.faiss").st_nlink == 1  # the work folder's link is gone with it
    assert not [p for p in store.folder.iterdir() if p.name.startswith(".tmp")]
    hits = vsearch.open_collection("c", home=home).search("a red square", k=3)
    assert len(hits) == 3


@pytest.mark.parametrize("block", [7, 131_072])
def test_pairs_come_once_whichever_block_holds_either_photo(block):
    """A pair both photos hold among their neighbours is handed over once, from either block."""
    rng = np.random.default_rng(3)
    base = unit_rows(300, 16, seed=4)
    near = base[:120] + 0.05 * rng.normal(size=(120, 16)).astype(np.float32)
    vecs = np.concatenate([base, near / np.linalg.norm(near, axis=1, keepdims=True)])
    ids = rng.permutation(np.arange(10, 10 + len(vecs), dtype=np.int64))
    with Rows(len(ids), 16, None) as rows:
        rows.append(Batch(ids, vecs))
        best = join.nearest(rows, 0.74, 16)
        lo, hi = (np.concatenate(x) for x in zip(*best.blocks(block)))
        assert isinstance(best.sims, np.memmap)  # the neighbours live in a file, not the heap
    keys = lo * len(ids) + hi
    assert (lo < hi).all() and len(np.unique(keys)) == len(keys)
    pairs = find_pairs([Batch(ids, vecs)], len(ids), 16)
    assert len(pairs) == len({(a, b) for a, b in zip(pairs.a.tolist(), pairs.b.tolist())}) >= 120


def test_opening_a_collection_checks_its_derived_tables_without_keeping_them(photos, home, model):
    vsearch.ingest(photos, collection="c", home=home, model=model)
    store = CollectionStore(home / "c")
    assert store.damaged_tables({"duplicates": tables.DUPLICATES_SCHEMA, "image_bias": tables.BIAS_SCHEMA}) == {}
    assert not store._tables  # checked a batch at a time, nothing held
    path = store.folder / store.manifest.files["image_bias"]
    path.write_bytes(path.read_bytes()[:-40])  # its footer cut off
    assert "image_bias" in CollectionStore(home / "c").damaged_tables({"image_bias": tables.BIAS_SCHEMA})
