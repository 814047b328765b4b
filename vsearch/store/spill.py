"""Tables too large for the heap, kept in memory-mapped Arrow files.

A writer holds the images table whole (every derived step reads it), about 200 B a row in Arrow:
2 GB at 10M photos, and two or three copies of it while it is merged and sorted. A large table is
written, a batch at a time, to an uncompressed Arrow IPC file in the collection's folder, mapped
back and unlinked at once: its buffers are then page cache (shared, evicted under pressure and read
back from the file, which lives until the table is let go), not the process's own memory, and a
crash leaves at worst a temporary file that the next writer's `remove_debris` deletes. Where the
folder cannot be written (a reader without write access), the table is held in memory as before.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Iterable

import numpy as np
import pyarrow as pa

from ..atomic import TMP_PREFIX

SPILL_ROWS = 250_000  # a table of more rows than this is mapped, not held
TAKE_ROWS = 65_536    # rows gathered at a time when a mapped table is reordered


class Spill:
    """Batches of one schema written to a mapped file (or, failing that, gathered in memory);
    `table()` gives them back as one table."""

    def __init__(self, folder: Path, schema: pa.Schema):
        self.schema, self.path, self._writer, self._held = schema, None, None, []
        try:
            fd, name = tempfile.mkstemp(prefix=TMP_PREFIX + "spill-", suffix=".arrow", dir=folder)
            os.close(fd)
            self.path = Path(name)
            self._writer = pa.ipc.new_file(pa.OSFile(name, "wb"), schema)
        except OSError:
            self._forget()

    def write(self, part: pa.Table | pa.RecordBatch) -> None:
        if not len(part):
            return
        if self._writer is not None:
            try:
                self._writer.write(part)
                return
            except OSError:  # e.g. the disk filled: what was written is read back and kept in memory
                self._held.extend(self._read_back())
        self._held.append(part if isinstance(part, pa.Table) else pa.Table.from_batches([part]))

    def table(self) -> pa.Table:
        if self._writer is None:
            return pa.concat_tables(self._held).combine_chunks() if self._held else self.schema.empty_table()
        self._writer.close()
        try:
            table = pa.ipc.open_file(pa.memory_map(str(self.path), "r")).read_all()
        finally:
            self._forget()
        return table

    def _read_back(self) -> list[pa.Table]:
        try:
            self._writer.close()
            return [pa.ipc.open_file(pa.memory_map(str(self.path), "r")).read_all()]
        except (OSError, pa.ArrowInvalid):
            return []
        finally:
            self._forget()

    def _forget(self) -> None:
        if self.path is not None:
            try:
                os.unlink(self.path)  # the mapping, if any, keeps the file's pages until the table goes
            except OSError:
                pass
        self.path, self._writer = None, None

    def __del__(self) -> None:  # a spill abandoned by an error leaves no file behind
        if self._writer is not None:
            try:
                self._writer.close()
            except (OSError, pa.ArrowInvalid):
                pass
        self._forget()


def spilled(parts: Iterable[pa.Table | pa.RecordBatch], schema: pa.Schema, folder: Path) -> pa.Table:
    """`parts` (one schema) as one table mapped from a file in `folder`."""
    spill = Spill(folder, schema)
    for part in parts:
        spill.write(part)
    return spill.table()


def taken(table: pa.Table, order: np.ndarray | pa.Array, folder: Path | None) -> pa.Table:
    """`table.take(order)`, mapped from a file in `folder` when the result has over SPILL_ROWS rows
    (gathered TAKE_ROWS rows at a time: the heap holds one such batch, not a copy of the table)."""
    order = order.to_numpy(zero_copy_only=False) if isinstance(order, (pa.Array, pa.ChunkedArray)) else order
    if folder is None or len(order) <= SPILL_ROWS:
        return table.take(order)
    return spilled((table.take(order[s:s + TAKE_ROWS]) for s in range(0, len(order), TAKE_ROWS)), table.schema, folder)
