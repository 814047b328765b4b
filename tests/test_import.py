"""`vsearch import`: embeddings computed elsewhere become a collection that answers queries as the
same vectors ingested do; bad input is refused in one line and writes nothing."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import cli, unit_rows
from vsearch.errors import QueryError
from vsearch.pipeline.import_sources import ImportSourceError
from vsearch.pipeline.importing import import_embeddings
from vsearch.store.collection import CollectionStore


def exported(home: Path) -> tuple[list[str], np.ndarray]:
    """(absolute paths, float32 vectors) of every row of an ingested collection, as an external
    tool would have computed them."""
    store = CollectionStore(home / "photos")
    ids, vecs, _ = store.vectors().load()
    by_id = dict(zip(ids.tolist(), vecs))
    rows = store.images().to_pylist()
    return [str(Path(r["root"]) / r["path"]) for r in rows], np.stack([by_id[r["id"]] for r in rows])


def clip_retrieval_folder(folder: Path, paths: list[str], vecs: np.ndarray, split: int | None = None) -> Path:
    """clip-retrieval's layout: img_emb/img_emb_<n>.npy beside metadata/metadata_<n>.parquet. With
    `split`, two parts: fp16 as clip-retrieval writes them, then float32 rows of another norm."""
    (folder / "img_emb").mkdir(parents=True)
    (folder / "metadata").mkdir()
    cuts = [(0, len(paths))] if split is None else [(0, split), (split, len(paths))]
    for n, (a, b) in enumerate(cuts):
        part = vecs[a:b].astype(np.float16) if n == 0 else vecs[a:b].astype(np.float32) * 3.0
        np.save(folder / "img_emb" / f"img_emb_{n}.npy", part)
        pq.write_table(pa.table({"image_path": paths[a:b], "caption": ["a photo"] * (b - a)}),
                       folder / "metadata" / f"metadata_{n}.parquet")
    return folder


def query_paths(home: Path, *args) -> list[str]:
    return [h["path"] for h in json.loads(cli("query", *args, "-k", "20", "--json", "--home", home).stdout)]


def test_clip_retrieval_folder_answers_queries_like_the_ingested_vectors(ingested, tmp_path):
    home, photos = ingested
    paths, vecs = exported(home)
    src = clip_retrieval_folder(tmp_path / "embeddings", paths, vecs, split=5)
    h2 = tmp_path / "imported"
    s = json.loads(cli("import", src, "--model", "align-lite", "--home", h2, "--root", photos, "--json").stdout)
    assert s["collection"] == "embeddings" and s["kind"] == "clip-retrieval" and s["rows"] == len(paths)
    assert s["root"] == str(photos.resolve()) and s["reachable"] == len(paths) and s["warnings"] == []
    assert s["check"]["sample"] == 8 and s["check"]["mean_cosine"] > 0.99
    # the writer transaction's phases, named as an ingest names them, adding up to the elapsed time
    assert list(s["timings"])[-4:] == ["index", "commit", "duplicates", "export"]
    assert sum(s["timings"].values()) == pytest.approx(s["elapsed_s"], abs=0.02)
    for query in (["a red square"], ["--image", photos / "blue_circle.png"]):
        assert query_paths(h2, *query) == query_paths(home, *query)
    # files on this machine get the ingest's content ids: thumbnails (which check them) work
    import vsearch

    col = vsearch.open_collection(home=h2)
    hit = col.search("a red square", k=1)[0]
    assert col.thumbnail(hit.id).is_file()
    info = json.loads(cli("info", "--home", h2, "--json").stdout)
    assert info["counts"]["images"] == len(paths) and info["roots"] == [str(photos.resolve())]
    assert info["last_ingest"]["imported_from"] == str(src) and info["index"]["type"]
    # ... and a later ingest of their folder finds every one of them known: nothing is encoded again
    again = vsearch.ingest(photos, collection="embeddings", home=h2)
    assert again.encoded == 0 and again.unchanged == len(paths) and again.images == len(paths)


@pytest.mark.parametrize("vector_type", ["list", "fixed_size_list"])
def test_parquet_of_relative_paths_and_vectors(ingested, tmp_path, vector_type):
    home, photos = ingested
    paths, vecs = exported(home)
    # relative paths are relative to the folder holding the source
    rel = [os.path.relpath(p, tmp_path) for p in paths]
    values = pa.array(vecs.ravel(), pa.float32())
    column = (pa.FixedSizeListArray.from_arrays(values, vecs.shape[1]) if vector_type == "fixed_size_list"
              else pa.ListArray.from_arrays(pa.array(np.arange(0, vecs.size + 1, vecs.shape[1]), pa.int32()), values))
    src = tmp_path / "vectors.parquet"
    pq.write_table(pa.table({"path": rel, "embedding": column}), src, row_group_size=4)
    h2 = tmp_path / "imported"
    s = json.loads(cli("import", src, "-m", "align-lite", "--home", h2, "-c", "mine", "--root", photos, "--json").stdout)
    assert s["kind"] == "parquet" and s["reachable"] == len(paths) and s["images"] == len(paths)
    assert query_paths(h2, "a red square") == query_paths(home, "a red square")


def test_wrong_dimension_is_refused_in_one_line_and_writes_nothing(ingested, tmp_path):
    home, _ = ingested
    paths, vecs = exported(home)
    src = clip_retrieval_folder(tmp_path / "emb", paths, np.concatenate([vecs, vecs], axis=1))
    h2 = tmp_path / "imported"
    r = cli("import", src, "--model", "align-lite", "--home", h2, code=2)
    assert r.output.startswith("error:") and len(r.output.strip().splitlines()) == 1
    assert "512-d" in r.output and "256-d" in r.output
    assert not h2.exists()


def test_vectors_of_another_model_are_refused_when_files_are_here(ingested, tmp_path):
    home, photos = ingested
    paths, vecs = exported(home)
    src = clip_retrieval_folder(tmp_path / "emb", paths, unit_rows(len(paths), vecs.shape[1], seed=3))
    h2 = tmp_path / "imported"
    r = cli("import", src, "--model", "align-lite", "--home", h2, "--root", photos, code=2)
    assert "do not look like 'align-lite'" in r.output and len(r.output.strip().splitlines()) == 1
    assert not h2.exists()  # checked before anything was written


def test_reimport_changes_nothing_and_a_changed_vector_replaces_its_row(tmp_path):
    """Paths that are not on this machine: imported with a warning; ids come from path and vector."""
    paths = [f"/nowhere/trip/{i:03d}.jpg" for i in range(40)]
    vecs = unit_rows(len(paths), 256, seed=1)
    src = clip_retrieval_folder(tmp_path / "emb", paths, vecs)
    h = tmp_path / "home"
    first = import_embeddings(src, "align-lite", home=h, roots=["/nowhere"])
    assert first.images == 40 and first.vectors_written == 40 and first.reachable == 0
    assert first.check["sample"] == 0 and "could not be checked" in first.warnings[0]
    again = import_embeddings(src, "align-lite", home=h, roots=["/nowhere"])
    assert (again.new, again.changed, again.unchanged, again.vectors_written, again.images) == (0, 0, 40, 0, 40)
    vecs[7] = unit_rows(1, 256, seed=9)[0]
    (src / "img_emb" / "img_emb_0.npy").unlink()
    np.save(src / "img_emb" / "img_emb_0.npy", vecs.astype(np.float16))
    changed = import_embeddings(src, "align-lite", home=h, roots=["/nowhere"])
    assert (changed.changed, changed.vectors_written, changed.images) == (1, 1, 40)
    store = CollectionStore(h / "emb")
    images = store.images()
    assert len(set(images.column("path").to_pylist())) == 40 and images.column("bytes").null_count == 40
    import vsearch

    col = vsearch.open_collection(home=h)
    hit = col.search(vector=vecs[7], k=1)[0]
    assert hit.path == "/nowhere/trip/007.jpg" and hit.score > 0.99 and hit.mtime is None
    with pytest.raises(QueryError):  # a file that is not here is said so, in one line
        col.thumbnail(hit.id)


def test_importing_the_ingested_vectors_into_their_collection_changes_nothing(ingested_copy, tmp_path):
    """Files on this machine get the ingest's own ids: the import finds every vector stored."""
    home, photos = ingested_copy
    paths, vecs = exported(home)
    before = CollectionStore(home / "photos").images()
    src = clip_retrieval_folder(tmp_path / "emb", paths, vecs)
    s = import_embeddings(src, "align-lite", home=home, collection="photos")
    assert s.root == str(photos.resolve()) and s.unchanged == len(paths) and s.vectors_written == 0
    after = CollectionStore(home / "photos").images()
    assert sorted(after.column("id").to_pylist()) == sorted(before.column("id").to_pylist())


