"""Reading the single-file indexes of collection format 2 (`index-<gen>.faiss`: a FAISS
IndexIDMap2 over flat, HNSW or IVF-Flat), until the collection's next commit writes its index
as a folder. Their vectors are read out and served exactly (a flat index): correct whatever the
old kind was, at the old flat index's cost; `vsearch reindex` rebuilds the chosen kind."""
from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np

from .base import VectorIndex
from .errors import CollectionFormatError
from .flat import FlatIndex

HINT = "rebuild it from the stored vectors with `vsearch reindex`"


def load_legacy_index(path: str | Path) -> VectorIndex:
    path = Path(path)
    try:
        index = faiss.read_index(str(path))
        id_map = faiss.vector_to_array(index.id_map).astype(np.int64)
        inner = faiss.downcast_index(index.index)
        if isinstance(inner, faiss.IndexIVF):
            inner.make_direct_map()
        vecs = inner.reconstruct_n(0, inner.ntotal) if inner.ntotal else np.zeros((0, index.d), np.float32)
    except (RuntimeError, AttributeError) as e:
        raise CollectionFormatError(f"FAISS index {path} is damaged ({str(e).splitlines()[0]}); {HINT}") from e
    out = FlatIndex.empty(index.d, {})
    out.add(id_map, np.asarray(vecs, np.float32))
    return out
