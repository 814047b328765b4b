"""Pre-faulting the pages of a memory-mapped index that queries will touch.

A mapped index opens in milliseconds, but its first queries pay for every page they touch: a
page-cache miss reads from disk (with read-ahead around it), a hit still costs a page fault. At
1M vectors (HNSW, 1.3 GB mapped) the first 100 queries of a new process took 131 ms each (p50)
when the files had left the page cache, 4.9 ms when they had not, against 1.6 ms once warm
(benchmarks/query.py --fresh). So when a reader opens an index to serve queries, it reads the
structures queries walk (graph links and vectors, inverted lists, the id map) into the page
cache in large sequential reads of their files and maps them into the process
(MADV_POPULATE_READ), most-touched first, up to a byte budget (the collection's index
memory budget). What every query walks is pre-faulted before the reader answers its first query;
what a query reads a few rows of (the fp16 store of IVF kinds: ~80 random rows a query at the
default re-rank depth) follows in the background when the rest of the budget holds it, and is
otherwise left to the queries. The pages are file pages: shared between processes and evictable.
"""
from __future__ import annotations

import ctypes
import os
import threading

import numpy as np

MADV_POPULATE_READ = 22  # Linux 5.14+; older kernels answer EINVAL: the pages are then only cached
STEP = 64 << 20          # bytes mapped per call: a closing reader waits at most one step
READ_STEP = 8 << 20      # bytes read per call
_libc = None


def _madvise(addr: int, size: int, advice: int) -> bool:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)  # a CDLL call releases the GIL: queries go on
    return _libc.madvise(ctypes.c_void_p(addr), ctypes.c_size_t(size), advice) == 0


def page_span(region: np.ndarray) -> tuple[int, int]:
    """(page-aligned start, length) covering an array's bytes."""
    page = os.sysconf("SC_PAGE_SIZE")
    start = region.ctypes.data
    aligned = start - start % page
    return aligned, region.nbytes + start - aligned


def fitting(regions: list[np.ndarray], budget: int) -> tuple[list[np.ndarray], int]:
    """The regions that fit `budget` bytes, taken in order (one that does not is skipped), and
    the bytes left."""
    chosen = []
    for r in regions:
        if r.nbytes and r.nbytes <= budget:
            chosen.append(r)
            budget -= r.nbytes
    return chosen, budget


def backing_file(addr: int) -> tuple[str, int] | None:
    """(file, offset in it) that the mapped address `addr` shows, from /proc/self/maps."""
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                parts = line.split(maxsplit=5)
                lo, hi = (int(x, 16) for x in parts[0].split("-"))
                if lo <= addr < hi:
                    return (parts[5].rstrip("\n"), int(parts[2], 16) + addr - lo) if len(parts) == 6 else None
    except OSError:
        pass
    return None


def read_through(path: str, offset: int, size: int, stop: threading.Event | None = None) -> bool:
    """Read a file range sequentially (into one reused buffer): it lands in the page cache at
    disk speed. madvise(MADV_WILLNEED) on the mapping is no substitute: measured here, it left a
    cold 1.3 GB index to be faulted in page by page (6-7 minutes instead of 2.6 s)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        buf = memoryview(bytearray(min(READ_STEP, size)))
        done = 0
        while done < size:
            if stop is not None and stop.is_set():
                return False
            n = os.preadv(fd, [buf[:min(len(buf), size - done)]], offset + done)
            if n <= 0:
                break
            done += n
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def prefault(regions: list[np.ndarray], stop: threading.Event | None = None) -> None:
    """Read each region's file range into the page cache, then map its pages into this process."""
    for region in regions:
        start, size = page_span(region)
        found = backing_file(start)
        if found is not None and not read_through(*found, size, stop):
            return
        for at in range(0, size, STEP):
            if stop is not None and stop.is_set():
                return
            if not _madvise(start + at, min(STEP, size - at), MADV_POPULATE_READ):
                break  # not supported here (Linux < 5.14): the pages are in the page cache at least


def warm(every_query: list[np.ndarray], some_queries: list[np.ndarray], budget: int,
         owner: object) -> "Prefetch | None":
    """Pre-fault `every_query` (what each query walks: graph, lists, id map) now, within
    `budget`; then `some_queries` (structures a query reads a few rows of) in the background,
    with what is left. Returns the background job, if any."""
    now, left = fitting(every_query, budget)
    prefault(now)
    later, _ = fitting(some_queries, left)
    return Prefetch(later, owner) if later else None


class Prefetch:
    """Pre-faults `regions` in a daemon thread; `owner` (the index) is kept alive, and its
    mappings with it, until the thread is done."""

    def __init__(self, regions: list[np.ndarray], owner: object = None):
        self.regions, self.bytes = regions, sum(r.nbytes for r in regions)
        self._owner = owner
        self._stop = threading.Event()
        self.done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="vsearch-prefetch", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            prefault(self.regions, self._stop)
        finally:
            self._owner = None
            self.done.set()

    def stop(self) -> None:
        """Stop after the current step (a reader that lets its generation go)."""
        self._stop.set()

    def wait(self, timeout: float | None = None) -> bool:
        return self.done.wait(timeout)
