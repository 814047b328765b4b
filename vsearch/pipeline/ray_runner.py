"""The Ray runner: the local runner's stages as a Ray Data job (`vsearch ingest DIR --engine ray`).

    plan (driver) -> read + hash + decode (CPU tasks, ray_stages.decode_block)
                  -> encode + write a vector shard (an actor pool, ray_stages.EncodeWriter:
                     one model load per actor, one GPU each when the cluster has GPUs)
                  -> rows and errors back to the driver -> commit (driver, under the lock)

The photos and the index home must be at the same paths on every node (a shared filesystem):
actors write shards straight into the collection's vectors/ folder, in its own format, so a
killed job keeps every finished batch and a re-run skips every id already in a shard — plan +
known ids, exactly as for the local runner. Without an address (and outside a `ray job submit`
job, which sets RAY_ADDRESS) a local Ray instance is started and stopped. Needs the `ray` extra.
"""
from __future__ import annotations

import contextlib
import logging
import os
import sys
import warnings
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import InvalidOptionError, VsearchError
from ..models.precision import DEFAULT_PRECISION
from ..progress import Reporter, report
from ..store.tables import CONTENT_META
from .config import IngestConfig, IngestSummary
from .decode import Decoded, default_workers
from .runner import IngestRun, ingest_run

# Host memory an encoder actor declares (the model's libraries, weights, a batch). Besides
# letting Ray count it, it keeps the decode tasks out of the actors: Ray Data fuses a task map
# into the actor map after it when their resource requests are equal, which would decode on the
# encoder's CPU (and, on a many-core node, on one core) instead of on every free CPU.
ENCODER_MEMORY = 2 << 30    # measured: ~1.5 GiB for align-lite on a CPU (Ray Data's memory report)
# CPU slots an encoder actor holds. Decode tasks take whole slots, so a node of c CPUs runs c-1 of
# them beside its encoder either way; but an encoder of a lost node is restarted on a survivor,
# and two encoders of one slot each would hold a 2-CPU node whole: the decode tasks they wait for
# (the lost node's, retried) would never be scheduled, and the job would wait forever (issue 25).
# At half a slot each, a node carries two encoders and still a decode task.
ENCODER_CPUS = 0.5
# A job that moves nothing for this long fails (Ray Data's no-progress guard, 30 min by default)
# instead of waiting on: when a lost node's work cannot be placed anywhere (no node left with a
# free CPU slot, or a lost GPU and no other), Ray waits for capacity forever. The finished shards
# are kept, so a rerun resumes. RAY_DATA_EXECUTION_NO_PROGRESS_TIMEOUT_S, when set, decides.
STALL_TIMEOUT_S = 600
STALL_ENV = "RAY_DATA_EXECUTION_NO_PROGRESS_TIMEOUT_S"
MAX_INPUT_BLOCKS = 10_000    # the file list goes to the cluster in at most this many blocks (driver objects)


@dataclass(frozen=True)
class RayOptions:
    address: str | None = None      # a running cluster ("auto", "ray://head:10001"); None: RAY_ADDRESS, else local
    num_cpus: int | None = None     # CPUs of a local instance (default: the decode workers + 1 for the encoder)
    encoders: int | None = None     # encoder actors (default: one per GPU, else one per node)
    files_per_task: int = 32        # files a decode task reads before handing them on

    def __post_init__(self) -> None:
        if self.num_cpus is not None and self.num_cpus < 2:
            raise InvalidOptionError(f"a local Ray instance needs at least 2 CPUs (decode + encode), got {self.num_cpus}")
        if self.encoders is not None and self.encoders < 1:
            raise InvalidOptionError(f"encoders must be at least 1 (got {self.encoders})")
        if self.files_per_task < 1:
            raise InvalidOptionError(f"files_per_task must be at least 1 (got {self.files_per_task})")


def _import_ray():
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as e:
        raise InvalidOptionError("--engine ray needs Ray: pip install 'vsearch[ray]'") from e
    return ray


