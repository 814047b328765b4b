"""Large tables mapped from files, not held (store/spill.py): a writer of millions of rows keeps its
images table and keyword words as page cache. The rows are the same as held in memory, no file is
left behind, and a folder that cannot be written falls back to memory."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from conftest import unit_rows
from test_import import clip_retrieval_folder
from vsearch.fulltext import KeywordIndex
from vsearch.pipeline.importing import import_embeddings
from vsearch.store import spill
from vsearch.store.collection import CollectionStore


def parts(n: int = 5, rows: int = 30) -> list[pa.Table]:
    return [pa.table({"id": pa.array(np.arange(i * rows, (i + 1) * rows), pa.int64()),
                      "path": [f"/p/{j:05d}.jpg" for j in range(i * rows, (i + 1) * rows)]}) for i in range(n)]


def mapped_deleted(folder: Path) -> bool:
    """This process maps a deleted file of `folder`."""
    maps = Path("/proc/self/maps")
    if not maps.exists():
        pytest.skip("needs /proc")
    return any(str(folder) in line and "(deleted)" in line for line in maps.read_text().splitlines())


def test_a_spilled_table_is_mapped_and_its_file_is_gone(tmp_path):
    given = parts()
    t = spill.spilled(given, given[0].schema, tmp_path)
    assert t.equals(pa.concat_tables(given))
    assert list(tmp_path.iterdir()) == []  # unlinked at once: a crash leaves nothing either
    assert mapped_deleted(tmp_path)
    del t
    assert not mapped_deleted(tmp_path)


def test_a_folder_that_cannot_be_written_holds_the_table_in_memory(tmp_path):
    given = parts()
    t = spill.spilled(given, given[0].schema, tmp_path / "missing")
    assert t.equals(pa.concat_tables(given)) and not mapped_deleted(tmp_path)


def test_taken_gathers_in_batches_what_take_gives(tmp_path, monkeypatch):
    monkeypatch.setattr(spill, "SPILL_ROWS", 10)
    monkeypatch.setattr(spill, "TAKE_ROWS", 7)
    table = pa.concat_tables(parts())
    order = np.random.default_rng(0).permutation(len(table))
    t = spill.taken(table, order, tmp_path)
    assert t.equals(table.take(order)) and mapped_deleted(tmp_path) and list(tmp_path.iterdir()) == []
    assert spill.taken(table, order[:10], tmp_path).equals(table.take(order[:10]))  # small: held


def imported(home: Path, src: Path) -> tuple[pa.Table, int]:
    store = CollectionStore(home / "emb")
    return store.images(), len(KeywordIndex(store.folder / store.manifest.files["keywords"]))


def test_an_import_mapped_row_by_row_writes_what_one_held_whole_writes(tmp_path, monkeypatch):
    """Import (with a repeated row), re-import with a changed vector (rows replaced), read back:
    with every table mapped (threshold 5 rows) as with none, the same tables and keyword index."""
    paths = [f"/nowhere/trip/{i % 7:02d}/{i:03d}.jpg" for i in range(40)] + ["/nowhere/trip/00/000.jpg"]
    vecs = unit_rows(len(paths), 256, seed=1)
    vecs[-1] = vecs[0]
    results = []
    for threshold in (spill.SPILL_ROWS, 5):
        monkeypatch.setattr(spill, "SPILL_ROWS", threshold)
        monkeypatch.setattr(spill, "TAKE_ROWS", 3)
        home, src = tmp_path / f"home{threshold}", tmp_path / f"src{threshold}" / "emb"
        clip_retrieval_folder(src, paths, vecs.copy())
        first = import_embeddings(src, "align-lite", home=home, roots=["/nowhere"])
        changed = vecs.copy()
        changed[7] = unit_rows(1, 256, seed=9)[0]
        (src / "img_emb" / "img_emb_0.npy").unlink()
        np.save(src / "img_emb" / "img_emb_0.npy", changed.astype(np.float16))
        again = import_embeddings(src, "align-lite", home=home, roots=["/nowhere"])
        table, docs = imported(home, src)
        assert not list((home / "emb").glob(".tmp-*"))
        results.append(((first.images, first.repeated, again.changed, again.unchanged), table, docs))
    (counts, held, docs), (counts_m, mapped, docs_m) = results
    assert counts == counts_m == (40, 1, 1, 39)
    assert mapped.equals(held) and docs_m == docs == 40
    assert mapped_deleted(tmp_path / "home5" / "emb")  # the store's images table, read back mapped
