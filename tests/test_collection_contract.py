"""Collection's concurrency contract (its docstring): many threads search one Collection while
another process commits; each call (and each snapshot) reads exactly one generation; a newer
generation is picked up within a second without a restart; nothing is mixed. Also the text-query
cache, vector checks and near-duplicate removal that the service relies on."""
from __future__ import annotations

import gc
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import vsearch
from conftest import make_image
from test_concurrency import recommit
from vsearch.errors import QueryError
from vsearch.search.dedupe import near_duplicates
from vsearch.store.collection import CollectionStore
from vsearch.store.metadata_filter import MetadataFilter

HERE = Path(__file__).resolve().parent


def ids_of(col) -> set[int]:
    return set(col.images.column("id").to_pylist())


def test_a_search_reads_one_generation_when_a_reload_lands_midway(ingested_copy, monkeypatch):
    """The reviewer's race: a reload between a filtered search's row selection and its index
    lookup mixed the old rows with the new index (before: wrong hits or an IndexError)."""
    home, photos = ingested_copy
    col = vsearch.open_collection("photos", home=home)
    where = "bytes > 0"
    expected = [(h.id, round(h.score, 5)) for h in col.search("a red square", k=6, where=where)]
    old_ids = ids_of(col)
    # The next generation: some photos gone, others added (row order and positions all change).
    for p in sorted(photos.rglob("*.jpg"))[:3]:
        p.unlink()
    for i, color in enumerate(["green", "yellow", "blue", "red"] * 2):
        make_image(photos / "new" / f"n{i}.png", color, "circle", size=(80 + 8 * i, 64))
    real_rows = MetadataFilter.rows
    landed = []

    def rows_then_commit(self, w):
        out = real_rows(self, w)
        if not landed:
            landed.append(True)
            vsearch.ingest(photos, home=home)   # another writer commits...
            assert col.reload()                 # ...and another thread reloads, mid-search
        return out

    monkeypatch.setattr(MetadataFilter, "rows", rows_then_commit)
    got = [(h.id, round(h.score, 5)) for h in col.search("a red square", k=6, where=where)]
    assert landed and got == expected and {i for i, _ in got} <= old_ids
    monkeypatch.setattr(MetadataFilter, "rows", real_rows)
    assert ids_of(col) != old_ids  # the next call reads the new generation
    assert {h.id for h in col.search("a red square", k=6, where=where)} <= ids_of(col)


def test_a_snapshot_keeps_its_generation_and_its_files(ingested_copy):
    home, _ = ingested_copy
    col = vsearch.open_collection("photos", home=home)
    view = col.snapshot()
    first = view.generation
    hits = [h.id for h in view.search("a blue circle", k=3)]
    store = CollectionStore(home / "photos")
    for _ in range(3):
        recommit(store)
    assert col.reload() and col.generation == first + 3
    assert view.generation == first and not view.reload()
    index = home / "photos" / view.store.manifest.files["index"]
    recommit(store)
    assert index.exists()  # the view still pins its generation's files
    assert [h.id for h in view.search("a blue circle", k=3)] == hits
    del view
    gc.collect()
    col.reload()
    recommit(store)
    assert not index.exists()  # nothing reads that generation any more: the next commit removes it


def test_threads_search_while_another_process_ingests(ingested_copy):
    """Four threads search one Collection (snapshot per request) while a real `vsearch ingest` in
    another process adds photos: no call fails, every result lies inside the generation it was
    read from, and the new generation is served within a second of its commit."""
    home, photos = ingested_copy
    col = vsearch.open_collection("photos", home=home, reload_every=0.2, text_cache=64)
    like = col.search("a red square", k=1)[0].id
    first = col.generation
    for i, color in enumerate(["green", "blue", "yellow"] * 3):
        make_image(photos / "added" / f"a{i}.png", color, "circle", size=(90 + 6 * i, 70))
    failures: list[str] = []
    seen: dict[int, set[int]] = {}
    stop = threading.Event()
    lock = threading.Lock()

    def worker(n: int) -> None:
        queries = ["a red square", "a green circle", "a blue circle", "a yellow shape"]
        i = 0
        while not stop.is_set():
            try:
                view = col.snapshot()
                gen, allowed = view.generation, ids_of(view)
                got = [h.id for h in view.search(queries[(i + n) % 4], k=5)]
                got += [h.id for h in view.search(like=like, k=3, where="width > 10")]
                got += [h.id for h in view.search(queries[i % 4], k=4, where="folder = 'added' OR folder = 'trips'")]
                if not set(got) <= allowed:
                    failures.append(f"generation {gen}: hits {set(got) - allowed} are not in it")
                with lock:
                    seen.setdefault(gen, set()).update(got)
            except Exception as e:  # noqa: BLE001 - any failure is the finding
                failures.append(f"{type(e).__name__}: {e}")
            i += 1

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE.parent), os.environ.get("PYTHONPATH", "")]))
    try:
        r = subprocess.run([sys.executable, "-m", "vsearch.cli", "ingest", str(photos), "--home", str(home)], env=env,
                           capture_output=True, text=True, timeout=600)
        committed = time.monotonic()
        assert r.returncode == 0, r.stderr
        while col.generation == first and time.monotonic() - committed < 5:
            time.sleep(0.02)
        picked_up = time.monotonic() - committed
        time.sleep(0.5)
    finally:
        stop.set()
        for t in threads:
            t.join(60)
    assert failures == []
    assert col.generation == first + 1 and picked_up < 1.0, picked_up
    assert set(seen) == {first, first + 1}
    assert seen[first + 1] & (ids_of(col) - ids_of_generation(home, first))  # the added photos are found
    assert col.text_cache_stats["hits"] > 0