def ingest(cfg: IngestConfig, options: RayOptions = RayOptions(), progress: Reporter | None = None) -> IngestSummary:
    """Ingest `cfg.root` into its collection with Ray; the same collection the local runner makes."""
    if cfg.ocr:
        raise InvalidOptionError("--ocr runs with the local engine only (its OCR gate and engine run in the decode "
                                 "workers); ingest without --engine ray, or without --ocr")
    ray = _import_ray()
    # the driver never encodes: it opens the model on the CPU
    with ingest_run(cfg, device="cpu", absolute_home=True, progress=progress) as run:
        if run.sampling is not None:
            raise InvalidOptionError(f"videos are read by the local engine: ingest {cfg.root} without --engine ray "
                                     f"(this collection reads videos{'' if cfg.videos else ' since an earlier --videos run'})")
        encoded: dict[int, dict] = {}
        if run.plan.todo:
            # Ray forwards its workers' and raylets' messages ("(raylet) Raylet is terminated" when a
            # node dies) to the driver's stdout, where they would break a --json answer: stderr it is.
            with contextlib.redirect_stdout(sys.stderr):
                started = _start(ray, options, cfg)
                try:
                    run.tx.lap("startup")
                    rows = _run_stages(ray, run, options)
                finally:
                    if started:
                        ray.shutdown()
            run.tx.lap("stages")  # read, decode, encode, write shards; actors' startup and Ray's shutdown
            from .ray_stages import decoded_of

            for entry, row in zip(run.plan.todo, rows):
                run.results.add(entry, decoded_of(row))
            encoded = {row["id"]: {k: row[k] for k in ("id", "digest", *CONTENT_META)} for row in rows if row["encoded"]}
        for entry in run.orphans():  # a companion whose still could not be read: the local engine reads it alone
            run.results.add(entry, Decoded("", 0, error="its still could not be read; the local engine reads it on its "
                                                         "own (vsearch ingest without --engine ray)"))
        run.commit(encoded, len(run.known) + run.summary.encoded)
        run.tx.export_text()
    return run.summary


def _start(ray, options: RayOptions, cfg: IngestConfig) -> bool:
    """Connect to the cluster, or start a local instance; True when this call started Ray."""
    _quiet_data()
    if ray.is_initialized():
        return False
    quiet = {"include_dashboard": False, "logging_level": logging.WARNING, "log_to_driver": True}
    try:
        if options.address or os.environ.get("RAY_ADDRESS"):
            ray.init(address=options.address, logging_level=logging.WARNING)
        else:
            workers = default_workers() if cfg.workers is None else cfg.workers
            ray.init(num_cpus=options.num_cpus or max(1, workers) + 1, **quiet)
    except ConnectionError as e:
        raise VsearchError(f"cannot reach the Ray cluster at {options.address or os.environ.get('RAY_ADDRESS')}: {e}") from e
    return True


def _quiet_data() -> None:
    from ray.data import DataContext

    ctx = DataContext.get_current()
    ctx.raise_original_map_exception = True  # a worker's VsearchError reaches the caller as itself
    ctx.enable_progress_bars = False  # progress goes through the caller's reporter
    ctx.print_on_execution_start = False
    ctx.enable_auto_log_stats = False
    if STALL_ENV not in os.environ:
        ctx.execution_no_progress_timeout_s = STALL_TIMEOUT_S
    logging.getLogger("ray.data").setLevel(logging.WARNING)


def _encoder_pool(ray, options: RayOptions) -> tuple[int, float, bool]:
    """(actors, GPUs per actor, spread): one actor per GPU, else one CPU actor per node (its ONNX
    Runtime session uses the node's cores; decode tasks take the other CPU slots), spread over
    the nodes when there are several."""
    resources = ray.cluster_resources()
    gpus = int(resources.get("GPU", 0))
    cpus = int(resources.get("CPU", 0))
    if cpus < 2:
        raise VsearchError(f"the Ray cluster has {cpus} CPU(s); ingest needs at least 2 (decode tasks + an encoder)")
    if gpus:
        return options.encoders or gpus, 1.0, False
    nodes = sum(1 for n in ray.nodes() if n.get("Alive") and n.get("Resources", {}).get("CPU", 0) > 0)
    return min(options.encoders or max(1, nodes), cpus - 1), 0.0, nodes > 1


