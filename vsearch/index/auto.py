"""`auto`: choose an index kind for a collection, tune it, and prove it.

The choice follows autofaiss's reasoning (exact while a scan is fast enough; a graph while the
full vectors and links fit the memory budget; inverted lists beyond, compressed as much as the
budget demands), then differs in one way: instead of a speed target it tunes the search knob
(nprobe / ef_search) to the smallest value that reaches a recall target, and the recall is
measured against exact search with text queries (cross-modal: the hard case) as well as image
queries, on queries held out from the tuning. The result is a record for the manifest.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from . import gpu as gpu_tools
from .base import KINDS, VectorIndex, check_vectors, kind_class
from .build import build_from_chunks
from .chunks import ArrayChunks, VectorChunks, sample
from .errors import IndexKindError
from .ids import IdMap
from .ivf import IVFIndex
from .ivfpq import PQ_BYTES
from .measure import GroundTruth, latency_ms

TARGET_RECALL = 0.95
LATENCY_MS = 10.0
FLAT_SCAN_BYTES_PER_MS = 8e6   # a single query scans ~8 GB/s on the 2-core reference machine (1M x 256 d: 124 ms)
HNSW_MAX = 2_000_000           # beyond, a graph takes hours to build on a few cores: IVF instead
DEAD_MAX = 0.2                 # removed entries beyond this share call for a rebuild
IVF_GROWTH = 4.0               # lists trained for n vectors serve up to 4n before retraining
QUERIES_PER_SET = 400          # per query type; half tune, half prove
SYNTHETIC_TEXT_COS = 0.6       # fallback "text" queries: sample vectors moved to this cosine
TUNE_MARGIN = 0.02             # tune to target + margin so that the target holds on unseen queries


def default_memory_budget() -> int:
    """A quarter of this machine's RAM (the index shares it with the app and the OS)."""
    try:
        total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        total = 8 << 30
    return max(256 << 20, total // 4)


@dataclass
class Plan:
    kind: str
    params: dict[str, Any]
    reason: str
    bytes: int


def plan(n: int, dim: int, max_memory: int | None = None, latency_ms: float = LATENCY_MS,
         requested: str = "auto", params: dict[str, Any] | None = None) -> Plan:
    """The kind and parameters for n vectors of dim under a memory budget (bytes) and latency
    target; `requested` other than auto is honoured (and validated) as is."""
    budget = max_memory or default_memory_budget()
    if requested != "auto":
        cls = kind_class(requested)
        p = cls.resolve_params(n, dim, params)
        return Plan(requested, p, "requested", cls.estimate_bytes(n, dim, p))

    def fits(kind: str, **over: Any) -> Plan | None:
        cls = KINDS[kind]
        p = cls.resolve_params(n, dim, over or None)
        size = cls.estimate_bytes(n, dim, p)
        return Plan(kind, p, "", size) if size <= budget else None

    scan_ms = 4 * n * dim / FLAT_SCAN_BYTES_PER_MS
    mb = budget / 1e6
    if scan_ms <= latency_ms and (p := fits("flat")):
        p.reason = f"exact: a scan of {n} vectors takes ~{scan_ms:.1f} ms <= {latency_ms:g} ms"
        return p
    if n <= HNSW_MAX and (p := fits("hnsw")):
        p.reason = f"graph: {p.bytes / 1e6:.0f} MB of vectors and links fit the {mb:.0f} MB budget"
        return p
    for kind, what in (("ivf", "full vectors"), ("ivfsq8", "8-bit codes")):
        if p := fits(kind):
            p.reason = f"inverted lists of {what}: {p.bytes / 1e6:.0f} MB fit the {mb:.0f} MB budget"
            return p
    for m in sorted((m for m in PQ_BYTES if dim % m == 0 and m <= dim // 4), reverse=True):
        if p := fits("ivfpq", m=m):
            p.reason = (f"product codes of {m} bytes: {p.bytes / 1e6:.0f} MB fit the {mb:.0f} MB budget "
                        f"(full vectors would need {4 * n * dim / 1e6:.0f} MB)")
            return p
    smallest = KINDS["ivfpq"].estimate_bytes(n, dim, KINDS["ivfpq"].resolve_params(n, dim, {"m": min(PQ_BYTES)}))
    raise IndexKindError(f"no index kind fits {n} vectors of dimension {dim} in {mb:.0f} MB; "
                         f"the smallest (ivfpq m=8) needs {smallest / 1e6:.0f} MB: raise --max-index-memory")


def synthetic_queries(base: np.ndarray, cos: float, seed: int) -> np.ndarray:
    """`base` vectors rotated away from themselves to cosine `cos` (stand-ins for queries of
    another modality, which sit no closer to their best match than that)."""
    rng = np.random.default_rng(seed)
    base = np.array(base, np.float32)
    base /= np.linalg.norm(base, axis=1, keepdims=True)
    noise = rng.standard_normal(base.shape).astype(np.float32)
    noise -= (noise * base).sum(1, keepdims=True) * base
    noise /= np.linalg.norm(noise, axis=1, keepdims=True)
    return cos * base + np.sqrt(1 - cos * cos) * noise


def _query_set(given: np.ndarray | None, source: VectorChunks, cos: float, seed: int, label: str) -> tuple[np.ndarray, str]:
    if given is not None and len(given):
        q = np.asarray(given, np.float32)
        if len(q) > QUERIES_PER_SET:
            q = q[np.sort(np.random.default_rng(seed).choice(len(q), QUERIES_PER_SET, replace=False))]
        return q, "given"
    base = sample(source, QUERIES_PER_SET, seed)
    return synthetic_queries(base, cos, seed), f"synthetic: sample vectors moved to cosine {cos} ({label})"


def choose_and_build(ids: np.ndarray, vecs: np.ndarray, requested: str = "auto", params: dict[str, Any] | None = None,
                     max_memory: int | None = None, latency_ms: float = LATENCY_MS, target_recall: float = TARGET_RECALL,
                     text_queries: np.ndarray | None = None, image_queries: np.ndarray | None = None, k: int = 10,
                     gpu: bool | None = None, seed: int = 0) -> tuple[VectorIndex, dict[str, Any]]:
    """`choose_and_build_chunks` over vectors held in memory."""
    ids, vecs = check_vectors(ids, vecs)
    IdMap().check_new(ids)
    return choose_and_build_chunks(ArrayChunks(ids, vecs), requested, params, max_memory, latency_ms, target_recall,
                                   text_queries, image_queries, k, gpu, seed)


def choose_and_build_chunks(source: VectorChunks, requested: str = "auto", params: dict[str, Any] | None = None,
                            max_memory: int | None = None, latency_ms: float = LATENCY_MS,
                            target_recall: float = TARGET_RECALL, text_queries: np.ndarray | None = None,
                            image_queries: np.ndarray | None = None, k: int = 10, gpu: bool | None = None,
                            seed: int = 0, workdir: Path | None = None,
                            build=build_from_chunks) -> tuple[VectorIndex, dict[str, Any]]:
    """Choose (or take the requested kind), build, tune the search knob to `target_recall` on
    half the queries, measure recall@k on the other half and latency; returns the index and a
    record for the manifest. The vectors come a chunk at a time (build.py): memory holds the
    index and a chunk; with `workdir`, a large IVF index is built in parts merged on disk there.

    text_queries: vectors of captions in the collection's model (e.g. the model's hubness bank
    of caption vectors). Without them, sample vectors moved to cosine 0.6 stand in, and the
    record says so. image_queries: without them, sample vectors moved to cosine 0.9."""
    t0 = time.perf_counter()
    n, dim = source.n, source.dim
    budget = max_memory or default_memory_budget()
    choice = plan(n, dim, budget, latency_ms, requested, params)
    index = build(choice.kind, choice.params, source, workdir, gpu, seed)
    cls = type(index)
    build_s = time.perf_counter() - t0
    if n == 0:  # nothing to measure yet
        return index, {"requested": requested, "kind": index.kind, "params": dict(index.params), "vectors": 0,
                       "dim": dim, "chosen": choice.reason, f"recall_at_{k}": None, "target_recall": target_recall,
                       "target_met": None, "memory": {"index_bytes": index.memory_bytes(), "budget": budget},
                       "faiss": faiss.__version__}

    t1 = time.perf_counter()
    text, text_src = _query_set(text_queries, source, SYNTHETIC_TEXT_COS, seed + 1, "no text queries given")
    image, image_src = _query_set(image_queries, source, 0.9, seed + 2, "no image queries given")
    queries = {"text": text, "image": image}
    prove_q = {t: q[len(q) // 2:] for t, q in queries.items()}  # half tunes, the other half proves
    tried: dict[str, list[float]] = {}
    if cls.exact:  # nothing to tune or measure: an exact search is its own ground truth
        recall = {t: 1.0 for t in queries}
    else:
        both = GroundTruth.of_chunks(np.concatenate([text, image]), source, k, index.vectors)  # one pass for both
        truth = {"text": both.subset(slice(0, len(text))), "image": both.subset(slice(len(text), None))}
        given_knob = cls.knob is not None and params is not None and cls.knob in params
        if cls.knob and not given_knob:
            tune = {t: g.subset(slice(0, len(g.queries) // 2)) for t, g in truth.items()}
            tried = _tune(index, tune, min(1.0, target_recall + TUNE_MARGIN), k)
        prove = {t: g.subset(slice(len(g.queries) // 2, None)) for t, g in truth.items()}
        recall = {t: g.recall(index.search(g.queries, k)[1]) for t, g in prove.items()}
    lat = latency_ms_of(index, prove_q["text"][:100], k)
    record = {
        "requested": requested, "kind": index.kind, "params": dict(index.params), "vectors": n, "dim": dim,
        "chosen": choice.reason, f"recall_at_{k}": recall, "target_recall": target_recall,
        "target_met": min(recall.values()) >= target_recall,
        "queries": {"text": len(prove_q["text"]), "text_source": text_src,
                    "image": len(prove_q["image"]), "image_source": image_src},
        "latency_ms": {"p50": round(float(np.median(lat)), 3), "p95": round(float(np.percentile(lat, 95)), 3),
                       "target": latency_ms},
        "memory": {"index_bytes": index.memory_bytes(), "budget": budget},
        "tuning": {"knob": cls.knob, "tried": tried} if tried else None,
        "build_s": round(build_s, 1), "tune_s": round(time.perf_counter() - t1, 1),
        "gpu": gpu_tools.wanted(gpu), "faiss": faiss.__version__,
    }
    return index, record


def latency_ms_of(index: VectorIndex, queries: np.ndarray, k: int) -> np.ndarray:
    index.search(queries[:1], k)  # warm
    return latency_ms(index, queries, k)


def _tune(index: VectorIndex, truth: dict[str, GroundTruth], target: float, k: int) -> dict[str, list[float]]:
    """Smallest knob value whose recall on every query type reaches `target` (binary search over
    the kind's ladder; recall grows with the knob). Compressed kinds whose recall stalls below
    the target re-rank a deeper candidate list (k_factor x2, up to 3 times). Leaves the index
    set to the result, or to the best seen when the target is out of reach."""
    tried: dict[str, list[float]] = {}
    while True:
        met = _tune_knob(index, truth, target, k, tried)
        kf = index.params.get("k_factor", 1)
        if met or kf == 1 or kf >= 64 or len(tried) > 40:
            return tried
        index.set_search_params(k_factor=kf * 2)


def _tune_knob(index: VectorIndex, truth: dict[str, GroundTruth], target: float, k: int,
               tried: dict[str, list[float]]) -> bool:
    values = type(index).knob_values(index.params)
    kf = index.params.get("k_factor", 1)
    key = (lambda v: f"{v}" if kf == 1 else f"{v},k_factor={kf}")

    def worst(i: int) -> float:
        if key(values[i]) not in tried:
            index.set_search_params(**{index.knob: values[i]})
            tried[key(values[i])] = [round(g.recall(index.search(g.queries, k)[1]), 4) for g in truth.values()]
        return min(tried[key(values[i])])

    lo, hi = 0, len(values) - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if worst(mid) >= target:
            hi = mid
        else:
            lo = mid + 1
    met = worst(lo) >= target
    if not met:  # out of reach at this depth: the best value seen
        lo = max((i for i in range(len(values)) if key(values[i]) in tried), key=worst)
    index.set_search_params(**{index.knob: values[lo]})
    return met


def rebuild_due(index: VectorIndex, record: dict[str, Any] | None = None, max_memory: int | None = None) -> str | None:
    """Why the index should be rebuilt from the stored vectors now, or None: too many removed
    entries; IVF lists trained for far fewer vectors; or, for an `auto` collection, a size at
    which auto would choose another kind."""
    if index.dead_fraction > DEAD_MAX:
        return f"{index.dead_fraction:.0%} of the index's entries are removed vectors"
    return rebuild_due_at(index.kind, index.ntotal, index.dim, record, max_memory)


def rebuild_due_at(kind: str, live: int, dim: int, record: dict[str, Any] | None = None,
                   max_memory: int | None = None) -> str | None:
    """The reasons of `rebuild_due` that depend on the live count alone: what a writer checks
    before it changes an index (a collection that crosses auto's graph limit is rebuilt without
    reading its old graph into memory first)."""
    record = record or {}
    built_for = record.get("vectors")
    if issubclass(kind_class(kind), IVFIndex) and built_for and live > IVF_GROWTH * built_for:
        return f"inverted lists trained for {built_for} vectors now hold {live}"
    if record.get("requested") == "auto":
        budget = max_memory or (record.get("memory") or {}).get("budget")
        latency = (record.get("latency_ms") or {}).get("target", LATENCY_MS)
        now = plan(live, dim, budget, latency)
        if now.kind != kind:
            return f"auto now chooses {now.kind} for {live} vectors ({now.reason})"
    return None
