"""What the Ray runner's workers run: the local runner's stages wrapped for Ray Data.

`decode_block` (CPU tasks over batches of planned files: read + hash + decode, pipeline/decode.py)
and `EncodeWriter` (an actor: one model load, then encode + write a vector shard per batch,
models/image_encoder.py and pipeline/write.py). Blocks are Arrow tables; decoded pixels travel as
bytes (uint8 [size, size, 3], ~170 KB an image at 240 px), not as the files they came from.
Imported on the workers by reference, so it must not import ray at module level.
"""
from __future__ import annotations

import os
import socket
from pathlib import Path

import numpy as np
import pyarrow as pa

from ..errors import ModelMismatchError, StorageError
from ..models.identity import ModelRecord
from ..models.preprocess import Preprocess
from ..store.collection import CollectionStore
from ..store.tables import CONTENT_FIELDS, CONTENT_META, META_FIELDS, SIGNATURE_FIELDS
from ..store.tokens import TokenStore
from .decode import Decoded, Reading, decode_file, stored_but_read_again
from .write import ShardWriter

# One row per planned file; `idx` is its place in the plan's todo list (Ray does not keep order).
RESULT_SCHEMA = pa.schema([("idx", pa.int64()), ("id", pa.int64()), ("digest", pa.string()), *META_FIELDS,
                           ("error", pa.string()), ("decoded_on", pa.string())])
# What a decode task hands the encoder: the pixels (null: nothing to encode) and the signature the
# shard stores, which does not travel back to the driver.
DECODED_SCHEMA = pa.schema([*RESULT_SCHEMA, *SIGNATURE_FIELDS, ("pixels", pa.large_binary())])


class SortedIds:
    """Membership in a sorted int64 array: the collection's known ids shipped to every decode task
    as one shared array (8 bytes an id) rather than a Python set per task."""

    def __init__(self, ids: np.ndarray):
        self.ids = ids

    def __contains__(self, x: int) -> bool:
        i = int(np.searchsorted(self.ids, x))
        return i < len(self.ids) and int(self.ids[i]) == x


_known_cache: dict[str, SortedIds] = {}


def _known(ref) -> SortedIds:
    """The ids behind an object ref, fetched once per worker process."""
    key = ref.hex()
    if key not in _known_cache:
        import ray

        if len(_known_cache) >= 2:  # a run's known ids and its unread ones
            _known_cache.clear()
        _known_cache[key] = SortedIds(ray.get(ref))
    return _known_cache[key]


def _node() -> str:
    """The Ray node this worker runs on (the summary counts the work per node)."""
    import ray

    return ray.get_runtime_context().get_node_id()


def _must_see(folder: Path, what: str) -> None:
    if not folder.is_dir():
        raise StorageError(f"{what} {folder} is not visible on node {socket.gethostname()}: every node must "
                           f"see it at the same path (a shared filesystem)")


def decode_block(block: pa.Table, root: str, preprocess: Preprocess, known_ref, unread_ref=None) -> pa.Table:
    """Read, hash and decode each file of a batch (`idx`, `path` as file-system bytes). A file that cannot be
    read is a row with an error; a root this node cannot see fails the task instead (otherwise
    every file would be recorded as unreadable). `unread_ref`: the stored content ids whose words
    were never read (read for them, never encoded again)."""
    _must_see(Path(root), "the photo folder")
    known = _known(known_ref)
    reading = Reading(unread=_known(unread_ref)) if unread_ref is not None else Reading()
    known = stored_but_read_again(known, reading)
    node = _node()
    rows = []
    for idx, path in zip(block.column("idx").to_pylist(), block.column("path").to_pylist()):
        d = decode_file(Path(os.fsdecode(path)), preprocess, known, reading=reading)  # bytes: any name the filesystem allows
        rows.append({"idx": idx, "id": d.id, "digest": d.digest, **d.meta, "error": d.error, "decoded_on": node,
                     "pixels": None if d.pixels is None else d.pixels.tobytes()})
    return pa.Table.from_pylist(rows, schema=DECODED_SCHEMA)


def make_encoder(record: ModelRecord, device: str, backend: str, reranker: Path | None, rerank_tokens: bool):
    """The image encoder an actor runs: the collection's model at its precision (refused if this
    node's copy is not the same weights), with the reranker whose tokens ingest stores. The one
    place the Ray runner builds an encoder."""
    from ..models.handle import ModelHandle
    from ..models.identity import check_model
    from ..models.image_encoder import encoder_for
    from ..models.token_reranker import token_reranker

    handle = ModelHandle.open(record.name, device=device, precision=record.precision)
    check_model(record, handle, f"{record.name} on {socket.gethostname()}")
    rr = token_reranker(handle, None, reranker) if rerank_tokens else None
    return encoder_for(handle, backend, rr)


class EncodeWriter:
    """Encoder actor: each batch's new content is encoded and written as one vector shard (and
    token part) straight into the collection's folder, before the batch's rows go back to the
    driver: a row the driver sees has its vector on disk."""

    def __init__(self, folder: str, record: ModelRecord, size: int, device: str, backend: str, reranker: str | None,
                 rerank_tokens: bool, tokens_fingerprint: str | None):
        store = CollectionStore(Path(folder))
        _must_see(store.folder, "the collection folder")
        self.size = size  # pixels arrive as uint8 [size, size, 3]
        self.encoder = make_encoder(record, device, backend, Path(reranker) if reranker else None, rerank_tokens)
        got = self.encoder.reranker.fingerprint if self.encoder.reranker is not None else None
        if got != tokens_fingerprint:  # tokens are filed under the driver's reranker
            raise ModelMismatchError(f"the reranker on {socket.gethostname()} ({got}) is not the driver's "
                                     f"({tokens_fingerprint}): install the same vsearch on every node")
        tokens = TokenStore(store.folder, tokens_fingerprint) if tokens_fingerprint else None
        self.writer = ShardWriter(store.vectors(record.embed_dim), tokens)

    def __call__(self, batch: pa.Table) -> pa.Table:
        pixels = batch.column("pixels").to_pylist()
        ids = batch.column("id").to_pylist()
        meta = batch.select(list(CONTENT_FIELDS[1:])).to_pylist()
        encoded = [False] * len(ids)
        rows, arrays, seen = [], [], set()
        for i, (cid, px) in enumerate(zip(ids, pixels)):
            if px is None or cid in seen:  # the same content twice in a batch is encoded once
                continue
            seen.add(cid)
            encoded[i] = True
            rows.append({"id": cid, **meta[i]})
            arrays.append(np.frombuffer(px, dtype=np.uint8).reshape(self.size, self.size, 3))
        if rows:
            vecs, tokens = self.encoder.encode(arrays)
            self.writer.write(rows, vecs, tokens)
        signature = [name for name, _ in SIGNATURE_FIELDS]
        return (batch.drop_columns(["pixels", *signature]).append_column("encoded", pa.array(encoded, pa.bool_()))
                .append_column("encoded_on", pa.array([_node()] * len(ids), pa.string())))


def decoded_of(row: dict) -> Decoded:
    """A result row as the Decoded the local runner's Results take (pixels are not sent back:
    an empty array stands for "was encoded")."""
    return Decoded(row["digest"] or "", row["id"] or 0, np.zeros(0, np.uint8) if row["encoded"] else None,
                   {f: row[f] for f in CONTENT_META}, row["error"])