def ids_of_generation(home: Path, gen: int) -> set[int]:
    import pyarrow.parquet as pq

    return set(pq.read_table(home / "photos" / f"images-{gen:06d}.parquet").column("id").to_pylist())


def test_an_automatic_reload_that_fails_keeps_serving_the_generation_it_has(ingested_copy, monkeypatch):
    home, _ = ingested_copy
    col = vsearch.open_collection("photos", home=home, reload_every=0.0)
    gen = col.generation
    recommit(CollectionStore(home / "photos"))
    from vsearch.search import generation

    def damaged(*a, **k):
        raise vsearch.VsearchError("images table damaged")

    monkeypatch.setattr(generation.Generation, "__init__", damaged)
    assert col.search("a red square", k=2) and col.generation == gen
    assert "damaged" in col.reload_error
    monkeypatch.undo()
    col.search("a red square", k=2)
    assert col.generation == gen + 1 and col.reload_error is None


def test_text_cache_encodes_a_repeated_text_once_and_evicts_the_oldest(ingested, monkeypatch):
    home, _ = ingested
    col = vsearch.open_collection("photos", home=home, text_cache=2)
    calls: list[list[str]] = []
    handle = col._encoder.handle
    real = handle.encode_texts
    monkeypatch.setattr(handle, "encode_texts", lambda texts: calls.append(list(texts)) or real(texts))
    a = col.text_vector("a red square")
    assert col.text_vector("a red square") is a and not a.flags.writeable
    col.text_vector("a blue circle")
    col.text_vector("a green shape")          # evicts "a red square"
    col.text_vector("a blue circle")
    col.text_vector("a red square")
    assert calls == [["a red square"], ["a blue circle"], ["a green shape"], ["a red square"]]
    assert col.text_cache_stats == {"hits": 2, "misses": 4, "size": 2, "capacity": 2}
    uncached = vsearch.open_collection("photos", home=home)
    assert np.allclose(uncached.text_vector("a red square"), a)


def test_text_cache_is_shared_safely_by_threads(ingested):
    home, _ = ingested
    col = vsearch.open_collection("photos", home=home, text_cache=8)
    texts = [f"a photo number {i}" for i in range(12)]
    want = {t: vsearch.open_collection("photos", home=home).text_vector(t) for t in texts}
    bad = []

    def run(n):
        for i in range(60):
            t = texts[(i * 7 + n) % len(texts)]
            if not np.allclose(col.text_vector(t), want[t], atol=1e-5):
                bad.append(t)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    s = col.text_cache_stats
    assert bad == [] and s["size"] <= 8 and s["hits"] + s["misses"] == 240


@pytest.mark.parametrize("vector, says", [
    ([0.1] * 5, "has 256 numbers"), ([float("nan")] * 256, "finite"), ([0.0] * 256, "all zeros"),
    ([[0.1] * 256], "has 256 numbers"), (["x"] * 256, "list of 256 numbers")])
def test_a_bad_query_vector_is_a_query_error(ingested, vector, says):
    home, _ = ingested
    col = vsearch.open_collection("photos", home=home)
    with pytest.raises(QueryError, match=says):
        col.search(vector=vector, k=3)


def test_a_query_vector_is_normalised(ingested):
    home, _ = ingested
    col = vsearch.open_collection("photos", home=home)
    v = col.text_vector("a red square")
    assert [h.id for h in col.search(vector=(v * 7).tolist(), k=4)] == [h.id for h in col.search_vector(v, k=4)]


def test_near_duplicates_groups_by_cosine_and_keeps_the_best_ranked():
    rng = np.random.default_rng(0)
    base = rng.normal(size=(3, 16)).astype(np.float32)
    base /= np.linalg.norm(base, axis=1, keepdims=True)

    def near(v, eps):
        w = v + eps * rng.normal(size=v.shape).astype(np.float32)
        return w / np.linalg.norm(w)

    # ranks: 0 a, 1 b, 2 a', 3 c, 4 b', 5 a''
    vecs = np.stack([base[0], base[1], near(base[0], 0.02), base[2], near(base[1], 0.02), near(base[0], 0.02)])
    assert near_duplicates(vecs, 0.94) == [2, 4, 5]
    assert near_duplicates(vecs, 0.99999) == []
    assert near_duplicates(vecs[:1]) == []


def test_search_dedupe_drops_a_re_encoded_copy(ingested_copy):
    from PIL import Image

    home, photos = ingested_copy
    Image.open(photos / "red_square.jpg").resize((90, 68)).save(photos / "red_square_small.jpg", quality=70)
    vsearch.ingest(photos, home=home)
    col = vsearch.open_collection("photos", home=home)
    plain = col.search(like="red_square.jpg", k=5)
    assert "red_square_small.jpg" in [h.relpath for h in plain]  # a different file, nearly the same vector
    everything = col.search("a red square", k=50)
    deduped = col.search("a red square", k=50, dedupe=0.94)
    names = [h.relpath for h in deduped]
    assert {"red_square.jpg", "red_square_small.jpg"} <= {h.relpath for h in everything}
    assert not {"red_square.jpg", "red_square_small.jpg"} <= set(names)
    assert [h.id for h in deduped] == [h.id for h in everything if h.relpath in names]  # the order is kept
    with pytest.raises(QueryError, match="cosine"):
        col.search("a red square", k=3, dedupe=1.5)
