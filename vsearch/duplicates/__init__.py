"""Near-duplicate groups: photos a person would call the same photo (re-saved, resized, cropped,
re-toned copies; the frames of a burst when nothing moved), found from the stored vectors and the
pixel signatures taken at decode time, grouped around a suggested keeper. Nothing is ever deleted
or moved: vsearch only lists the groups.

    find_pairs(batches, n, dim) -> Pairs         every near pair of a collection (streamed)
    find_new_pairs(new, search, ...) -> Pairs    those of the photos an ingest adds
    duplicate_groups(pairs, images, Rule(t))     the groups, as rows of the images table

Names are imported on first use: reading groups (a query that collapses them) needs neither FAISS
nor OpenCV.
"""
from __future__ import annotations

import importlib

_LAZY = {"find_new_pairs": ".find", "find_pairs": ".find", "HOW": ".groups", "THRESHOLD": ".groups", "Rule": ".groups",
         "group_ids": ".groups", "Group": ".listing", "duplicate_groups": ".listing", "PAIR_FLOOR": ".pairs",
         "Pairs": ".pairs", "Batch": ".rows"}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(name)
