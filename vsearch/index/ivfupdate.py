"""Updating a memory-mapped IVF index into a new index folder without reading it into memory.

`VectorIndex.add` on a mapped index reads its lists and id map into memory first (what any
change of a FAISS index needs): at 10M vectors of ivfsq8, 2.6 GB of lists for 10k new vectors.
`update_into` instead
- encodes the new vectors into a small delta (empty lists with the same training),
- merges the mapped lists and the delta into a new on-disk lists file (streamed, list by list:
  its pages are file pages, not the process's memory), and takes the removed positions out of
  that new file,
- keeps the fp16 store's segment files (hard links) and writes the new rows as one more segment
  (fp16store.save_store),
so that memory holds the new vectors, the id map and the quantizer; the previous folder is only
read (its files stay as they are: generations share them).
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Iterable

import faiss
import numpy as np

from . import gpu as gpu_tools
from .base import ADD_CHUNK, check_vectors, load_index
from .errors import IndexInputError
from .fp16store import GrowingStore
from .ids import IdMap, bitmap
from .ivf import LISTS_FILE, IVFIndex, quiet_stdout


def update_into(index: IVFIndex, folder: Path, remove_ids: np.ndarray, add_ids: np.ndarray,
                chunks: Iterable[tuple[np.ndarray, np.ndarray]]) -> IVFIndex:
    """A new index folder at `folder` holding `index` (mapped) without `remove_ids` and with
    `add_ids`, whose vectors `chunks` yields as (ids, float32 vectors) blocks, each id of
    `add_ids` once, in any order; returns it opened memory-mapped."""
    if not index.mmapped or index.store_files is None:
        raise IndexInputError("update_into changes a memory-mapped index only")
    source = index._source
    idmap = IdMap(np.load(source / "ids.npy"))
    gone = idmap.positions(np.asarray(remove_ids, np.int64))
    add_ids = np.sort(np.asarray(add_ids, np.int64))
    idmap.check_new(add_ids)
    first = idmap.n_positions
    idmap.append(add_ids)  # positions follow id order, as VectorIndex.add gives them

    flags = type(index)._read_flags(source, True)
    merged_index = type(index)._read(source / "index.faiss", flags)  # lists mapped
    delta = type(index)._read(source / "index.faiss", flags)
    dlists = faiss.extract_index_ivf(delta)
    empty = faiss.ArrayInvertedLists(dlists.nlist, dlists.code_size)
    dlists.replace_invlists(empty, True)
    empty.this.disown()
    dlists.ntotal = delta.ntotal = 0
    store = GrowingStore(*((index.store.bases, index.store.files) if isinstance(index.store, GrowingStore)
                           else ([index.store], index.store_files)))
    rows_new = np.empty((len(add_ids), store.code_size), np.uint8)  # the new fp16 rows (512 B each at d=256)
    added = 0
    for ids, vecs in chunks:
        ids, vecs = check_vectors(ids, vecs, index.dim)
        order = np.argsort(ids, kind="stable")
        ids = ids[order]
        at = np.searchsorted(add_ids, ids)
        if (at >= len(add_ids)).any() or (add_ids[np.minimum(at, len(add_ids) - 1)] != ids).any():
            raise IndexInputError("the chunks hold ids that were not announced in add_ids")
        for s in range(0, len(ids), ADD_CHUNK):
            rows = order[s:s + ADD_CHUNK]
            vec = np.ascontiguousarray(vecs[rows], dtype=np.float32)
            gpu_tools.add_with_ids(delta, vec, first + at[s:s + ADD_CHUNK])
            rows_new[at[s:s + ADD_CHUNK]] = store.new.sa_encode(vec)
        added += len(ids)
    if added != len(add_ids):
        raise IndexInputError(f"the chunks held {added} of the {len(add_ids)} vectors announced")
    store.new.add_sa_codes(rows_new)  # in position order, whatever order the chunks came in

    staging = folder.parent / f".{folder.name}.lists"
    staging.mkdir(parents=True)
    try:
        ivf = faiss.extract_index_ivf(merged_index)
        lists = faiss.OnDiskInvertedLists(ivf.nlist, ivf.code_size, str(staging / LISTS_FILE))
        sources = faiss.InvertedListsPtrVector()
        sources.push_back(ivf.invlists)
        sources.push_back(dlists.invlists)
        with quiet_stdout():
            total = lists.merge_from_multiple(sources.data(), sources.size(), False)
        ivf.replace_invlists(lists, True)
        lists.this.disown()
        ivf.ntotal = merged_index.ntotal = total
        if len(gone):
            bits = bitmap(gone, idmap.n_positions)
            with quiet_stdout():
                ivf.remove_ids(faiss.IDSelectorBitmap(idmap.n_positions, faiss.swig_ptr(bits)))
            merged_index.ntotal = ivf.ntotal
            idmap.kill(gone)
        out = type(index)(merged_index, idmap, dict(index.params), index.dim)
        out.store, out.trained_id = store, index.trained_id
        out.save(folder)  # links the new lists file and the old store segments into the folder
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return load_index(folder, mmap=True)
