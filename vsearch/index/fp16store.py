"""The fp16 vector store of IVF kinds (`vectors.faiss`): every vector once more, as fp16, in
position order — a FAISS IndexScalarQuantizer (QT_fp16), memory-mapped when the index is.

`write_store` writes that file from blocks of rows without ever holding them together (what a
merge of parts on disk needs at 10M vectors: a 5 GB store); the bytes are those
`faiss.write_index` writes for the same rows, which a test checks.
"""
from __future__ import annotations

import ctypes
import os
import struct
from pathlib import Path
from typing import Iterable

import faiss
import numpy as np

STORE_FILE = "vectors.faiss"
_NTOTAL_AT = 8  # after the fourcc "IxSQ" and d (int32): ntotal (int64), as faiss's write_index_header puts it


def new_store(dim: int) -> faiss.IndexScalarQuantizer:
    """Vectors kept as fp16, in position order, scored exactly (up to fp16 rounding)."""
    return faiss.IndexScalarQuantizer(dim, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT)


def store_rows(store: faiss.IndexScalarQuantizer) -> np.ndarray:
    """A numpy view [ntotal, 2d] (uint8) of the store's fp16 rows, mapped or not: no copy."""
    n, size = store.ntotal, store.code_size
    if n == 0:
        return np.zeros((0, size), np.uint8)
    return faiss.rev_swig_ptr(store.codes.data(), n * size).reshape(n, size)


def read_store(path: Path, mmap: bool) -> faiss.IndexScalarQuantizer:
    flags = faiss.IO_FLAG_MMAP_IFC | faiss.IO_FLAG_READ_ONLY if mmap else 0
    store = faiss.read_index(str(path), flags)
    if mmap:
        advise_random(store_rows(store))
    return store


def write_store(path: Path, dim: int, blocks: Iterable[np.ndarray], block_rows: int = 131_072) -> int:
    """Write a store file holding the rows of `blocks` (uint8 [m, 2d] each: fp16 rows, as
    `store_rows` gives them) in order; returns the rows written. Memory: one slice of a block."""
    empty = faiss.serialize_index(new_store(dim)).tobytes()
    header, size_at = bytearray(empty[:-8]), len(empty) - 8  # the codes vector: uint64 size, then bytes
    row_bytes = 2 * dim
    n = 0
    with open(path, "wb") as f:
        f.write(header)
        f.write(struct.pack("<Q", 0))
        for block in blocks:
            if block.ndim != 2 or block.shape[1] != row_bytes:
                raise ValueError(f"store rows must be uint8 [m, {row_bytes}], not {block.dtype} {block.shape}")
            for start in range(0, len(block), block_rows):
                f.write(np.ascontiguousarray(block[start:start + block_rows]).data)
            n += len(block)
        f.seek(_NTOTAL_AT)
        f.write(struct.pack("<q", n))
        f.seek(size_at)
        f.write(struct.pack("<Q", n * row_bytes))
        f.flush()
        os.fsync(f.fileno())
    return n


def advise_random(rows: np.ndarray) -> None:
    """Tell the kernel a mapped store is read at random rows: no read-ahead, which would read
    ~128 KB from disk around each 512-byte row of a cold store."""
    if not len(rows):
        return
    page = os.sysconf("SC_PAGE_SIZE")
    start = rows.ctypes.data
    aligned = start - start % page
    libc = ctypes.CDLL(None, use_errno=True)
    libc.madvise(ctypes.c_void_p(aligned), ctypes.c_size_t(rows.nbytes + start - aligned), 1)  # MADV_RANDOM


class GrowingStore:
    """A mapped store (read-only: its file is shared by generations) with the rows added since
    held in memory after it. An update of a large IVF index adds its new rows here instead of
    reading every mapped row into memory first (512 B a vector: 5 GB at 10M); saving streams the
    mapped rows and the new ones into the new file (`blocks`)."""

    def __init__(self, base: faiss.IndexScalarQuantizer):
        self.base, self.new = base, new_store(base.d)
        self.d, self.code_size = base.d, base.code_size

    @property
    def ntotal(self) -> int:
        return self.base.ntotal + self.new.ntotal

    def add(self, vecs: np.ndarray) -> None:
        self.new.add(vecs)

    def reconstruct_batch(self, positions: np.ndarray) -> np.ndarray:
        positions = np.asarray(positions, np.int64)
        out = np.empty((len(positions), self.d), np.float32)
        old = positions < self.base.ntotal
        if old.any():
            out[old] = self.base.reconstruct_batch(np.ascontiguousarray(positions[old]))
        if not old.all():
            out[~old] = self.new.reconstruct_batch(np.ascontiguousarray(positions[~old] - self.base.ntotal))
        return out

    def blocks(self) -> list[np.ndarray]:
        return [store_rows(self.base), store_rows(self.new)]


def rows_at(store, positions: np.ndarray) -> np.ndarray:
    """uint8 [m, 2d]: the fp16 rows at `positions` of a store or a GrowingStore."""
    if not isinstance(store, GrowingStore):
        return store_rows(store)[positions]
    positions = np.asarray(positions, np.int64)
    out = np.empty((len(positions), store.code_size), np.uint8)
    old = positions < store.base.ntotal
    out[old] = store_rows(store.base)[positions[old]]
    out[~old] = store_rows(store.new)[positions[~old] - store.base.ntotal]
    return out


def blocks_of(store) -> list[np.ndarray]:
    """The rows of a store or a GrowingStore, as blocks for `write_store`."""
    return store.blocks() if isinstance(store, GrowingStore) else [store_rows(store)]
