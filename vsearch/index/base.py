"""The one interface every index kind implements, and the registry `kind -> class`.

All kinds hold L2-normalised float32 vectors under inner product, keyed by arbitrary int64
content ids. FAISS labels each vector with its position (see ids.py), so that:

- a metadata filter becomes a `Selection` of positions, and a bitmap over them
  (IDSelectorBitmap, n/8 bytes) when the index needs one — never a copy of an id map; a caller
  that filters table rows maps its id column to positions once (`lookup`) and selects by rows;
- a selective filter is answered exactly from the vectors themselves (`_exact`), which costs
  O(allowed), not O(n); a broad one by the index with the bitmap and a widened search, and any
  query that comes back short of k falls back to the exact path, so k hits are always returned
  when k allowed items exist.

A kind is one module: subclass `VectorIndex`, decorate with `@register`, implement `_new`,
`_add`, `_search`, `_exact`, `_vectors_at` (and `_remove` if FAISS can remove from it).
Saved indexes are folders (see `save`); IVF kinds can be opened memory-mapped.
"""
from __future__ import annotations

import json
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import faiss
import numpy as np

from ..atomic import fsync_tree, link_or_copy
from .errors import CollectionFormatError, IndexInputError, IndexKindError
from .ids import DEAD, IdMap, Selection

FORMAT = 1
ADD_CHUNK = 65_536           # rows per FAISS add: bounds the float32 copies made while adding

KINDS: dict[str, type["VectorIndex"]] = {}


def register(cls: type["VectorIndex"]) -> type["VectorIndex"]:
    KINDS[cls.kind] = cls
    return cls


def kind_class(kind: str) -> type["VectorIndex"]:
    try:
        return KINDS[kind]
    except KeyError:
        raise IndexKindError(f"unknown index kind {kind!r}; known: auto, {', '.join(sorted(KINDS))}") from None


Result = tuple[np.ndarray, np.ndarray]


