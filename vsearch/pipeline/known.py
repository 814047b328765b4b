"""The content ids whose vectors are stored, as a writer consults them while it reads files or
rows: one sorted int64 array (8 B an id) instead of a Python set (~70 B an id: 0.7 GB at 10M),
grown by each batch the writer stores."""
from __future__ import annotations

from typing import Iterable

import numpy as np


class KnownIds:
    def __init__(self, ids: np.ndarray | Iterable[int] = ()):
        self.ids = np.unique(np.asarray(list(ids) if not isinstance(ids, np.ndarray) else ids, np.int64))

    def has(self, ids: np.ndarray) -> np.ndarray:
        """bool [len(ids)]: which are stored."""
        ids = np.asarray(ids, np.int64)
        if not len(self.ids):
            return np.zeros(len(ids), bool)
        pos = np.searchsorted(self.ids, ids).clip(0, len(self.ids) - 1)
        return self.ids[pos] == ids

    def __contains__(self, cid: object) -> bool:
        if not isinstance(cid, (int, np.integer)):
            return False
        i = int(np.searchsorted(self.ids, cid))
        return i < len(self.ids) and int(self.ids[i]) == cid

    def add(self, ids: np.ndarray) -> None:
        new = np.unique(np.asarray(ids, np.int64))
        new = new[~self.has(new)]
        self.ids = np.insert(self.ids, np.searchsorted(self.ids, new), new)  # a copy, not a sort

    def update(self, ids: Iterable[int]) -> None:
        self.add(np.fromiter(ids, np.int64))

    def __len__(self) -> int:
        return len(self.ids)