def _run_stages(ray, run: IngestRun, options: RayOptions) -> list[dict]:
    """Decode on CPU tasks, encode + write on the actor pool; the result rows in plan order."""
    import ray.data

    from .ray_stages import EncodeWriter, decode_block

    plan, model, cfg, reranker, summary, progress = run.plan, run.tx.model, run.cfg, run.opened.reranker, run.summary, run.progress
    actors, gpus, spread = _encoder_pool(ray, options)
    batch_size = cfg.batch_size or (256 if gpus else 32)
    backend = cfg.backend
    reduced = model.precision != DEFAULT_PRECISION
    if reduced or (not gpus and model.wants_onnx(backend) and not model.exports.image_ready(reranker)):
        # Export (and quantise) once here, before the actors start: those on this node find it in
        # the cache instead of each making it (an actor on another node makes its own).
        try:
            model.exports.image_graph(reranker)
        except Exception:  # each actor tries again, then falls back to PyTorch with a warning
            if reduced:  # no fallback at reduced precision: say why now, not from every actor
                raise
    paths = pa.table({"idx": pa.array(range(len(plan.todo)), pa.int64()),
                      "path": pa.array([os.fsencode(plan.root / e.path) for e in plan.todo], pa.binary())})
    per_block = max(options.files_per_task, -(-len(paths) // MAX_INPUT_BLOCKS))
    blocks = [paths.slice(i, per_block) for i in range(0, len(paths), per_block)]
    decoded = ray.data.from_arrow(blocks).map_batches(
        decode_block, batch_size=options.files_per_task, batch_format="pyarrow", num_cpus=1,
        fn_kwargs={"root": str(plan.root), "preprocess": model.preprocess, "known_ref": ray.put(run.known),
                   "unread_ref": ray.put(np.array(sorted(plan.unread), np.int64)) if plan.unread else None},
    )
    with warnings.catch_warnings():
        # Ray Data has no named parameter for a scheduling strategy yet (ray_remote_args are
        # deprecated); SPREAD is only passed for CPU actors on several nodes.
        warnings.simplefilter("ignore", DeprecationWarning)
        ds = decoded.map_batches(
            EncodeWriter, batch_size=batch_size, batch_format="pyarrow", num_cpus=ENCODER_CPUS, num_gpus=gpus or None,
            memory=ENCODER_MEMORY,
            compute=ray.data.ActorPoolStrategy(size=actors),
            fn_constructor_kwargs={"folder": str(run.tx.store.folder), "record": model.record, "size": model.preprocess.size,
                                   "device": "cuda" if gpus else "cpu", "backend": backend,
                                   "reranker": str(cfg.reranker) if cfg.reranker else None,
                                   "rerank_tokens": cfg.rerank_tokens,
                                   "tokens_fingerprint": reranker.fingerprint if reranker else None},
            **({"scheduling_strategy": "SPREAD"} if spread else {}),
        )
    task = f"ingest {summary.collection}"
    report(progress, task, 0, len(plan.todo), "img")
    parts, done = [], 0
    try:
        for part in ds.iter_batches(batch_size=None, batch_format="pyarrow"):
            parts.append(part)
            done += len(part)
            report(progress, task, done, len(plan.todo), "img")
    except Exception as e:
        raise _unwrap(e) from e
    table = pa.concat_tables(parts).sort_by("idx") if parts else None
    if table is None or len(table) != len(plan.todo) or table.column("idx").to_pylist() != list(range(len(plan.todo))):
        raise VsearchError(f"the Ray job returned {0 if table is None else len(table)} results for {len(plan.todo)} files; "
                           "nothing was committed (run it again: finished shards are kept)")
    summary.encoded = int(pc.sum(table.column("encoded")).as_py() or 0)
    encoded_on = table.column("encoded_on").filter(table.column("encoded"))
    summary.nodes = {"decoded": _counts(table.column("decoded_on")), "encoded": _counts(encoded_on)}
    return table.to_pylist()


def _counts(column) -> dict[str, int]:
    """Files (or images) per Ray node id."""
    return {v["values"]: v["counts"] for v in pc.value_counts(column).to_pylist()}


def _unwrap(e: Exception) -> Exception:
    """A vsearch error raised on a worker, as itself; anything else as one VsearchError line."""
    from ray.data.exceptions import ExecutionTimeoutError

    cause: BaseException = e
    while True:
        if isinstance(cause, ExecutionTimeoutError):
            stalled = str(cause).split("\n", 1)[0]
            return VsearchError(f"the Ray job stopped: {stalled} A lost node whose work no other node can take? "
                                "(`ray status` shows what waits for which resources.) Nothing was committed; "
                                "finished shards are kept: run it again to resume")
        if isinstance(cause, VsearchError) and type(cause).__module__.startswith("vsearch"):
            # Ray Data appends its retry advice to the message: keep the first line, ours
            first = str(cause).split("\n", 1)[0]
            return type(cause)(first) if type(cause).__init__ is Exception.__init__ else cause
        inner = getattr(cause, "cause", None)  # a RayTaskError's original exception
        if not isinstance(inner, BaseException):
            break
        cause = inner
    lines = [ln for ln in str(cause).splitlines() if ln.strip()]
    return VsearchError(f"the Ray job failed: {type(cause).__name__}: {lines[-1] if lines else ''} "
                        "(finished shards are kept: run it again to resume)")
