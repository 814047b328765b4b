"""Building an IVF index in parts: train once, add per part (on as many machines as there are
parts), merge on disk. This is how a distributed ingest hands its work over, and how a
collection too large for RAM is built on one machine.

    trained = train("ivfpq", sample, n_expected)        # once; ship trained.save(dir) to workers
    build_part(trained, ids_i, vecs_i, part_dir_i)       # per part, anywhere
    merge_parts(trained, [part_dir_0, ...], out_dir)     # lists merged into one on-disk file

The merge uses FAISS's OnDiskInvertedLists.merge_from_multiple (what faiss.contrib.ondisk does)
without its `shift_ids`, which in FAISS 1.15 shifts part i by the sizes of parts 1..i rather
than 0..i-1: parts are merged as they are and their positions shifted here, list by list.
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from .base import kind_class, load_index, training_sample
from .errors import IndexInputError, IndexKindError
from .ids import IdMap
from .fp16store import STORE_FILE, read_store, store_rows, write_store
from .ivf import LISTS_FILE, IVFIndex, quiet_stdout


def train(kind: str, sample: np.ndarray, n_expected: int, params: dict[str, Any] | None = None,
          gpu: bool | None = None, seed: int = 0) -> IVFIndex:
    """An empty IVF index trained on `sample`, sized for `n_expected` vectors in all."""
    cls = kind_class(kind)
    if not issubclass(cls, IVFIndex):
        raise IndexKindError(f"only IVF kinds build in parts; {kind!r} is not one")
    sample = np.asarray(sample, np.float32)
    params = cls.resolve_params(n_expected, sample.shape[1], params)
    return cls.empty(sample.shape[1], params, training_sample(sample, cls.train_size(params), seed), gpu)


def build_part(trained: IVFIndex | str | Path, ids: np.ndarray, vecs: np.ndarray, path: str | Path) -> None:
    """Add one part's vectors to a copy of the trained index and save it at `path`."""
    trained = trained if isinstance(trained, IVFIndex) else load_index(trained)
    part = trained.empty_like()
    part.add(ids, vecs)
    part.save(path)


def merge_parts(trained: IVFIndex | str | Path, parts: list[str | Path], path: str | Path) -> None:
    """Merge saved parts into one index folder at `path` whose lists live in an on-disk file
    (opened memory-mapped; read into RAM only if the index is changed later). Positions follow
    the order of `parts`."""
    trained = trained if isinstance(trained, IVFIndex) else load_index(trained)
    loaded = [load_index(p, mmap=True) for p in parts]
    for p, part in zip(parts, loaded):
        if type(part) is not type(trained) or part.trained_id != trained.trained_id:
            raise IndexInputError(f"part {p} was not built from this trained index")
    ids = np.concatenate([np.asarray(part.idmap.ids) for part in loaded])
    live = ids[ids >= 0]
    if len(np.unique(live)) != len(live):
        raise IndexInputError("the parts share ids: each content id must be in one part only")

    path = Path(path)
    staging = path.parent / f".{path.name}.lists"
    staging.mkdir(parents=True)
    try:
        ivf_parts = [part.ivf for part in loaded]
        merged_lists = faiss.OnDiskInvertedLists(trained.ivf.nlist, trained.ivf.code_size, str(staging / LISTS_FILE))
        sources = faiss.InvertedListsPtrVector()
        for ivf in ivf_parts:
            sources.push_back(ivf.invlists)
        with quiet_stdout():
            total = merged_lists.merge_from_multiple(sources.data(), sources.size(), False)
        _shift_positions(merged_lists, ivf_parts, [part.idmap.n_positions for part in loaded])

        index = faiss.clone_index(trained.index)
        ivf = faiss.extract_index_ivf(index)
        ivf.replace_invlists(merged_lists, True)
        merged_lists.this.disown()
        ivf.ntotal = index.ntotal = total
        out = type(trained)(index, IdMap(ids), dict(trained.params), trained.dim)
        out.trained_id = trained.trained_id
        # The parts' fp16 rows, streamed from their mapped stores into one file (never all in RAM)
        write_store(staging / STORE_FILE, trained.dim, (store_rows(part.store) for part in loaded))
        out.store, out.store_files = read_store(staging / STORE_FILE, mmap=True), [staging / STORE_FILE]
        out.save(path)  # hard-links the lists file and the store into the folder
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _shift_positions(lists: faiss.OnDiskInvertedLists, parts: list[faiss.IndexIVF], sizes: list[int]) -> None:
    """Each list holds part 0's entries, then part 1's, ...: add each part's first position."""
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    if not offsets.any():
        return
    for lst in range(lists.nlist):
        counts = np.array([p.invlists.list_size(lst) for p in parts], np.int64)
        total = int(counts.sum())
        if not total:
            continue
        ptr = lists.get_ids(lst)
        faiss.rev_swig_ptr(ptr, total)[:] += np.repeat(offsets, counts)
        lists.release_ids(lst, ptr)
