"""A derived part that exists only in the tests: each live image's vector total, kept incrementally
(the previous generation's rows of ids still live are carried, the added ids computed from their
vectors streamed in small chunks, and an unchanged commit carries the whole part over). It is one
DerivedStep and one entry in the step list, as a real new derived file would be
(vsearch/pipeline/derived): the crash and repair suites register it and cover it by iterating the
list, with no test code of their own for it."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from vsearch.pipeline.derived import CARRY, STEPS, Change, DerivedStep
from vsearch.store.tables import int64_column

SCHEMA = pa.schema([("id", pa.int64()), ("total", pa.float32())])


class VectorTotals(DerivedStep):
    key = "probe_totals"
    subject = "images"
    schema = SCHEMA
    what = "the test probe's vector totals"

    def derive(self, change: Change) -> pa.Table | None:
        items = change.items[self.subject]
        before = self.previous(change)
        if before is not None and not items.changed:
            return CARRY
        kept = SCHEMA.empty_table() if before is None else before.filter(pc.is_in(before["id"], value_set=pa.array(items.live)))
        todo = np.setdiff1d(items.live, int64_column(kept, "id"))
        parts = [kept.select(SCHEMA.names).cast(SCHEMA)]
        for ids, vecs in items.vectors.chunks(todo, size=3):  # tiny chunks: the streaming path, many times
            parts.append(pa.table({"id": ids, "total": vecs.sum(axis=1)}, schema=SCHEMA))
        return pa.concat_tables(parts).sort_by("id")


PROBE = VectorTotals()


def register() -> None:
    if PROBE not in STEPS:
        STEPS.append(PROBE)


@contextmanager
def registered() -> Iterator[None]:
    """The probe in the step list for the duration (a suite's module fixture)."""
    added = PROBE not in STEPS
    register()
    try:
        yield
    finally:
        if added:
            STEPS.remove(PROBE)


def steps() -> list[DerivedStep]:
    """The step list a suite covers: vsearch's, and the probe."""
    return list(STEPS) if PROBE in STEPS else [*STEPS, PROBE]
