"""IVF kinds: inverted lists over a coarse k-means quantizer. This module holds what they share
(training, nlist/nprobe sizing, memory-mapped lists, the fp16 vector store, filtered and exact
search, re-ranking) and the plain kind `ivf` (IVF-Flat); ivfsq.py and ivfpq.py only say how
their vectors are encoded.

Beside the lists, an IVF index keeps every vector once more as fp16 in position order
(`vectors.faiss`, an IndexScalarQuantizer that is memory-mapped when the index is). It serves
more-like-this, the exact answer to selective filters, and the re-ranking of compressed
candidates with full-precision scores (`k_factor` > 1).
"""
from __future__ import annotations

import ctypes
import hashlib
import math
import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import faiss
import numpy as np

from . import gpu as gpu_tools
from ..atomic import link_or_copy
from .base import Result, VectorIndex, register
from .errors import IndexKindError
from .fp16store import STORE_FILE, GrowingStore, blocks_of, new_store, read_segments, rows_at, save_store
from .ids import IdMap, bitmap

CPU_MAX_NLIST = 8_192       # k-means beyond this takes hours on a few cores; GPUs go to 65536
HNSW_QUANTIZER_FROM = 8_192  # a graph over the centroids beats scanning them from here on
TRAIN_POINTS_PER_LIST = 40   # FAISS warns below 39
LISTS_FILE = "lists.ivfdata"


def nlist_for(n: int, gpu: bool = False) -> int:
    """~4 sqrt(n) lists, as a power of two (the FAISS guideline autofaiss also follows), with
    at least 39 training points per list."""
    target = 4 * math.sqrt(max(n, 1))
    nlist = 2 ** round(math.log2(target))
    nlist = min(nlist, 65_536 if gpu else CPU_MAX_NLIST)
    while nlist > 1 and nlist * 39 > n:
        nlist //= 2
    return max(1, nlist)


