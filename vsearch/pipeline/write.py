"""Write stage: one encoded batch -> one vector shard (and the reranker's token part), so a
killed ingest keeps every finished batch and a re-run skips their ids."""
from __future__ import annotations

import numpy as np

from ..store.tables import SIGNATURE_FIELDS
from ..store.tokens import TokenStore
from ..store.vectors import VectorStore

SIGNATURE = {name for name, _ in SIGNATURE_FIELDS}



def content_row(d) -> dict:
    """A decoded file's content row (store/tables.py CONTENT_FIELDS: what a vector shard stores
    beside the vector)."""
    return {"id": d.id, "digest": d.digest, **d.meta}


def without_signature(row: dict) -> dict:
    """The content row as file rows take it (the pixel signature stays in the shard: 1 KB a photo)."""
    return {k: v for k, v in row.items() if k not in SIGNATURE}


class ShardWriter:
    def __init__(self, vectors: VectorStore, tokens: TokenStore | None = None):
        self.vectors = vectors
        self.tokens = tokens
        self.written = 0

    def write(self, rows: list[dict], vectors: np.ndarray, tokens: np.ndarray | None = None) -> None:
        if not rows:
            return
        if self.tokens is not None and tokens is not None:  # before the shard: a known id then always has its tokens
            self.tokens.write(np.array([r["id"] for r in rows], dtype=np.int64), tokens)
        self.vectors.write_shard(rows, vectors)
        self.written += len(rows)
