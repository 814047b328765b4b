"""The text corpus writer: encode texts into a collection's corpus, for image -> text search — a
writer transaction (pipeline/transaction.py) whose commit records the corpus and derives its
index and biases. Texts are encoded through the model's handle: the ONNX text graph when it is
exported, as every text query, with no PyTorch."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa

from ..errors import QueryError
from ..store.collection import CollectionStore
from ..store.home import index_home, pick_collection
from ..store.tables import TEXTS_SCHEMA
from .derived.sources import ArrayVectors
from .transaction import transaction


def add_texts(texts: list[str], collection: str | None = None, home: str | Path | None = None,
              source: str | None = None, model=None, batch_size: int = 256) -> int:
    """Add texts (captions, tags, phrases) to a collection's corpus. Returns the corpus size."""
    texts = [t.strip() for t in texts if t and t.strip()]
    if not texts:
        raise QueryError("no texts to add")
    home = index_home(home)
    store = CollectionStore(home / pick_collection(collection, home))
    with transaction(store) as tx:
        tx.open(model)
        old = store.texts()
        start = len(old)
        vecs = tx.model.encode_texts(texts, batch_size)
        old_vecs = store.texts_index().vectors(np.arange(start)) if start else np.zeros((0, vecs.shape[1]), np.float32)
        new = pa.table({"id": np.arange(start, start + len(texts), dtype=np.int64), "text": texts,
                        "source": [source] * len(texts)}, schema=TEXTS_SCHEMA)
        table = pa.concat_tables([old, new])
        tx.commit(texts=table, text_vectors=ArrayVectors(np.arange(len(table), dtype=np.int64),
                                                          np.concatenate([old_vecs, vecs])))
    return len(table)