class IVFIndex(VectorIndex):
    """Shared IVF machinery; subclasses set `_lists` (how a list stores a vector)."""

    knob = "nprobe"
    search_keys = ("nprobe", "k_factor")
    # Probing lists with a bitmap costs ~1 ns per entry checked; only allowed entries are
    # scored: a selective filter can afford many more lists.
    max_widen = 32.0
    defaults = {"nlist": None, "quantizer": None, "nprobe": None, "k_factor": 1}

    def __init__(self, index: faiss.Index, idmap, params: dict[str, Any], dim: int):
        super().__init__(index, idmap, params, dim)
        self.store: faiss.Index | None = None       # fp16 copy of every vector, by position
        self.store_files: list[Path] | None = None   # the segment files `store` maps, while unchanged
        self.trained_id: str | None = None
        self._segments = 1                           # store segment files the last save wrote

    # ------------------------------------------------------------------ parameters
    @classmethod
    def default_params(cls, n: int, dim: int) -> dict[str, Any]:
        p = dict(cls.defaults, nlist=nlist_for(n, gpu_tools.available()))
        cls._derive(p, {})
        return p

    @classmethod
    def _derive(cls, params: dict[str, Any], given: dict[str, Any]) -> None:
        if "quantizer" not in given:
            params["quantizer"] = "hnsw" if params["nlist"] >= HNSW_QUANTIZER_FROM else "flat"
        if "nprobe" not in given:
            params["nprobe"] = min(params["nlist"], max(8, params["nlist"] // 32))

    @classmethod
    def _check_params(cls, params: dict[str, Any], dim: int) -> None:
        nlist = params["nlist"]
        if not isinstance(nlist, int) or not 1 <= nlist <= 1 << 20:
            raise IndexKindError(f"{cls.kind} nlist must be an integer in [1, 1048576], not {nlist!r}")
        if not isinstance(params["nprobe"], int) or not 1 <= params["nprobe"] <= nlist:
            raise IndexKindError(f"{cls.kind} nprobe must be an integer in [1, nlist={nlist}], not {params['nprobe']!r}")
        if params["quantizer"] not in ("flat", "hnsw"):
            raise IndexKindError(f"{cls.kind} quantizer must be 'flat' or 'hnsw', not {params['quantizer']!r}")
        if not isinstance(params["k_factor"], int) or not 1 <= params["k_factor"] <= 64:
            raise IndexKindError(f"{cls.kind} k_factor must be an integer in [1, 64], not {params['k_factor']!r}")

    @classmethod
    def knob_values(cls, params: dict[str, Any]) -> list[int]:
        steps = sorted({int(round(2 ** (i / 2))) for i in range(0, 2 * int(math.log2(params["nlist"])) + 1)})
        return [s for s in steps if s <= params["nlist"]]

    @classmethod
    def min_train(cls, params: dict[str, Any]) -> int:
        return params["nlist"]

    @classmethod
    def train_size(cls, params: dict[str, Any]) -> int:
        return min(1_000_000, max(20_000, TRAIN_POINTS_PER_LIST * params["nlist"]))

    @classmethod
    def code_bytes(cls, dim: int, params: dict[str, Any]) -> int:
        raise NotImplementedError

    @classmethod
    def estimate_bytes(cls, n: int, dim: int, params: dict[str, Any]) -> int:
        """Lists (code + 8-byte label per vector), the id map (8 per vector) and centroids; the
        fp16 store is on disk beside them and only its touched pages become resident."""
        quantizer = params["nlist"] * dim * 4 * (1.3 if params["quantizer"] == "hnsw" else 1.0)
        return int(n * (cls.code_bytes(dim, params) + 16) + quantizer)

    # ------------------------------------------------------------------ construction
    @classmethod
    def _lists(cls, quantizer: faiss.Index, dim: int, params: dict[str, Any]) -> faiss.IndexIVF:
        raise NotImplementedError

    @classmethod
    def _wrap(cls, ivf: faiss.IndexIVF, dim: int, params: dict[str, Any]) -> faiss.Index:
        """A pre-transform in front of the lists (OPQ for ivfpq); none by default."""
        return ivf

    @classmethod
    def _new(cls, dim: int, params: dict[str, Any], train: np.ndarray | None, gpu: bool | None) -> faiss.Index:
        if params["quantizer"] == "hnsw":
            quantizer = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
            quantizer.hnsw.efConstruction = 40
        else:
            quantizer = faiss.IndexFlatIP(dim)
        ivf = cls._lists(quantizer, dim, params)
        ivf.own_fields = True
        quantizer.this.disown()
        index = cls._wrap(ivf, dim, params)
        need = cls.min_train(params)
        if train is None or len(train) < need:
            raise IndexKindError(f"{cls.kind} with {params} needs at least {need} vectors to train on, "
                                 f"got {0 if train is None else len(train)}: use flat for so few")
        with gpu_tools.clustering(ivf, dim, gpu):
            index.train(train)
        return index

    @classmethod
    def empty(cls, dim: int, params: dict[str, Any], train: np.ndarray | None = None, gpu: bool | None = None) -> "IVFIndex":
        out = super().empty(dim, params, train, gpu)
        out.store = new_store(dim)
        out.trained_id = hashlib.sha256(faiss.serialize_index(out.index).tobytes()).hexdigest()[:16]
        return out

    def empty_like(self) -> "IVFIndex":
        """An empty index with this one's training (for building parts): no retraining."""
        if self.index.ntotal:
            raise IndexKindError("empty_like needs an index with no vectors (train once, then add per part)")
        out = type(self)(faiss.clone_index(self.index), type(self.idmap)(), dict(self.params), self.dim)
        out.store = new_store(self.dim)
        out.trained_id = self.trained_id
        return out

    @property
    def ivf(self) -> faiss.IndexIVF:
        return faiss.extract_index_ivf(self.index)

    # ------------------------------------------------------------------ changes
    def _add(self, vecs: np.ndarray, positions: np.ndarray) -> None:
        gpu_tools.add_with_ids(self.index, vecs, positions)
        self.store.add(vecs)

    def _writable(self) -> None:
        """A mapped index changes in memory except its fp16 store: the lists and the id map are
        read in (what an update must rewrite anyway), the store stays mapped and new rows go
        after it (fp16store.GrowingStore), so adding 10k vectors to 10M reads no stored vector."""
        if self._source is None or self.store_files is None:
            return super()._writable()
        source = self._source
        index = self._read(source / "index.faiss", self._read_flags(source, False))
        lists_in_memory(faiss.extract_index_ivf(index))
        fresh = type(self)(index, IdMap(np.load(source / "ids.npy")), self.params, self.dim)
        store = self.store
        fresh.store = GrowingStore(store.bases, store.files) if isinstance(store, GrowingStore) else \
            GrowingStore([store], self.store_files)
        fresh.trained_id = self.trained_id
        self.__dict__.update(fresh.__dict__)

    def _remove(self, positions: np.ndarray) -> None:
        bits = bitmap(positions, self.idmap.n_positions)
        self.ivf.remove_ids(faiss.IDSelectorBitmap(self.idmap.n_positions, faiss.swig_ptr(bits)))
        # The fp16 store keeps the rows (positions must not move); the id map marks them dead.

    # ------------------------------------------------------------------ queries
    def _ivf_params(self, nprobe: int, sel: faiss.IDSelector | None) -> tuple[faiss.SearchParameters, list]:
        keep: list = []  # SWIG does not keep nested parameter objects alive
        p = faiss.SearchParametersIVF(nprobe=nprobe)
        if sel is not None:
            p.sel = sel
        if self.params["quantizer"] == "hnsw":
            qp = faiss.SearchParametersHNSW(efSearch=max(64, 2 * nprobe))
            p.quantizer_params = qp
            keep.append(qp)
        if isinstance(self.index, faiss.IndexPreTransform):
            keep.append(p)
            p = faiss.SearchParametersPreTransform(index_params=p)
        return p, keep

    def _search(self, q: np.ndarray, k: int, sel: faiss.IDSelector | None, widen: float) -> Result:
        nprobe = min(self.params["nlist"], int(math.ceil(self.params["nprobe"] * widen)))
        params, _keep = self._ivf_params(nprobe, sel)
        kf = self.params["k_factor"]
        scores, labels = self.index.search(q, k * kf, params=params)
        if kf == 1:
            return scores, labels
        return self._rerank(q, labels, k)

    def _rerank(self, q: np.ndarray, labels: np.ndarray, k: int) -> Result:
        """Full-precision (fp16-stored) scores for the candidates, best k kept."""
        ok = labels >= 0
        vecs = self.store.reconstruct_batch(labels[ok])
        scores = np.full(labels.shape, -np.inf, np.float32)
        rows = np.nonzero(ok)[0]
        scores[ok] = np.einsum("ij,ij->i", vecs, q[rows])
        order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        return np.take_along_axis(scores, order, 1), np.take_along_axis(labels, order, 1)

    def _exact(self, q: np.ndarray, k: int, positions: np.ndarray) -> Result:
        # Copy just the allowed fp16 rows into a scratch flat index and scan that: O(allowed),
        # and only their pages of a mapped store are read (a selector over the whole store
        # would read every row).
        scratch = new_store(self.dim)
        scratch.add_sa_codes(rows_at(self.store, positions))
        scores, rows = scratch.search(q, k)
        return scores, np.where(rows >= 0, positions[np.clip(rows, 0, None)], -1)

    def _vectors_at(self, positions: np.ndarray) -> np.ndarray:
        return self.store.reconstruct_batch(np.ascontiguousarray(positions, dtype=np.int64))

    def hot_regions(self) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """The lists (every query scans nprobe of them), the id map, then the fp16 store (a few
        rows a query: worth keeping only when the budget holds it whole)."""
        every, some = super().hot_regions()
        return [*mapped_lists(self.ivf), *every], [*blocks_of(self.store), *some]

    # ------------------------------------------------------------------ files
    def _save_extra(self, path: Path) -> None:
        # mapped segments are linked (shared with the files they map), new rows written
        self._segments = save_store(self.store, self.store_files, path)
        lists = self.ivf.invlists
        if isinstance(faiss.downcast_InvertedLists(lists), faiss.OnDiskInvertedLists):
            # the lists file is never written once merged: a hard link shares it
            link_or_copy(Path(faiss.downcast_InvertedLists(lists).filename), path / LISTS_FILE)

    def _meta(self) -> dict[str, Any]:
        return {"trained_id": self.trained_id, "store_segments": self._segments}

    @classmethod
    def _read_flags(cls, path: Path, mmap: bool) -> int:
        if (path / LISTS_FILE).exists():  # merged lists: always mapped, never written through
            return faiss.IO_FLAG_ONDISK_SAME_DIR | faiss.IO_FLAG_READ_ONLY
        return super()._read_flags(path, mmap)

    @classmethod
    def _read(cls, file: Path, flags: int) -> faiss.Index:
        if not flags & faiss.IO_FLAG_ONDISK_SAME_DIR:
            return super()._read(file, flags)
        with quiet_stdout():
            return super()._read(file, flags)

    @classmethod
    def _load_extra(cls, out: "IVFIndex", path: Path, mmap: bool, meta: dict[str, Any]) -> None:
        out.store = read_segments(path, int(meta.get("store_segments", 1)), mmap)
        out.store_files = (out.store.files if isinstance(out.store, GrowingStore) else [path / STORE_FILE]) if mmap else None
        out.trained_id = meta.get("trained_id")
        if out.store.ntotal != out.idmap.n_positions:
            raise RuntimeError(f"vectors.faiss holds {out.store.ntotal} rows for {out.idmap.n_positions} positions")
        lists = faiss.downcast_InvertedLists(out.ivf.invlists)
        if isinstance(lists, faiss.OnDiskInvertedLists):
            lists.prefetch_nthread = 0  # FAISS starts 32 prefetch threads per search otherwise (6x slower)
        if not mmap:
            lists_in_memory(out.ivf)


@contextmanager
def quiet_stdout() -> Iterator[None]:
    """FAISS's on-disk lists printf progress notes to stdout (file resized, folder moved), which
    would corrupt a `--json` answer: silence file descriptor 1 around those calls."""
    sys.stdout.flush()
    libc = ctypes.CDLL(None)
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        yield
    finally:
        libc.fflush(None)
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


def mapped_lists(ivf: faiss.IndexIVF) -> list[np.ndarray]:
    """A byte view of the file region the inverted lists are mapped from ([] when in memory)."""
    lists = faiss.downcast_InvertedLists(ivf.invlists)
    if isinstance(lists, faiss.OnDiskInvertedLists):
        return [faiss.rev_swig_ptr(lists.ptr, lists.totsize)] if lists.totsize else []
    if not isinstance(lists, faiss.ArrayInvertedLists):
        return []
    # Mapped array lists lie in the file one after another, each list's codes then its ids.
    spans = [(int(v.data()), v.byte_size(), lists.list_size(i)) for i in range(lists.nlist)
             if not (v := lists.codes.at(i)).is_owned and v.size()]
    if not spans:
        return []
    start = min(a for a, _, _ in spans)
    last = max(spans)
    end = last[0] + last[1] + 8 * last[2]
    return [np.frombuffer((ctypes.c_uint8 * (end - start)).from_address(start), np.uint8)]


def lists_in_memory(ivf: faiss.IndexIVF) -> None:
    """Replace on-disk (merged) inverted lists by an in-memory copy, so that the index can
    change without touching a file that other generations may share."""
    src = faiss.downcast_InvertedLists(ivf.invlists)
    if not isinstance(src, faiss.OnDiskInvertedLists):
        return
    dst = faiss.ArrayInvertedLists(ivf.nlist, ivf.code_size)
    for lst in range(ivf.nlist):
        size = src.list_size(lst)
        if size:
            dst.add_entries(lst, size, src.get_ids(lst), src.get_codes(lst))
    ivf.replace_invlists(dst, True)
    dst.this.disown()


@register
class IVFFlatIndex(IVFIndex):
    kind = "ivf"
    summary = "inverted lists of full float32 vectors: exact scores, tunable probes, mappable"

    @classmethod
    def code_bytes(cls, dim: int, params: dict[str, Any]) -> int:
        return 4 * dim

    @classmethod
    def _lists(cls, quantizer: faiss.Index, dim: int, params: dict[str, Any]) -> faiss.IndexIVF:
        return faiss.IndexIVFFlat(quantizer, dim, params["nlist"], faiss.METRIC_INNER_PRODUCT)
