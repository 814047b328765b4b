"""The fp16 vector store of IVF kinds (`vectors.faiss`): every vector once more, as fp16, in
position order — a FAISS IndexScalarQuantizer (QT_fp16), memory-mapped when the index is.

`write_store` writes that file from blocks of rows without ever holding them together (what a
merge of parts on disk needs at 10M vectors: a 5 GB store); the bytes are those
`faiss.write_index` writes for the same rows, which a test checks. An index updated in place
keeps its store in segments (`vectors.faiss`, `vectors.1.faiss`, ...: meta.json `store_segments`),
so that a new generation hard-links the old rows and writes only the new ones.
"""
from __future__ import annotations

import ctypes
import os
import struct
from pathlib import Path
from typing import Iterable

import faiss
import numpy as np

from ..atomic import link_or_copy

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
    """A store in segments: mapped segment files (read-only: generations share them by hard
    links) and the rows added since, held in memory after them. An update of a large IVF index
    adds its new rows here instead of reading every mapped row into memory first (512 B a
    vector: 5 GB at 10M), and saving links the segment files into the new folder and writes
    only the new rows as one more segment (`save_store`), so that adding 10k vectors to 10M
    writes 10k rows, not 10M."""

    def __init__(self, bases: list[faiss.IndexScalarQuantizer], files: list[Path] | None = None):
        self.bases, self.files = list(bases), list(files) if files is not None else None
        self.new = new_store(bases[0].d)
        self.d, self.code_size = bases[0].d, bases[0].code_size
        self.starts = np.cumsum([0] + [b.ntotal for b in self.bases]).astype(np.int64)  # first row of each base

    @property
    def ntotal(self) -> int:
        return int(self.starts[-1]) + self.new.ntotal

    def add(self, vecs: np.ndarray) -> None:
        self.new.add(vecs)

    def _segments(self) -> list[faiss.IndexScalarQuantizer]:
        return [*self.bases, self.new]

    def _where(self, positions: np.ndarray) -> np.ndarray:
        """The segment of each position (the last one: the new rows)."""
        return np.searchsorted(self.starts, positions, side="right") - 1

    def reconstruct_batch(self, positions: np.ndarray) -> np.ndarray:
        return self._gather(positions, np.float32, self.d,
                            lambda store, rows: store.reconstruct_batch(np.ascontiguousarray(rows)))

    def rows_at(self, positions: np.ndarray) -> np.ndarray:
        return self._gather(positions, np.uint8, self.code_size, lambda store, rows: store_rows(store)[rows])

    def _gather(self, positions: np.ndarray, dtype, width: int, fetch) -> np.ndarray:
        """[len(positions), width] of `fetch(segment, its rows)`, segment by segment."""
        positions = np.asarray(positions, np.int64)
        out = np.empty((len(positions), width), dtype)
        seg = self._where(positions)
        for s, store in enumerate(self._segments()):
            mine = np.flatnonzero(seg == s)
            if len(mine):
                out[mine] = fetch(store, positions[mine] - self.starts[s])
        return out

    def blocks(self) -> list[np.ndarray]:
        return [store_rows(s) for s in self._segments()]


def segment_file(i: int) -> str:
    """The file of segment i of a store: vectors.faiss, then vectors.1.faiss, vectors.2.faiss..."""
    return STORE_FILE if i == 0 else f"vectors.{i}.faiss"


def read_segments(folder: Path, count: int, mmap: bool):
    """The store of an index folder in `count` segment files: one store, or (mapped, several
    files) a GrowingStore over them; read into memory, one store holding every row."""
    if count == 1:
        return read_store(folder / STORE_FILE, mmap)
    files = [folder / segment_file(i) for i in range(count)]
    if mmap:
        return GrowingStore([read_store(f, True) for f in files], files)
    segments = [read_store(f, True) for f in files]  # kept alive while their rows are copied
    out = new_store(segments[0].d)
    for seg in segments:
        out.add_sa_codes(store_rows(seg))
    return out


def plan_segments(sizes: list[int]) -> list[list[int]]:
    """Groups of consecutive segments to keep (groups of one: linked as they are) or write as one
    (the newest ones): a segment is merged into the ones after it while it holds fewer than twice
    their rows, so that a store grown by many small updates keeps ~log2(updates) segments and each
    row is rewritten ~log2 times, never the large first segment for a small update."""
    groups = [[i] for i in range(len(sizes))]
    rows = list(sizes)
    while len(groups) > 1 and rows[-2] < 2 * rows[-1]:
        groups[-2:] = [groups[-2] + groups[-1]]
        rows[-2:] = [rows[-2] + rows[-1]]
    return groups


def save_store(store, files: list[Path] | None, folder: Path) -> int:
    """Write a store into an index folder; returns its segment count. `files`: the files a
    mapped, unchanged store maps (linked, not copied). A GrowingStore's mapped segments are
    linked and its new rows written as one more segment (the newest segments merged, see
    `plan_segments`); a store in memory is one file."""
    if not isinstance(store, GrowingStore):
        if files is not None:
            for i, f in enumerate(files):
                link_or_copy(f, folder / segment_file(i))
            return len(files)
        faiss.write_index(store, str(folder / STORE_FILE))
        return 1
    if store.files is None:
        raise ValueError("a GrowingStore saved must know the files of its mapped segments")
    segs = [*zip(store.bases, store.files)] + ([(store.new, None)] if store.new.ntotal else [])
    groups = plan_segments([s.ntotal for s, _ in segs])
    for i, group in enumerate(groups):
        store_i, file_i = segs[group[0]]
        if len(group) == 1 and file_i is not None:
            link_or_copy(file_i, folder / segment_file(i))
        else:
            write_store(folder / segment_file(i), store.d, [store_rows(segs[g][0]) for g in group])
    return len(groups)


def rows_at(store, positions: np.ndarray) -> np.ndarray:
    """uint8 [m, 2d]: the fp16 rows at `positions` of a store or a GrowingStore."""
    if isinstance(store, GrowingStore):
        return store.rows_at(positions)
    return store_rows(store)[positions]


def blocks_of(store) -> list[np.ndarray]:
    """The rows of a store or a GrowingStore, as blocks for `write_store`."""
    return store.blocks() if isinstance(store, GrowingStore) else [store_rows(store)]
