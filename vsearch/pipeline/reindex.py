"""Rebuild a collection's derived files from what it stores — the vector shards (the source of
truth) and its texts — without reading any photo: the other writer besides ingest."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import CollectionFormatError
from ..models.handle import ModelHandle
from ..models.identity import check_model
from ..store.collection import CollectionStore
from ..store.home import index_home, pick_collection
from ..store.manifest_rebuild import repair_manifest
from ..index import build_index
from ..store.tables import int64_column
from .biases import bias_table
from .config import IngestConfig
from .indexing import index_for_commit
from .repair import repair


def reindex(collection: str | None = None, home: Path | None = None, index_type: str | None = None,
            model=None, device: str | None = None, max_index_memory: int | None = None,
            model_name: str | None = None) -> dict[str, Any]:
    """Rebuild the FAISS index and hubness biases from the vector shards, and the text index from
    the stored texts, as a new generation: repairs a damaged or missing index, changes the index
    type, and gives a collection made before the model had a hubness correction its biases. A
    damaged manifest.json is rebuilt first (store/manifest_rebuild.py; `model_name`: the collection's
    model, needed only for a collection written before vsearch kept copies of its manifest)."""
    IngestConfig(root=Path("."), index_type=index_type, max_index_memory=max_index_memory)  # validated before any work
    home = index_home(home)
    store = CollectionStore(home / pick_collection(collection, home))
    with store.lock():
        rebuilt = repair_manifest(store, lambda: _record(model, model_name, device))
        manifest = store.manifest
        # A handle: the hubness correction and (through the ONNX text graph) the texts need no PyTorch.
        model = ModelHandle.of(model) if model is not None else ModelHandle.open(manifest.model["name"], device)
        check_model(manifest.model, model, store.name)
        repaired = repair(store, thorough=True, rebuild_index=False).lines()  # set aside what is damaged, say what was lost
        live = np.unique(int64_column(store.images(), "id"))
        ids, vecs, _ = store.vectors(model.embed_dim).load(live)
        if len(ids) != len(live):
            raise CollectionFormatError(f"{len(live) - len(ids)} images of {store.name!r} have no stored vector; "
                                        f"re-run `vsearch ingest` on their folder")
        index, manifest.index = index_for_commit(store, manifest, ids, vecs, index_type, max_index_memory, model.hubness,
                                                 rebuild=True)
        manifest.counts["vectors"] = index.ntotal
        bias = bias_table(store, "image_bias", model.hubness, ids, vecs)
        texts = store.texts()
        parts = {}
        if len(texts):
            from .encode import encode_texts

            tids = int64_column(texts, "id")
            tvecs = encode_texts(model, texts.column("text").to_pylist())
            parts["texts_index"] = build_index("flat", tids, tvecs)
            parts["text_bias"] = bias_table(store, "text_bias", model.hubness, tids, tvecs)
        store.commit(manifest, index=index, image_bias=bias, **parts)
    return {"collection": store.name, "generation": manifest.generation, "vectors": index.ntotal,
            "texts": len(texts), "index": manifest.index, "hubness": bias is not False, "repaired": rebuilt + repaired}


def _record(model, name: str | None, device: str | None) -> dict[str, Any]:
    """The model record of a collection whose manifest copies are all gone: the model the user names."""
    from ..errors import InvalidOptionError
    from ..models.identity import model_record

    if model is None and not name:
        raise InvalidOptionError("name the model the collection was built with (--model) to rebuild its manifest")
    return {**model_record(ModelHandle.of(model) if model is not None else ModelHandle.open(name, device)),
            "precision": "fp32"}
