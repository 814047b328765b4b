"""Progress reporting: the library calls a callback, the CLI (or the UI) draws it.

A reporter is any callable taking a `Progress` event. Long library functions accept
`progress: Reporter | None` and report through `track`/`report`; none of them prints.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Progress:
    task: str                 # what is being done, e.g. "ingest photos", "encode captions"
    done: int                 # units finished so far
    total: int | None = None  # units in all, when known
    unit: str = "item"
    note: str | None = None   # a short status, e.g. "loss 0.412"


Reporter = Callable[[Progress], None]


def report(progress: Reporter | None, task: str, done: int, total: int | None = None, unit: str = "item",
           note: str | None = None) -> None:
    if progress:
        progress(Progress(task, done, total, unit, note))


def track(items: Iterable[T], progress: Reporter | None, task: str, total: int | None = None,
          unit: str = "item", weight=None) -> Iterator[T]:
    """Yield `items`, reporting after each one. `weight(item)` counts an item as several units
    (a batch of 32 images, say); by default each item is one unit."""
    if not progress:
        yield from items
        return
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    done = 0
    progress(Progress(task, 0, total, unit))
    for item in items:
        yield item
        done += weight(item) if weight else 1
        progress(Progress(task, done, total, unit))