class VectorIndex(ABC):
    kind: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    exact: ClassVar[bool] = False
    defaults: ClassVar[dict[str, Any]] = {}        # every parameter the kind takes
    knob: ClassVar[str | None] = None               # the search-time parameter auto tunes
    search_keys: ClassVar[tuple[str, ...]] = ()     # parameters that may change after building
    tombstones: ClassVar[bool] = False              # removed vectors stay in FAISS, masked at search
    max_widen: ClassVar[float] = 8.0                # a filtered search looks at most this much wider

    def __init__(self, index: faiss.Index, idmap: IdMap, params: dict[str, Any], dim: int):
        self.index, self.idmap, self.params, self.dim = index, idmap, params, dim
        self._source: Path | None = None            # the folder it was memory-mapped from

    # ------------------------------------------------------------------ construction
    @classmethod
    def default_params(cls, n: int, dim: int) -> dict[str, Any]:
        """Parameters for n vectors of dim (kinds that size themselves to n override this)."""
        return dict(cls.defaults)

    @classmethod
    def resolve_params(cls, n: int, dim: int, given: dict[str, Any] | None = None) -> dict[str, Any]:
        params = cls.default_params(n, dim)
        unknown = set(given or {}) - set(params)
        if unknown:
            raise IndexKindError(f"index kind {cls.kind!r} takes no parameter {', '.join(sorted(unknown))}; "
                                 f"it takes: {', '.join(sorted(params)) or 'none'}")
        params.update(given or {})
        cls._derive(params, given or {})
        cls._check_params(params, dim)
        return params

    @classmethod
    def _derive(cls, params: dict[str, Any], given: dict[str, Any]) -> None:
        """Recompute defaults that depend on parameters the caller gave."""

    @classmethod
    def _check_params(cls, params: dict[str, Any], dim: int) -> None:
        pass

    @classmethod
    def estimate_bytes(cls, n: int, dim: int, params: dict[str, Any]) -> int:
        """Bytes the index holds for n vectors, its id map (8 per vector) included: what must fit
        the memory budget when it is not memory-mapped."""
        return 4 * n * dim + 8 * n

    @classmethod
    def train_size(cls, params: dict[str, Any]) -> int:
        return 0

    @classmethod
    def knob_values(cls, params: dict[str, Any]) -> list[int]:
        """Values of `knob` to try when tuning, cheapest first."""
        return []

    @classmethod
    def empty(cls, dim: int, params: dict[str, Any], train: np.ndarray | None = None, gpu: bool | None = None) -> "VectorIndex":
        """An index with no vectors yet, trained on `train` where the kind needs training."""
        return cls(cls._new(dim, params, train, gpu), IdMap(), params, dim)

    @classmethod
    def build(cls, ids: np.ndarray, vecs: np.ndarray, params: dict[str, Any] | None = None,
              gpu: bool | None = None, seed: int = 0) -> "VectorIndex":
        ids, vecs = check_vectors(ids, vecs)
        IdMap().check_new(ids)  # before any training
        params = cls.resolve_params(len(ids), vecs.shape[1], params)
        out = cls.empty(vecs.shape[1], params, training_sample(vecs, cls.train_size(params), seed), gpu)
        out.add(ids, vecs)
        return out

    @classmethod
    @abstractmethod
    def _new(cls, dim: int, params: dict[str, Any], train: np.ndarray | None, gpu: bool | None) -> faiss.Index:
        ...

    # ------------------------------------------------------------------ facts
    @property
    def ntotal(self) -> int:
        """Live vectors."""
        return self.idmap.n_live

    @property
    def dead_fraction(self) -> float:
        return self.idmap.n_dead / self.idmap.n_positions if self.idmap.n_positions else 0.0

    @property
    def mmapped(self) -> bool:
        return self._source is not None

    def memory_bytes(self) -> int:
        """Estimated bytes of the structures (`estimate_bytes` at the current size)."""
        return self.estimate_bytes(self.idmap.n_positions, self.dim, self.params)

    def set_search_params(self, **params: Any) -> None:
        bad = set(params) - set(self.search_keys)
        if bad:
            raise IndexKindError(f"{', '.join(sorted(bad))} cannot change after building a {self.kind!r} index; "
                                 f"search-time parameters: {', '.join(self.search_keys) or 'none'}")
        new = {**self.params, **params}
        self._check_params(new, self.dim)
        self.params = new

    # ------------------------------------------------------------------ changes
    def add(self, ids: np.ndarray, vecs: np.ndarray) -> None:
        ids, vecs = check_vectors(ids, vecs, self.dim)
        if not len(ids):
            return
        self._writable()
        self.idmap.check_new(ids)
        order = np.argsort(ids, kind="stable")   # positions follow id order: lookups stay free
        positions = self.idmap.append(ids[order])
        for start in range(0, len(ids), ADD_CHUNK):
            rows = order[start:start + ADD_CHUNK]
            self._add(np.ascontiguousarray(vecs[rows], dtype=np.float32), positions[start:start + ADD_CHUNK])

    @abstractmethod
    def _add(self, vecs: np.ndarray, positions: np.ndarray) -> None:
        ...

    def remove(self, ids: np.ndarray) -> int:
        """Remove those ids that are present; returns how many were."""
        positions = self.idmap.positions(np.asarray(ids, dtype=np.int64))
        if not len(positions):
            return 0
        self._writable()
        self._remove(positions)
        self.idmap.kill(positions)
        return len(positions)

    def _remove(self, positions: np.ndarray) -> None:
        """Take positions out of FAISS; kinds with `tombstones` keep them and mask them instead."""

    # ------------------------------------------------------------------ queries
    def lookup(self, ids: np.ndarray) -> np.ndarray:
        """The position of each id (-1 where absent). A caller that filters by table rows can
        look its id column up once per index and then select by rows (see `select`)."""
        return self.idmap.lookup(ids)

    def select(self, ids: np.ndarray | None = None, positions: np.ndarray | None = None) -> Selection:
        """A filter resolved for this index, from content ids (O(m log n)) or from positions
        that `lookup` gave (O(m)); -1 and removed positions are dropped."""
        if positions is None:
            return Selection(self.idmap.positions(np.asarray(ids, dtype=np.int64)), self.idmap, is_sorted=True)
        pos = np.asarray(positions, dtype=np.int64).ravel()
        pos = pos[(pos >= 0) & (pos < self.idmap.n_positions)]
        return Selection(pos[np.asarray(self.idmap.ids)[pos] != DEAD], self.idmap)

    def search(self, queries: np.ndarray, k: int, allowed: np.ndarray | Selection | None = None) -> Result:
        """(scores [q, k], ids [q, k]) best first; empty slots have id -1 and score -inf.
        `allowed` restricts the hits: content ids (int64, best sorted), or a `select()`ion."""
        q = check_queries(queries, self.dim)
        if not isinstance(k, (int, np.integer)) or k < 1:
            raise IndexInputError(f"k must be a positive integer, not {k!r}")
        k = int(k)
        if self.ntotal == 0:
            return empty_result(len(q), k)
        if allowed is None:  # masked removals: search as much wider as they take up
            sel = self._live_selector()
            scores, labels = self._search(q, k, sel, self.idmap.n_positions / self.ntotal if sel else 1.0)
        else:
            if isinstance(allowed, Selection):
                allowed.check(self.idmap)
            else:
                allowed = self.select(allowed)
            if not len(allowed):
                return empty_result(len(q), k)
            scores, labels = self._filtered(q, k, allowed)
        scores = np.where(labels >= 0, scores, -np.inf).astype(np.float32)
        return scores, self.idmap.labels_to_ids(labels)

    def _filtered(self, q: np.ndarray, k: int, allowed: Selection) -> Result:
        if self._prefer_exact(len(allowed)):
            return self._exact(q, k, allowed.positions)
        bits = allowed.bitmap()  # kept by the selection, so it outlives the search
        sel = faiss.IDSelectorBitmap(self.idmap.n_positions, faiss.swig_ptr(bits))
        scores, labels = self._search(q, k, sel, min(self.max_widen, self.ntotal / len(allowed)))
        short = (labels >= 0).sum(axis=1) < min(k, len(allowed))
        if short.any():
            positions = allowed.positions
            short &= (labels >= 0).sum(axis=1) < min(k, len(positions))  # len(allowed) may count repeats
            if short.any():
                scores[short], labels[short] = self._exact(q[short], k, positions)
        return scores, labels

    def _prefer_exact(self, n_allowed: int) -> bool:
        """Whether exact search over n_allowed positions beats the index with a bitmap. The exact
        path costs ~0.1-0.5 us per allowed row whatever the index size; a walk or probe with a
        bitmap grows slowly with n (HNSW, 300k vectors, 30k allowed: 3.5 vs 3.3 ms)."""
        return n_allowed <= min(32_768, self.ntotal // 8)

    def _live_selector(self) -> faiss.IDSelector | None:
        if not (self.tombstones and self.idmap.n_dead):
            return None
        bits = self.idmap.live_bitmap()  # cached on the id map, so it outlives the search
        return faiss.IDSelectorBitmap(self.idmap.n_positions, faiss.swig_ptr(bits))

    @abstractmethod
    def _search(self, q: np.ndarray, k: int, sel: faiss.IDSelector | None, widen: float) -> Result:
        """FAISS search -> (scores, positions); `widen` >= 1 asks for a wider search (filters)."""

    @abstractmethod
    def _exact(self, q: np.ndarray, k: int, positions: np.ndarray) -> Result:
        """Exact top-k among `positions` (live, ascending)."""

    # ------------------------------------------------------------------ vectors
    def vectors(self, ids: np.ndarray) -> np.ndarray:
        """The stored vectors of `ids` (float32 [len(ids), d]), for more-like-this."""
        ids = np.asarray(ids, dtype=np.int64).ravel()
        positions = self.idmap.lookup(ids)
        missing = ids[positions == DEAD]
        if len(missing):
            raise IndexInputError(f"id {missing[0]} is not in the index")
        return self._vectors_at(positions)

    def reconstruct(self, id_: int) -> np.ndarray:
        return self.vectors(np.array([id_], np.int64))[0]

    @abstractmethod
    def _vectors_at(self, positions: np.ndarray) -> np.ndarray:
        ...

    # ------------------------------------------------------------------ warm-up
    def hot_regions(self) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Views of the mapped structures (every query walks, some queries read a few rows of),
        most-touched first (index/prefetch.py)."""
        return [np.asarray(self.idmap.ids)], []

    def prefetch(self, budget: int):
        """Pre-fault those pages, up to `budget` bytes (index/prefetch.py `warm`); a background
        job for the rest, or None. An index in memory is warm already."""
        from .prefetch import warm

        return warm(*self.hot_regions(), budget, self) if self.mmapped else None

    # ------------------------------------------------------------------ files
    def save(self, path: str | Path) -> None:
        """Write the index as a folder at `path` (which must not exist): index.faiss, ids.npy,
        meta.json and the kind's own files, each fsynced, so that a rename publishes it."""
        path = Path(path)
        path.mkdir(parents=True)
        if self._source is not None:  # mapped, so unchanged (a change reads it into memory first): share its files
            for name in ("index.faiss", "ids.npy"):
                link_or_copy(self._source / name, path / name)
        else:
            faiss.write_index(self.index, str(path / "index.faiss"))
            np.save(path / "ids.npy", np.asarray(self.idmap.ids))
        self._save_extra(path)
        meta = {"format": FORMAT, "kind": self.kind, "params": self.params, "dim": self.dim,
                "positions": self.idmap.n_positions, "live": self.ntotal, "faiss": faiss.__version__,
                **self._meta()}
        (path / "meta.json").write_text(json.dumps(meta, indent=1))
        fsync_tree(path)

    def _save_extra(self, path: Path) -> None:
        pass

    def _meta(self) -> dict[str, Any]:
        return {}

    @classmethod
    def _read_flags(cls, path: Path, mmap: bool) -> int:
        return faiss.IO_FLAG_MMAP_IFC | faiss.IO_FLAG_READ_ONLY if mmap else 0

    @classmethod
    def _read(cls, file: Path, flags: int) -> faiss.Index:
        return faiss.read_index(str(file), flags)

    @classmethod
    def _load_extra(cls, out: "VectorIndex", path: Path, mmap: bool, meta: dict[str, Any]) -> None:
        pass

    def _writable(self) -> None:
        """A memory-mapped index is read-only (FAISS aborts on writes to a mapping): changing one
        first reads it into memory."""
        if self._source is not None:
            fresh = load_index(self._source, mmap=False)
            self.__dict__.update(fresh.__dict__)
            self._source = None


def load_index(path: str | Path, mmap: bool = False) -> VectorIndex:
    """Open a saved index folder. `mmap` maps the vectors and lists instead of reading them:
    opening is then O(lists) and only the pages that queries touch become resident."""
    path = Path(path)
    hint = "rebuild it from the stored vectors with `vsearch reindex`"
    try:
        meta = json.loads((path / "meta.json").read_text())
    except (OSError, ValueError) as e:
        raise CollectionFormatError(f"index {path} is missing or damaged ({e}); {hint}") from e
    if meta.get("format") != FORMAT:
        raise CollectionFormatError(f"index {path} has format {meta.get('format')!r}, this vsearch reads {FORMAT}; {hint}")
    cls = kind_class(meta["kind"])
    try:
        index = cls._read(path / "index.faiss", cls._read_flags(path, mmap))
        ids = np.load(path / "ids.npy", mmap_mode="r" if mmap else None)
        out = cls(index, IdMap(ids), meta["params"], int(meta["dim"]))
        cls._load_extra(out, path, mmap, meta)
    except (RuntimeError, OSError, ValueError) as e:
        raise CollectionFormatError(f"index {path} is damaged ({str(e).splitlines()[0]}); {hint}") from e
    if out.idmap.n_positions != meta["positions"] or index.d != out.dim:
        raise CollectionFormatError(f"index {path} is inconsistent (positions or dimension differ from meta.json); {hint}")
    if mmap:
        out._source = path
    return out


# ---------------------------------------------------------------------- input checks
def check_vectors(ids: np.ndarray, vecs: np.ndarray, dim: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    ids = np.asarray(ids)
    vecs = np.asarray(vecs)
    if ids.ndim != 1 or not np.issubdtype(ids.dtype, np.integer):
        raise IndexInputError(f"ids must be a 1-d integer array, not {ids.dtype} of shape {ids.shape}")
    if vecs.ndim != 2 or len(vecs) != len(ids) or not np.issubdtype(vecs.dtype, np.floating):
        raise IndexInputError(f"vectors must be a float array [{len(ids)}, d], not {vecs.dtype} of shape {vecs.shape}")
    if dim is not None and vecs.shape[1] != dim:
        raise IndexInputError(f"vectors have dimension {vecs.shape[1]}; the index holds {dim}")
    if vecs.shape[1] == 0:
        raise IndexInputError("vectors have dimension 0")
    for start in range(0, len(vecs), 1 << 20):  # in blocks: no n x d temporary
        if not np.isfinite(vecs[start:start + (1 << 20)]).all():
            raise IndexInputError("vectors contain NaN or infinity")
    return ids.astype(np.int64, copy=False), vecs


def check_queries(queries: np.ndarray, dim: int) -> np.ndarray:
    q = np.asarray(queries)
    if q.ndim == 1:
        q = q[None]
    if q.ndim != 2 or not np.issubdtype(q.dtype, np.floating):
        raise IndexInputError(f"queries must be float [n, {dim}], not {q.dtype} of shape {np.asarray(queries).shape}")
    if q.shape[1] != dim:
        raise IndexInputError(f"queries have dimension {q.shape[1]}; the index holds {dim}")
    if not np.isfinite(q).all():
        raise IndexInputError("queries contain NaN or infinity")
    return np.ascontiguousarray(q, dtype=np.float32)


def training_sample(vecs: np.ndarray, n: int, seed: int = 0) -> np.ndarray | None:
    if n <= 0:
        return None
    if len(vecs) <= n:
        return np.ascontiguousarray(vecs, dtype=np.float32)
    rows = np.sort(np.random.default_rng(seed).choice(len(vecs), n, replace=False))
    return np.ascontiguousarray(vecs[rows], dtype=np.float32)


def empty_result(nq: int, k: int) -> Result:
    return np.full((nq, k), -np.inf, np.float32), np.full((nq, k), DEAD, np.int64)
