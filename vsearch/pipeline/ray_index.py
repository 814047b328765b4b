"""A collection's index built as a distributed job on a Ray cluster: docs/SCALING.md's plan for
collections that outgrow one machine, as code.

    driver  draws a sample of the live vectors from the shards, trains the empty IVF index once
            and saves it in a work folder inside the collection (`.tmp-build-*`: the shared
            filesystem every node sees, cleared by the next writer if the job dies)
    tasks   one per part: a group of shards holding about one part of live rows (build.py
            `part_rows`), read a row group at a time, added to a copy of the trained index, saved
            as a part folder (atomically: a task retried after its node died finds it done)
    driver  merges the parts on disk (index/parts.py): lists and fp16 store become files,
            memory-mapped; auto then tunes and measures the result as after a local build

Positions follow the order of the parts, so no task needs another's count. Kinds that do not
build in parts (flat, hnsw: chosen only while a collection fits one machine's memory), and
collections of one part, are built on the driver as a local build would be.
"""
from __future__ import annotations

import contextlib
import logging
import os
import shutil
import sys
import uuid
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from ..atomic import TMP_PREFIX, atomic_folder
from ..errors import InvalidOptionError, VsearchError
from ..index import VectorIndex, kind_class, load_index
from ..index.auto import choose_and_build_chunks
from ..index.build import build_from_chunks, part_rows
from ..index.chunks import sample
from ..index.ivf import IVFIndex
from ..index.parts import merge_parts
from ..store.collection import CollectionStore
from ..store.vectors import ShardChunks, VectorStore


def fill_part(folder: str, dim: int, plan: list[tuple[str, np.ndarray]], trained: str, out: str) -> tuple[str, int, str]:
    """On a worker: the live rows of `plan`'s shards added to a copy of the trained index and
    saved at `out`; (out, vectors, node id). Idempotent: a part already saved is kept."""
    import ray

    node = ray.get_runtime_context().get_node_id()
    path = Path(out)
    if (path / "meta.json").is_file():
        return out, load_index(path, mmap=True).ntotal, node
    part = load_index(trained).empty_like()
    for ids, vecs in ShardChunks(VectorStore(Path(folder), dim), [(Path(s), m) for s, m in plan]).chunks():
        part.add(ids, vecs)
    atomic_folder(path, part.save, point="index-part")
    return out, part.ntotal, node


def groups(plan: list[tuple[Path, np.ndarray]], rows: int) -> list[list[tuple[Path, np.ndarray]]]:
    """Consecutive shards gathered until each group holds about `rows` live rows; a shard holding
    more (an import writes large ones) is split by its rows, so every node gets parts to fill."""
    out: list[list[tuple[Path, np.ndarray]]] = [[]]
    held = 0
    for shard, mask in plan:
        live = np.flatnonzero(mask)
        while len(live):
            if held >= rows:
                out.append([])
                held = 0
            take, live = live[:rows - held], live[rows - held:]
            piece = np.zeros_like(mask)
            piece[take] = True
            out[-1].append((shard, piece))
            held += len(take)
    return [g for g in out if g]


class RayBuild:
    """The `build` of `choose_and_build_chunks` on a Ray cluster (already connected); `nodes`
    says where each part was filled."""

    def __init__(self, ray, store: CollectionStore):
        self.ray, self.store = ray, store
        self.nodes: dict[str, int] = {}

    def __call__(self, kind: str, params: dict[str, Any], source: ShardChunks, workdir: Path | None,
                 gpu: bool | None = None, seed: int = 0) -> VectorIndex:
        cls = kind_class(kind)
        rows = part_rows(cls, source.dim, params) if issubclass(cls, IVFIndex) else 0
        if not rows or source.n <= rows or workdir is None:
            return build_from_chunks(kind, params, source, workdir, gpu, seed)
        trained = cls.empty(source.dim, params, sample(source, cls.train_size(params), seed), gpu)
        workdir.mkdir(parents=True, exist_ok=True)
        trained.save(workdir / "trained")
        task = self.ray.remote(num_cpus=1, max_retries=3, scheduling_strategy="SPREAD")(fill_part)
        jobs = [task.remote(str(self.store.folder / "vectors"), source.dim, [(str(s), m) for s, m in group],
                            str(workdir / "trained"), str(workdir / f"part-{i:05d}"))
                for i, group in enumerate(groups(source.plan, rows))]
        done = self.ray.get(jobs)
        for _, n, node in done:
            self.nodes[node] = self.nodes.get(node, 0) + n
        parts = [Path(p) for p, _, _ in done]
        merge_parts(trained, parts, workdir / "merged")
        for p in parts:
            shutil.rmtree(p, ignore_errors=True)
        return load_index(workdir / "merged", mmap=True)


def build_on_ray(ray, store: CollectionStore, live_ids: np.ndarray, dim: int, requested: str = "auto",
                 max_memory: int | None = None, hubness=None) -> tuple[VectorIndex, dict[str, Any], Path]:
    """The index over the collection's live vectors, its parts filled on the cluster: (index,
    auto's record with `nodes`: vectors added per node, the work folder the index maps — the
    caller commits the index, then removes the folder)."""
    workdir = store.folder / f"{TMP_PREFIX}build-{uuid.uuid4().hex[:8]}"
    builder = RayBuild(ray, store)
    try:
        index, record = choose_and_build_chunks(
            store.vectors(dim).chunks(live_ids), requested, max_memory=max_memory,
            text_queries=None if hubness is None else hubness.texts,
            image_queries=None if hubness is None else hubness.images, workdir=workdir, build=builder)
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    return index, {**record, "nodes": builder.nodes}, workdir


@contextlib.contextmanager
def ray_build(store: CollectionStore, address: str | None = None) -> Iterator[RayBuild]:
    """The distributed build for `vsearch reindex --engine ray`: connected to the cluster at
    `address` (default $RAY_ADDRESS, else a local Ray instance on this machine's cores), which is
    shut down afterwards if this call started it."""
    try:
        import ray
    except ImportError as e:
        raise InvalidOptionError("--engine ray needs Ray: pip install 'vsearch[ray]'") from e
    started = False
    # Ray forwards its nodes' messages to the driver's stdout, where they would break a --json answer.
    with contextlib.redirect_stdout(sys.stderr):
        if not ray.is_initialized():
            try:
                if address or os.environ.get("RAY_ADDRESS"):
                    ray.init(address=address, logging_level=logging.WARNING)
                else:
                    ray.init(num_cpus=os.cpu_count() or 1, include_dashboard=False, logging_level=logging.WARNING)
            except ConnectionError as e:
                raise VsearchError(f"cannot reach the Ray cluster at {address or os.environ.get('RAY_ADDRESS')}: {e}") from e
            started = True
        try:
            yield RayBuild(ray, store)
        finally:
            if started:
                ray.shutdown()
