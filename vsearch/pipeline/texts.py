"""The text corpus writer: encode texts into a collection's corpus, for image -> text search."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa

from ..errors import QueryError
from ..models.identity import check_model
from ..store.collection import CollectionStore
from ..store.home import index_home, pick_collection
from ..index import build_index
from ..store.tables import TEXTS_SCHEMA
from .biases import bias_table
from .encode import encode_texts


def add_texts(texts: list[str], collection: str | None = None, home: str | Path | None = None,
              source: str | None = None, model=None, batch_size: int = 256) -> int:
    """Add texts (captions, tags, phrases) to a collection's corpus. Returns the corpus size."""
    texts = [t.strip() for t in texts if t and t.strip()]
    if not texts:
        raise QueryError("no texts to add")
    home = index_home(home)
    store = CollectionStore(home / pick_collection(collection, home))
    with store.lock():
        manifest = store.manifest
        if model is None:
            from ..models import load_model

            model = load_model(manifest.model["name"])
        check_model(manifest.model, model, store.name)
        old = store.texts()
        start = len(old)
        vecs = encode_texts(model, texts, batch_size)
        old_vecs = store.texts_index().vectors(np.arange(start)) if start else np.zeros((0, vecs.shape[1]), np.float32)
        new = pa.table({"id": np.arange(start, start + len(texts), dtype=np.int64), "text": texts,
                        "source": [source] * len(texts)}, schema=TEXTS_SCHEMA)
        table = pa.concat_tables([old, new])
        all_vecs = np.concatenate([old_vecs, vecs])
        ids = np.arange(len(all_vecs), dtype=np.int64)
        index = build_index("flat", ids, all_vecs)
        manifest.counts["texts"] = len(table)
        store.commit(manifest, texts=table, texts_index=index,
                     text_bias=bias_table(store, "text_bias", model.hubness, ids, all_vecs))
    return len(table)
