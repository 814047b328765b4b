"""What a collection holds, read straight from its files, for comparing a crashed-and-resumed
collection with a clean one; and the debris a writer may leave."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from vsearch.store.tables import WORD_META

_GEN = re.compile(r"-(\d{6})(?:\.|$)")


RECORDED = ("images", "errors", "texts")


def snapshot(folder: Path) -> dict | None:
    """None when there is no committed generation. Every derived table the manifest names (biases,
    and whatever pipeline/derived adds) is kept as {id: row}."""
    if not (folder / "manifest.json").is_file():
        return None
    from vsearch.store.vectors import VectorStore

    m = json.loads((folder / "manifest.json").read_text())

    def table(key: str) -> list[dict]:
        name = m["files"].get(key)
        return pq.ParquetFile(folder / name).read().to_pylist() if name else []

    images = table("images")
    store = VectorStore(folder / "vectors", m["model"]["embed_dim"])
    ids, vecs, _ = store.load(np.array(sorted({r["id"] for r in images}), dtype=np.int64))
    # The index record's timings (build, tuning, latency) differ run by run; what it chose does not.
    index = {k: m["index"].get(k) for k in ("type", "params", "requested")}
    derived = {key: {(r["id"], r.get("other")): r for r in table(key)} for key, name in m["files"].items()
               if key not in RECORDED and name.endswith(".parquet")}  # a pair's row by both its photos
    return {"manifest": {k: m[k] for k in ("generation", "roots", "counts", "model", "format_version")}
                        | {"files": sorted(m["files"]), "index": index},
            "images": images, "errors": table("errors"), "texts": table("texts"),
            "vectors": dict(zip(ids.tolist(), vecs)), "stored": set(store.known_ids().tolist()), "derived": derived}


def differences(a: dict | None, b: dict | None, generation: bool = True) -> list[str]:
    """What differs between two snapshots ([] when they are equal; vectors, and the numbers of
    derived tables, to fp16 precision: a resumed run may have encoded in other batches).
    `generation=False`: the same content committed a different number of times is equal."""
    if a is None or b is None:
        return [] if a is b else ["one has no committed generation"]
    out = [k for k in ("manifest", "images", "errors", "texts", "stored") if a[k] != b[k]]
    if not generation and "manifest" in out and {**a["manifest"], "generation": 0} == {**b["manifest"], "generation": 0}:
        out.remove("manifest")
    if a["vectors"].keys() != b["vectors"].keys() or any(
            not np.allclose(a["vectors"][i], b["vectors"][i], atol=2e-3) for i in a["vectors"]):
        out.append("vectors")
    for key in sorted(a["derived"].keys() | b["derived"].keys()):
        rows_a, rows_b = a["derived"].get(key, {}), b["derived"].get(key, {})
        if rows_a.keys() != rows_b.keys() or any(not _close(rows_a[i], rows_b[i]) for i in rows_a):
            out.append(key)
    return out


def _close(x: dict, y: dict) -> bool:
    return x.keys() == y.keys() and all(
        abs(x[k] - y[k]) <= 2e-3 * max(1.0, abs(y[k])) if isinstance(x[k], float) and isinstance(y[k], float) else x[k] == y[k]
        for k in x)


def debris(folder: Path) -> list[str]:
    """Files a finished writer should not leave: temporary files, files of a generation that was
    never committed, files older than the previous generation that nothing names, incomplete parts."""
    found = [str(p.relative_to(folder)) for p in folder.rglob(".tmp-*")]
    if not (folder / "manifest.json").is_file():
        return found + [p.name for p in folder.iterdir() if _GEN.search(p.name)]
    m = json.loads((folder / "manifest.json").read_text())
    named = set(m["files"].values())
    for p in folder.iterdir():
        g = _GEN.search(p.name)
        if g and (int(g[1]) > m["generation"] or (int(g[1]) < m["generation"] - 1 and p.name not in named)):
            found.append(p.name)
    if (folder / "vectors").is_dir():
        found += [f"vectors/{p.name}" for p in (folder / "vectors").iterdir() if not re.fullmatch(r"shard-[0-9a-f]{32}\.parquet", p.name)]
    return found


def as_single_file_index(folder: Path) -> None:
    """Rewrite the current index as vsearch wrote it up to format 2: one IndexIDMap2 file."""
    import faiss

    from vsearch.index import load_index

    m = json.loads((folder / "manifest.json").read_text())
    name = m["files"]["index"]
    index = load_index(folder / name)
    ids = np.asarray(index.idmap.ids)
    ids = ids[ids >= 0]
    old = faiss.IndexIDMap2(faiss.IndexFlatIP(index.dim))
    old.add_with_ids(index.vectors(ids), ids)
    import shutil

    shutil.rmtree(folder / name)
    faiss.write_index(old, str(folder / f"{name}.faiss"))
    m["files"]["index"] = f"{name}.faiss"
    m["format_version"] = min(m["format_version"], 2)
    m["index"] = {"type": "flat", "params": {}, "requested": "auto"}
    (folder / "manifest.json").write_text(json.dumps(m))


# Columns version 4 added (RAW files and videos; pixel signatures; words), and its derived parts
# (the near-duplicate pairs, the keyword index)
V4_IMAGES = ["media", "companion", "lens", "frame_ms", "duration_ms", "phash", *WORD_META, "sidecar"]
V4_SHARDS = ["lens", "frame_ms", "duration_ms", "phash", "thumb", *WORD_META]


def as_version_3(folder: Path) -> None:
    """Rewrite a collection as vsearch wrote version 3: images and shards without the columns of
    RAW files, videos, pixel signatures and words, no `video` record, no near-duplicate pairs, no
    keyword index."""
    m = json.loads((folder / "manifest.json").read_text())
    m["format_version"] = 3
    m.pop("video", None)
    images = folder / m["files"]["images"]
    pq.write_table(pq.read_table(images).drop_columns(V4_IMAGES), images)
    for shard in (folder / "vectors").glob("shard-*.parquet"):
        pq.write_table(pq.read_table(shard).drop_columns(V4_SHARDS), shard)
    pairs = m["files"].pop("duplicates", None)
    if pairs:
        (folder / pairs).unlink()
    keywords = m["files"].pop("keywords", None)
    if keywords:
        shutil.rmtree(folder / keywords)
    (folder / "manifest.json").write_text(json.dumps(m))