def test_an_import_keeps_what_the_ingest_knew_of_each_photo(ingested_copy, tmp_path):
    """Re-imported rows of ingested photos keep their size, date and camera: `--where` on them
    still matches."""
    home, photos = ingested_copy
    paths, vecs = exported(home)
    meta = ["width", "height", "taken_at", "camera", "orientation"]
    before = {r["path"]: r for r in CollectionStore(home / "photos").images().select(["path", *meta]).to_pylist()}
    assert any(r["width"] for r in before.values())
    import_embeddings(clip_retrieval_folder(tmp_path / "emb", paths, vecs), "align-lite", home=home, collection="photos")
    after = {r["path"]: r for r in CollectionStore(home / "photos").images().select(["path", *meta]).to_pylist()}
    assert after == before


@pytest.mark.parametrize("spoil, says", [
    (lambda v, p: v.__setitem__((3, 5), np.nan), "NaN"),
    (lambda v, p: v.__setitem__(4, 0.0), "all zeros"),
    (lambda v, p: p.__setitem__(2, ""), "missing or empty"),
], ids=["nan", "zero-row", "empty-path"])
def test_bad_rows_are_refused_naming_the_row(tmp_path, spoil, says):
    paths = [f"/nowhere/{i}.jpg" for i in range(10)]
    vecs = unit_rows(10, 256)
    spoil(vecs, paths)
    src = clip_retrieval_folder(tmp_path / "emb", paths, vecs)
    with pytest.raises(ImportSourceError, match=says):
        import_embeddings(src, "align-lite", home=tmp_path / "home")
    assert not (tmp_path / "home").exists()


def test_a_folder_that_holds_no_embeddings_is_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    r = cli("import", tmp_path / "empty", "--model", "align-lite", "--home", tmp_path / "h", code=2)
    assert "clip-retrieval" in r.output and len(r.output.strip().splitlines()) == 1


@pytest.mark.parametrize("args, says", [
    (["--model", "align-lite", "--index", "hnws"], "unknown index type 'hnws'"),
    (["--model", "align-lite", "--max-index-memory", "lots"], "not a size"),
    (["--model", "no-such-model"], "unknown model 'no-such-model'"),
    (["--model", "align-lite", "--collection", "../elsewhere"], "cannot be a collection name"),
    ([], "--model"),
])
def test_options_are_refused_before_any_work(tmp_path, args, says):
    src = clip_retrieval_folder(tmp_path / "emb", ["/nowhere/a.jpg"], unit_rows(1, 256))
    r = cli("import", src, "--home", tmp_path / "home", *args, code=2)
    assert says in r.output and "Traceback" not in r.output
    assert not (tmp_path / "home").exists() and not (tmp_path / "elsewhere").exists()
