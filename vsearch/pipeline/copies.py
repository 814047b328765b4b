"""Copies met in one ingest are decoded once: hash first, decode only content no one has yet.

A folder may hold the same photo many times (exports, backups, a NAS's "duplicates" folder). The
decode workers hash each file and then ask `Claims` whether its content is stored already or was
claimed by another worker in this run: the first to ask decodes it, every other file with the same
bytes is hashed only. Workers finish in any order, but files come back in path order, so a copy can
come back before the file whose worker decodes its content: `Copies.settle` then gives the copy the
decoded pixels (looking ahead among the files in flight) and the later original none. Either way
the first file of each content in path order carries its pixels (or its error, which every copy
shares: the bytes are the same), exactly as when each file was decoded on its own.

A video is claimed as a whole, by its own id (pipeline/decode.py video_id): a copy is hashed only
and comes back without frames; settling gives it the original's frames (their ids and times), the
pixels going with the first in path order like a photo's. Its frames are never claimed one by one.
"""
from __future__ import annotations

import ctypes
from collections.abc import Callable, Iterable
from dataclasses import replace

import numpy as np

_EMPTY = -1  # content ids are non-negative (the low 63 bits of a hash)


class Claims:
    """`id in claims`: True when the content is stored (`stored`) or already claimed in this run;
    otherwise the caller claims it (and must decode it). Shared by forked workers: an open-addressing
    table in shared memory, sized for `capacity` files, under one lock."""

    def __init__(self, stored, capacity: int, ctx=None):
        self.stored = stored
        size = 1 << max(4, (2 * max(1, capacity)).bit_length())  # at most half full
        if ctx is None:
            self._local: set[int] | None = set()
            return
        self._local = None
        self._lock = ctx.Lock()
        self._raw = ctx.RawArray(ctypes.c_int64, size)
        np.frombuffer(self._raw, dtype=np.int64).fill(_EMPTY)
        self._mask = size - 1

    def __len__(self) -> int:
        return len(self.stored)

    def __contains__(self, cid: int) -> bool:
        if cid in self.stored:
            return True
        if self._local is not None:
            if cid in self._local:
                return True
            self._local.add(cid)
            return False
        table = np.frombuffer(self._raw, dtype=np.int64)
        slot = cid & self._mask  # ids are hash bits already
        with self._lock:
            while True:
                held = table[slot]
                if held == cid:
                    return True
                if held == _EMPTY:
                    table[slot] = cid
                    return False
                slot = (slot + 1) & self._mask


class Copies:
    """Settles, in path order, what the workers returned for copies (see the module docstring)."""

    def __init__(self, stored):
        self.stored = stored
        self.outcome: dict[int, object] = {}  # content id -> the first result of it, without pixels

    def settle(self, d, later: Iterable = (), decode_here: Callable | None = None):
        """The result to hand on for `d`: `later` are the results still in flight (objects with
        .get()), in order; `decode_here()` decodes the file in this process if need be."""
        if not d.digest or d.id in self.stored:
            return d  # unreadable, or stored already: as it came
        if d.id in self.outcome:
            first = self.outcome[d.id]
            return replace(d, pixels=None, error=first.error, frames=first.frames)
        if _carries(d):
            self.outcome[d.id] = _without_pixels(d)
            return d
        for future in later:  # a copy whose content a file later in order is decoding
            x = future.get()
            if x is not None and x.id == d.id and _carries(x):
                self.outcome[d.id] = _without_pixels(x)
                return replace(x, digest=d.digest)
        found = decode_here() if decode_here is not None else d
        self.outcome[d.id] = _without_pixels(found)
        return found


def _carries(d) -> bool:
    """Whether a result holds what its content decoded to: pixels, an error, or a video's frames."""
    return d.pixels is not None or bool(d.error) or d.frames is not None


def _without_pixels(d):
    frames = None if d.frames is None else [replace(f, pixels=None) for f in d.frames]
    return replace(d, pixels=None, frames=frames)
