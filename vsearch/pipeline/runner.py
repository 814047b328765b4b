"""What both ingest runners (pipeline/local.py, pipeline/ray_runner.py) do around their stages,
in one writer transaction (pipeline/transaction.py):

    open (model, repair, shards, reranker: opening.py) -> plan (scan + diff: plan.py)
      -> the runner's stages: read, decode, encode, write shards (they fill `results`)
      -> commit: results settled, the images and errors tables (commit.py), the derived steps
      -> compact -> export the text graph (the runner calls `commit`, then `tx.export_text()`)
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import NothingIngestedError
from ..progress import Reporter
from ..store.collection import CollectionStore, now_iso
from ..imaging.video import Sampling
from ..store.home import collection_folder, index_home
from .commit import errors_table, images_table
from .config import IngestConfig, IngestSummary, video_sampling
from .ignore import describe
from .opening import Opened, open_for_ingest
from .plan import Plan, make_plan
from .results import Results
from .transaction import Clock, Transaction, transaction


@dataclass
class IngestRun:
    """One ingest as its stages see it."""
    tx: Transaction
    cfg: IngestConfig
    opened: Opened
    plan: Plan
    known: np.ndarray          # ids stored in the shards when the run began
    results: Results
    summary: IngestSummary
    progress: Reporter | None
    sampling: Sampling | None = None  # how videos are read; None: they are not

    def orphans(self) -> list:
        """After the planned files are read: record the companions under their stills; those whose
        still could not be read are returned to be read on their own (or counted as not ingested)."""
        out = []
        for entry in self.results.add_companions():
            why = self.plan.not_read(entry)
            if why is None:
                out.append(entry)
            else:
                self.plan.skipped[why] += 1
        return out

    def commit(self, encoded: dict[int, dict], stored: int) -> None:
        """After the stages, under the lock: settle the results, commit (the unchanged rows carried
        over in Arrow, content rows from this run's `encoded`), then compact when due. `stored`:
        vector rows now in the shards."""
        tx, plan, results, summary = self.tx, self.plan, self.results, self.summary
        results.settle(summary)
        tx.lap("commit")
        # the shards first: a crash before the commit leaves words the next ingest reads again
        self.opened.vectors.update_content(results.updates)
        table = images_table(results, self.opened.vectors, encoded, tx.previous, tx.store.folder)
        summary.images = len(table)
        summary.videos, summary.duplicates = counts(table)
        if summary.images == 0:
            errors = results.errors
            raise NothingIngestedError(
                f"no image could be ingested from {plan.root} ({len(plan.entries)} files found, {len(errors)} errors"
                + (f"; first: {errors[0]['path']}: {errors[0]['reason']}" if errors else "")
                + (f"; not ingested: {describe(summary.skipped)}" if any(summary.skipped.values()) else "") + ")")
        errors = errors_table(results, tx.previous_errors)
        tx.lap("commit")
        manifest = tx.manifest
        manifest.roots = sorted(set(manifest.roots) | {plan.root_s})
        if self.sampling is not None:
            manifest.video = asdict(self.sampling)
        manifest.last_ingest = {"at": now_iso(), "root": plan.root_s,
                                **{k: v for k, v in summary.to_json().items() if k not in ("error_samples", "timings")}}
        tx.commit(images=table, errors=errors, index_type=self.cfg.index_type, max_index_memory=self.cfg.max_index_memory)
        summary.generation = manifest.generation
        tx.compact(stored, self.opened.tokens)
        tx.lap("commit")


def counts(table: pa.Table) -> tuple[int, int]:
    """(video files, duplicates) of an images table: a duplicate is a photo or a video stored at more
    than one path (frames and companions are not duplicates of their own file)."""
    if not len(table):
        return 0, 0
    files = table.filter(pc.fill_null(pc.invert(table["companion"]), True))
    is_video = pc.fill_null(pc.equal(files["media"], "video"), False)
    videos = files.filter(is_video)
    photos = files.filter(pc.invert(is_video))
    video_files = len(pc.unique(pc.binary_join_element_wise(videos["root"], videos["path"], "\0")))
    video_contents = len(pc.unique(videos["digest"]))
    return video_files, len(photos) - len(pc.unique(photos["id"])) + video_files - video_contents


@contextmanager
def ingest_run(cfg: IngestConfig, *, model=None, reranker=None, device: str | None = None,
               absolute_home: bool = False, progress: Reporter | None = None) -> Iterator[IngestRun]:
    """Lock, open and plan the ingest of `cfg.root`; the runner's stages and its `commit` run in
    the body. `model` / `reranker`: already-loaded objects to use instead of loading them by name;
    `absolute_home`: the index home resolved (workers on other nodes do not share the cwd)."""
    import time

    t0 = time.perf_counter()
    root = Path(cfg.root).expanduser().resolve()
    if not root.is_dir():
        raise NothingIngestedError(f"{root} is not a folder")
    home = index_home(cfg.home)
    store = CollectionStore(collection_folder(home.expanduser().resolve() if absolute_home else home,
                                              cfg.collection or root.name))
    summary = IngestSummary(store.name, 0)
    with transaction(store, Clock(summary.timings, t0)) as tx:
        opened = open_for_ingest(tx, cfg, summary, model, reranker, device, progress)
        tx.lap("startup")
        sampling = video_sampling(cfg, tx.manifest.video)
        known = opened.vectors.known_ids()
        plan = make_plan(root, tx.previous, known, skip={store.folder.parent}, videos=sampling is not None,
                         exclude=cfg.exclude, ocr=cfg.ocr, spill_to=store.folder)
        tx.lap("scan")
        yield IngestRun(tx, cfg, opened, plan, known, Results(plan), summary, progress, sampling)
    summary.elapsed_s = tx.clock.elapsed()
