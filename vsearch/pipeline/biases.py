"""Each item's hubness correction (models/hubness.py) as the table a commit stores: biases of
ids already stored by the same correction are reused, the rest computed from their vectors."""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from ..models.hubness import reuse_or_compute, reuse_or_compute_chunks
from ..store.collection import CollectionStore
from ..store.tables import BIAS_SCHEMA


def bias_table(store: CollectionStore, key: str, hubness, ids: np.ndarray, vecs: np.ndarray) -> pa.Table | bool:
    """A new `image_bias` / `text_bias` table for the live `ids` (their `vecs`). False when the
    model has no correction (the commit then drops any old table)."""
    if hubness is None:
        return False
    correct = hubness.image_bias if key == "image_bias" else hubness.text_bias
    previous = store.bias_arrays(key, hubness.signature) if store.exists() else None
    bias = reuse_or_compute(correct, ids, vecs, previous)
    return pa.table({"id": ids, "bias": bias}, schema=BIAS_SCHEMA.with_metadata({"hubness": hubness.signature}))


def bias_table_of_shards(store: CollectionStore, key: str, hubness, ids: np.ndarray) -> pa.Table | bool:
    """`bias_table` for the live image `ids`, reading from the vector shards only the vectors
    whose biases are not stored yet, a row group at a time."""
    if hubness is None:
        return False
    previous = store.bias_arrays(key, hubness.signature) if store.exists() else None
    vectors = store.vectors(hubness.texts.shape[1])
    bias = reuse_or_compute_chunks(hubness.image_bias, ids, previous, lambda missing: vectors.chunks(missing).chunks())
    return pa.table({"id": ids, "bias": bias}, schema=BIAS_SCHEMA.with_metadata({"hubness": hubness.signature}))
