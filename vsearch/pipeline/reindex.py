"""Rebuild a collection's derived parts from what it records — the vector shards (the source of
truth) and its texts — without reading any photo: a writer transaction (pipeline/transaction.py)
whose commit builds every derived step anew."""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from ..models.identity import ModelRecord
from ..store.collection import CollectionStore
from ..store.home import index_home, pick_collection
from ..store.manifest_rebuild import repair_manifest
from ..store.tables import int64_column
from .config import check_index_options
from .derived.sources import ArrayVectors
from .engines import check_engine
from .transaction import transaction


def reindex(collection: str | None = None, home: Path | None = None, index_type: str | None = None,
            model=None, device: str | None = None, max_index_memory: int | None = None,
            model_name: str | None = None, engine: str = "local", ray_address: str | None = None) -> dict[str, Any]:
    """Rebuild the FAISS index and hubness biases from the vector shards, and the text index from
    the stored texts, as a new generation: repairs a damaged or missing index, changes the index
    type, and gives a collection made before the model had a hubness correction its biases. The
    model is a handle: the hubness correction and (through the ONNX text graph) the texts need no
    PyTorch. A damaged manifest.json is rebuilt first (store/manifest_rebuild.py; `model_name`:
    the collection's model, needed only for a collection written before vsearch kept copies of its
    manifest). `engine` "ray": the image index built as a distributed job on the Ray cluster at
    `ray_address` (pipeline/ray_index.py: parts filled on the nodes from the shards, merged on
    disk); the result then says how many vectors each node added (`nodes`)."""
    check_engine(engine, ray_address)
    check_index_options(index_type, max_index_memory)  # before any work
    home = index_home(home)
    store = CollectionStore(home / pick_collection(collection, home))
    with transaction(store) as tx, _builder(engine, store, ray_address) as build:
        rebuilt = repair_manifest(store, lambda: _record(model, model_name, device))
        repaired = tx.open(model, device=device, thorough=True, derive=False)  # set aside what is damaged, say what was lost
        texts = store.texts()
        corpus = None
        if len(texts):
            corpus = ArrayVectors(int64_column(texts, "id"), tx.model.encode_texts(texts.column("text").to_pylist()))
        manifest = tx.commit(text_vectors=corpus, rebuild=True, index_type=index_type, max_index_memory=max_index_memory,
                             index_build=build)
    return {**({"nodes": build.nodes} if build is not None else {}),"collection": store.name, "generation": manifest.generation, "vectors": manifest.counts["vectors"],
            "texts": len(texts), "index": manifest.index.to_json(), "hubness": bool(manifest.files.get("image_bias")),
            "repaired": rebuilt + repaired}


def _builder(engine: str, store: CollectionStore, address: str | None):
    """The index build of `engine`: None (this process) for local."""
    if engine != "ray":
        return contextlib.nullcontext(None)
    from .ray_index import ray_build

    return ray_build(store, address)


def _record(model, name: str | None, device: str | None) -> ModelRecord:
    """The model record of a collection whose manifest copies are all gone: the model the user names."""
    from ..errors import InvalidOptionError
    from ..models.handle import ModelHandle

    if model is None and not name:
        raise InvalidOptionError("name the model the collection was built with (--model) to rebuild its manifest")
    return ModelHandle.open(model if model is not None else name, device=device).record
