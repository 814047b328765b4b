"""A writer's commit streams the vector shards: an import, an import that adds a few rows to a big
collection, and a reindex never read every vector at once, and the rows an addition reads are
those it adds (plus what the index update and the duplicate search look up), not the collection."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import unit_rows
from test_import import clip_retrieval_folder
from vsearch.pipeline.importing import import_embeddings
from vsearch.pipeline.reindex import reindex
from vsearch.store.collection import CollectionStore
from vsearch.store.vectors import VectorStore

N, ADDED, D = 600, 12, 256


@pytest.fixture()
def counted(monkeypatch):
    """Vector rows read from the shards (every read goes through vectors_of); a whole-collection
    read (VectorStore.load / read) fails the test."""
    read = {"rows": 0}
    of = VectorStore.vectors_of

    def vectors_of(self, t):
        read["rows"] += len(t)
        return of(self, t)

    def whole(self, *a, **k):
        raise AssertionError("a writer read every stored vector at once")

    monkeypatch.setattr(VectorStore, "vectors_of", vectors_of)
    monkeypatch.setattr(VectorStore, "load", whole)
    monkeypatch.setattr(VectorStore, "read", whole)
    return read


def _paths(n: int, start: int = 0) -> list[str]:
    return [f"/nowhere/big/{i:05d}.jpg" for i in range(start, start + n)]


def test_adding_rows_reads_their_vectors_not_the_collection(tmp_path, counted):
    vecs = unit_rows(N + ADDED, D, seed=3)
    home = tmp_path / "home"
    first = import_embeddings(clip_retrieval_folder(tmp_path / "a", _paths(N), vecs[:N]), "align-lite", home=home,
                              collection="big", roots=["/nowhere"])
    assert first.images == N
    counted["rows"] = 0
    more = import_embeddings(clip_retrieval_folder(tmp_path / "b", _paths(ADDED, N), vecs[N:]), "align-lite",
                             home=home, collection="big", roots=["/nowhere"])
    assert more.vectors_written == ADDED and more.images == N + ADDED
    assert 0 < counted["rows"] <= 6 * ADDED < N, counted  # the added rows (a few times over), never the N
    import vsearch

    col = vsearch.open_collection("big", home=home)
    hit = col.search(vector=vecs[N + 5], k=1)[0]
    assert hit.path == _paths(ADDED, N)[5] and hit.score > 0.99


def test_a_large_ivf_index_is_built_in_parts_and_leaves_no_work_folder(tmp_path, counted, monkeypatch):
    from vsearch.index import build

    # shards of 100 rows, parts of >= 128: the build in parts merged on disk runs at test size
    monkeypatch.setattr("vsearch.pipeline.importing.BATCH_ROWS", 100)
    monkeypatch.setattr(build, "PART_BYTES", 1)
    monkeypatch.setattr(build, "CHUNK_ROWS", 128)
    parts = []
    from vsearch.index import parts as parts_module

    real = parts_module.merge_parts
    monkeypatch.setattr(parts_module, "merge_parts", lambda trained, p, out: (parts.append(len(p)), real(trained, p, out))[1])
    vecs = unit_rows(N, D, seed=4)
    home = tmp_path / "home"
    s = import_embeddings(clip_retrieval_folder(tmp_path / "a", _paths(N), vecs), "align-lite", home=home,
                          collection="big", roots=["/nowhere"], index_type="ivf")
    assert s.images == N and parts == [3]
    r = reindex("big", home=home)
    assert r["index"]["type"] == "ivf" and r["vectors"] == N and parts == [3, 3]
    folder = CollectionStore(home / "big").folder
    assert not [p.name for p in folder.iterdir() if p.name.startswith(".tmp-")]
    import vsearch

    col = vsearch.open_collection("big", home=home)
    found = [col.search(vector=vecs[i], k=1)[0].path for i in range(0, N, 50)]
    assert found == [_paths(N)[i] for i in range(0, N, 50)]


def test_known_ids_answer_as_a_set_does():
    """The stored ids a writer consults (an array, 8 B an id, not a Python set) give a set's answers."""
    from vsearch.pipeline.known import KnownIds

    rng = np.random.default_rng(0)
    first, later = rng.choice(2**62, 500, replace=False), rng.choice(2**62, 300, replace=False)
    known, want = KnownIds(first), set(first.tolist())
    known.update(later[:100].tolist())
    known.add(np.concatenate([later[100:200], later[100:120], first[:10]]))  # repeats and stored ones
    want |= set(later[:200].tolist())
    probe = np.concatenate([first, later, rng.choice(2**62, 50)])
    assert known.has(probe).tolist() == [int(i) in want for i in probe]
    assert [int(i) in known for i in probe] == [int(i) in want for i in probe] and len(known) == len(want)
    assert "not an id" not in known and KnownIds().has(probe).sum() == 0
