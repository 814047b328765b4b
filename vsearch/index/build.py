"""Building an index from vectors that arrive a chunk at a time (index/chunks.py): trained on a
sample, then filled chunk by chunk, so that memory holds the index and one chunk, never every
vector.

IVF kinds go further when a work folder is given and the collection is bigger than one part:
they fill parts of PART_BYTES in memory, save each, and merge them on disk (parts.py), so the
lists and the fp16 store of the result are files, memory-mapped, and the process holds at most
one part. The merged index lives in the work folder until a commit hard-links it into place.
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np

from .base import VectorIndex, kind_class, load_index
from .chunks import CHUNK_ROWS, VectorChunks, sample
from .ivf import IVFIndex

PART_BYTES = 512 << 20  # what one IVF part may hold in memory (codes, labels, fp16 rows, ids)


def part_rows(cls: type[IVFIndex], dim: int, params: dict[str, Any]) -> int:
    """Vectors per part: PART_BYTES over what a vector costs in a part (at d = 256: ivfpq ~870k,
    ivfsq8 ~660k, ivf ~340k)."""
    per_vector = cls.code_bytes(dim, params) + 16 + 2 * dim + 8
    return max(CHUNK_ROWS, PART_BYTES // per_vector)


def build_from_chunks(kind: str, params: dict[str, Any], source: VectorChunks, workdir: Path | None = None,
                      gpu: bool | None = None, seed: int = 0) -> VectorIndex:
    """An index of `kind` (params resolved already) over every vector of `source`. With `workdir`
    (a folder on the collection's filesystem), an IVF index of more than one part is built in
    parts merged on disk and comes back memory-mapped from `workdir`/merged."""
    cls = kind_class(kind)
    size = cls.train_size(params)
    index = cls.empty(source.dim, params, sample(source, size, seed) if size else None, gpu)
    if not isinstance(index, IVFIndex) or workdir is None or source.n <= part_rows(cls, source.dim, params):
        for ids, vecs in source.chunks():
            index.add(ids, vecs)
        return index
    return _in_parts(index, source, Path(workdir))


def _in_parts(trained: IVFIndex, source: VectorChunks, workdir: Path) -> VectorIndex:
    from .parts import merge_parts

    limit = part_rows(type(trained), trained.dim, trained.params)
    workdir.mkdir(parents=True, exist_ok=True)
    parts: list[Path] = []
    part = trained.empty_like()

    def flush() -> None:
        nonlocal part
        if part.idmap.n_positions:
            parts.append(workdir / f"part-{len(parts):05d}")
            part.save(parts[-1])
            part = trained.empty_like()

    for ids, vecs in source.chunks():
        part.add(ids, vecs)
        if part.idmap.n_positions >= limit:
            flush()
    flush()
    merged = workdir / "merged"
    merge_parts(trained, parts, merged)
    for p in parts:
        shutil.rmtree(p, ignore_errors=True)
    return load_index(merged, mmap=True)

