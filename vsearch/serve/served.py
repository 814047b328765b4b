"""The collections one server answers for: each opened once (model and index stay loaded),
following commits (Collection's contract: a newer generation within `reload_every` seconds), and
shared by every request. Without names given, a collection created after the start is opened
on its first request."""
from __future__ import annotations

import threading

from ..errors import CollectionNotFoundError
from ..escape import valid_utf8
from ..search import Collection, open_collection
from ..store.home import list_collections
from .config import ServeConfig
from .errors import ApiError


class Served:
    def __init__(self, config: ServeConfig):
        self.config = config
        self._lock = threading.Lock()
        names = list(config.collections) or list_collections(config.home)
        if not names:
            raise CollectionNotFoundError(f"no collection under {config.home}; create one with `vsearch ingest <folder>`")
        self._open: dict[str, Collection] = {n: self._opened(n) for n in names}

    def _opened(self, name: str) -> Collection:
        return open_collection(name, self.config.home, reload_every=self.config.reload_every,
                               text_cache=self.config.text_cache)

    def names(self) -> list[str]:
        self._discover()
        return sorted(self._open)

    def all(self) -> list[Collection]:
        return [self._open[n] for n in sorted(self._open)]

    def get(self, name: str) -> Collection:
        col = self._open.get(name)
        if col is None and self._discover(name):
            col = self._open.get(name)
        if col is None:
            raise ApiError(404, f"no collection {valid_utf8(name)!r} is served here (served: {', '.join(sorted(self._open))})")
        return col

    def _discover(self, name: str | None = None) -> bool:
        """Open collections created since the start (only when no names were given)."""
        if self.config.collections:
            return False
        on_disk = list_collections(self.config.home)
        if name is not None and name not in on_disk:
            return False
        new = [n for n in on_disk if n not in self._open]
        with self._lock:
            for n in new:
                if n not in self._open:
                    try:
                        self._open[n] = self._opened(n)
                    except CollectionNotFoundError:
                        continue
        return bool(new)

    def warm(self) -> None:
        """Load what the first text query would (the text tower, the index, its corrections)."""
        for col in self.all():
            col.search("warm up", k=1)

    def close(self) -> None:
        for col in self.all():
            col.close()
