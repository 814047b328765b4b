"""Embeddings computed elsewhere, read part by part: which layout a path holds, its vectors'
width, and batches of (paths, float32 vectors) in row order. Nothing is held whole.

Two layouts are read:
- clip-retrieval's output folder: `img_emb/img_emb_<n>.npy` (float16 or float32 [rows, d]) beside
  `metadata/metadata_<n>.parquet`, whose rows line up with the npy of the same n and carry
  `image_path` (clip-retrieval writes both from one batch; `<n>` is zero-padded, so parts are
  paired by number). The npy files are memory-mapped; `text_emb/` and other columns are ignored.
- Parquet: one file or a folder of them (searched recursively; names starting with `.` or `_`,
  Spark's bookkeeping, are skipped) with a path column (`path` or `image_path`) and a vector column
  (`vector`, `embedding` or `emb`: a list or fixed-size list of floats), read in row batches.

Every value is data: a path is any non-empty string, checked by the caller; the vectors are checked
here to be finite, non-zero and of one width, and are returned L2-normalised.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import VsearchError

PATH_COLUMNS = ("path", "image_path")
VECTOR_COLUMNS = ("vector", "embedding", "emb")
_NPY = re.compile(r"img_emb_(\d+)\.npy")
_META = re.compile(r"metadata_(\d+)\.parquet")
_FLOATS = {pa.float16(): np.float16, pa.float32(): np.float32, pa.float64(): np.float64}


class ImportSourceError(VsearchError):
    """Embeddings to import that cannot be used as given (layout, width, values, paths)."""


@dataclass
class Batch:
    part: str             # the file the rows come from, for messages
    first_row: int        # row number of the first row within that file
    paths: list[str]      # as the source gives them (checked non-empty by the caller)
    vecs: np.ndarray      # float32 [n, d], L2-normalised


class EmbeddingSource:
    kind = ""

    def __init__(self, location: Path):
        self.location = location
        self.dim = 0
        self.rows = 0

    def batches(self, rows: int) -> Iterator[Batch]:
        raise NotImplementedError


def open_source(location: Path) -> EmbeddingSource:
    """The layout at `location`, its headers read and checked (no vector is read yet)."""
    location = Path(location)
    if not location.exists():
        raise ImportSourceError(f"{location} does not exist")
    if location.is_dir() and (location / "img_emb").is_dir():
        return ClipRetrievalSource(location)
    if location.is_file() or any(_parquet_files(location)):
        return ParquetSource(location)
    raise ImportSourceError(
        f"{location} holds no embeddings vsearch reads: give clip-retrieval's output folder (img_emb/ + metadata/) "
        f"or a Parquet file or folder with a path column ({' or '.join(PATH_COLUMNS)}) and a vector column "
        f"({', '.join(VECTOR_COLUMNS)})")


def unit_rows(vecs: np.ndarray, where: str) -> np.ndarray:
    """float32 L2-normalised rows of `vecs`; refuses NaN/inf and zero rows, naming the first."""
    v = np.asarray(vecs, dtype=np.float32)
    bad = ~np.isfinite(v).all(axis=1)
    if bad.any():
        raise ImportSourceError(f"{where}: row {int(np.argmax(bad))} holds NaN or infinite values")
    norms = np.linalg.norm(v, axis=1)
    if not np.all(norms > 0):  # an overflow to inf in the norm is caught by the finite check below
        raise ImportSourceError(f"{where}: row {int(np.argmax(~(norms > 0)))} is all zeros (no direction to search by)")
    if not np.isfinite(norms).all():
        raise ImportSourceError(f"{where}: row {int(np.argmax(~np.isfinite(norms)))} is too large to normalise")
    return v / norms[:, None]


# --- clip-retrieval -----------------------------------------------------------------------------

class ClipRetrievalSource(EmbeddingSource):
    kind = "clip-retrieval"

    def __init__(self, location: Path):
        super().__init__(location)
        npys = _numbered(location / "img_emb", _NPY)
        if not npys:
            raise ImportSourceError(f"{location / 'img_emb'} holds no img_emb_<n>.npy file")
        metas = _numbered(location / "metadata", _META)
        self.parts: list[tuple[Path, Path, int]] = []
        for n, npy in npys.items():
            meta = metas.get(n)
            if meta is None:
                raise ImportSourceError(f"{npy.name} has no metadata/metadata_{npy.name[8:-4]}.parquet beside it "
                                        f"(its rows' image paths)")
            arr = _open_npy(npy)
            dim = arr.shape[1]
            if self.dim and dim != self.dim:
                raise ImportSourceError(f"{npy.name} holds {dim}-d vectors, the parts before it {self.dim}-d")
            self.dim = dim
            rows = _parquet(meta).metadata.num_rows
            if rows != arr.shape[0]:
                raise ImportSourceError(f"{meta.name} has {rows} rows but {npy.name} {arr.shape[0]} vectors: "
                                        f"they do not line up")
            _column_of(_parquet(meta).schema_arrow, ("image_path",), meta, "path")
            self.parts.append((npy, meta, rows))
            self.rows += rows

    def batches(self, rows: int) -> Iterator[Batch]:
        for npy, meta, _ in self.parts:
            arr = _open_npy(npy)
            start = 0
            for b in _parquet(meta).iter_batches(batch_size=rows, columns=["image_path"]):
                end = start + b.num_rows
                where = f"{npy.name} rows {start}-{end - 1}"
                yield Batch(npy.name, start, _strings(b.column(0), meta.name, start), unit_rows(arr[start:end], where))
                start = end
            del arr  # drop the mapping before the next part's


def _numbered(folder: Path, pattern: re.Pattern) -> dict[int, Path]:
    if not folder.is_dir():
        return {}
    found = {}
    for p in folder.iterdir():
        m = pattern.fullmatch(p.name)
        if m:
            n = int(m.group(1))
            if n in found:
                raise ImportSourceError(f"{found[n].name} and {p.name} both claim part {n}")
            found[n] = p
    return dict(sorted(found.items()))


def _open_npy(path: Path) -> np.ndarray:
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as e:
        raise ImportSourceError(f"{path.name} is not a readable .npy array ({str(e).splitlines()[0]})") from e
    if arr.ndim != 2 or arr.dtype.kind != "f":
        raise ImportSourceError(f"{path.name} holds a {arr.dtype} array of shape {arr.shape}, not float [rows, d] vectors")
    return arr


# --- Parquet of paths and vectors ---------------------------------------------------------------

class ParquetSource(EmbeddingSource):
    kind = "parquet"

    def __init__(self, location: Path):
        super().__init__(location)
        self.files = [location] if location.is_file() else _parquet_files(location)
        first = _parquet(self.files[0]).schema_arrow
        self.path_col = _column_of(first, PATH_COLUMNS, self.files[0], "path")
        self.vec_col = _column_of(first, VECTOR_COLUMNS, self.files[0], "vector")
        for f in self.files:
            pf = _parquet(f)
            schema = pf.schema_arrow
            for col in (self.path_col, self.vec_col):
                if col not in schema.names:
                    raise ImportSourceError(f"{f.name} has no {col!r} column (the first file has)")
            self.dim = _fixed_width(schema.field(self.vec_col).type, f, self.dim)
            self.rows += pf.metadata.num_rows

    def batches(self, rows: int) -> Iterator[Batch]:
        for f in self.files:
            start = 0
            for b in _parquet(f).iter_batches(batch_size=rows, columns=[self.path_col, self.vec_col]):
                where = f"{f.name} rows {start}-{start + b.num_rows - 1}"
                vecs = _vector_rows(b.column(1), where)
                if self.dim == 0:
                    self.dim = vecs.shape[1]
                if vecs.shape[1] != self.dim:
                    raise ImportSourceError(f"{where}: {vecs.shape[1]}-d vectors where the rows before are {self.dim}-d")
                yield Batch(f.name, start, _strings(b.column(0), f.name, start), unit_rows(vecs, where))
                start += b.num_rows


def _parquet_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.rglob("*.parquet")
                  if p.is_file() and not any(part.startswith((".", "_")) for part in p.relative_to(folder).parts))


def _parquet(path: Path) -> pq.ParquetFile:
    try:
        return pq.ParquetFile(path)
    except (OSError, pa.ArrowException) as e:
        raise ImportSourceError(f"{path.name} is not a readable Parquet file ({str(e).splitlines()[0]})") from e


def _column_of(schema: pa.Schema, names: tuple[str, ...], path: Path, what: str) -> str:
    found = next((n for n in names if n in schema.names), None)
    if found is None:
        raise ImportSourceError(f"{path.name} has no {what} column (looked for {', '.join(names)}; "
                                f"it has {', '.join(schema.names[:12]) or 'none'})")
    return found


def _fixed_width(t: pa.DataType, path: Path, dim: int) -> int:
    """The width a fixed-size list column declares (0 for a variable list: checked per batch)."""
    if not (pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t)) \
            or t.value_type not in _FLOATS:
        raise ImportSourceError(f"{path.name}: the vector column is {t}, not a list of floats")
    if pa.types.is_fixed_size_list(t):
        if dim and t.list_size != dim:
            raise ImportSourceError(f"{path.name} holds {t.list_size}-d vectors, the files before it {dim}-d")
        return t.list_size
    return dim


def _vector_rows(col: pa.Array, where: str) -> np.ndarray:
    """A list column -> float [n, d] (every row of one width, no nulls)."""
    import pyarrow.compute as pc

    if col.null_count:
        raise ImportSourceError(f"{where}: a row has no vector (null)")
    n = len(col)
    if n == 0:
        return np.zeros((0, col.type.list_size if pa.types.is_fixed_size_list(col.type) else 0), np.float32)
    lengths = pc.list_value_length(col)
    lo, hi = pc.min_max(lengths).values()
    if lo.as_py() != hi.as_py():
        raise ImportSourceError(f"{where}: vectors of different widths ({lo.as_py()} to {hi.as_py()})")
    values = pc.list_flatten(col)
    if values.null_count:
        raise ImportSourceError(f"{where}: a vector holds a null value")
    dtype = _FLOATS[values.type]
    flat = np.frombuffer(values.buffers()[1], dtype=dtype, count=len(values) + values.offset)[values.offset:]
    return flat.reshape(n, lo.as_py())


def _strings(col: pa.Array, part: str, start: int) -> list[str]:
    if not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
        raise ImportSourceError(f"{part}: the path column is {col.type}, not text")
    paths = col.to_pylist()
    for i, p in enumerate(paths):
        if not p or not p.strip():  # a path no file can have (a NUL, too long) is the caller's to refuse, row by row
            raise ImportSourceError(f"{part} row {start + i}: the path is missing or empty")
    return paths
