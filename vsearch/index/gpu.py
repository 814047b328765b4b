"""The GPU, where faiss-gpu and a CUDA device are present (the `[gpu]` extra): IVF k-means and
list assignment run there; the index itself stays a CPU index, so what is saved reads anywhere.
Without a GPU every function here is the plain CPU path."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import faiss
import numpy as np


def available() -> bool:
    return hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0


def wanted(gpu: bool | None) -> bool:
    """None means: use one if there is one."""
    return available() if gpu is None else bool(gpu) and available()


@contextmanager
def clustering(ivf: faiss.IndexIVF, dim: int, gpu: bool | None) -> Iterator[None]:
    """While training `ivf`, run the k-means assignments on all GPUs (the expensive part)."""
    if not wanted(gpu):
        yield
        return
    flat = faiss.IndexFlatIP(dim) if ivf.metric_type == faiss.METRIC_INNER_PRODUCT else faiss.IndexFlatL2(dim)
    ivf.clustering_index = faiss.index_cpu_to_all_gpus(flat)
    try:
        yield
    finally:
        ivf.clustering_index = None


def add_with_ids(index: faiss.Index, vecs: np.ndarray, ids: np.ndarray) -> None:
    """index.add_with_ids, with the coarse assignment computed on the GPU when there is one."""
    if not available():
        index.add_with_ids(vecs, ids)
        return
    ivf = faiss.extract_index_ivf(index)
    x = vecs
    if isinstance(index, faiss.IndexPreTransform):
        for i in range(index.chain.size()):
            x = index.chain.at(i).apply(x)
    centroids = ivf.quantizer.reconstruct_n(0, ivf.nlist)
    res = faiss.StandardGpuResources()
    _, assign = faiss.knn_gpu(res, x, centroids, 1, metric=ivf.metric_type)
    x = np.ascontiguousarray(x, dtype=np.float32)
    assign = np.ascontiguousarray(assign.ravel(), dtype=np.int64)
    ivf.add_core(len(x), faiss.swig_ptr(x), faiss.swig_ptr(ids), faiss.swig_ptr(assign))
    index.ntotal = ivf.ntotal
