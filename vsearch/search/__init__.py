"""The query path (read-only): `Collection` and its results."""
from .collection import HUBNESS_POOL, Collection, open_collection
from .duplicates import DUPLICATE_THRESHOLD, DuplicateGroup, Member
from .hits import Hit, TextHit

__all__ = ["Collection", "DUPLICATE_THRESHOLD", "DuplicateGroup", "Hit", "Member", "TextHit", "open_collection", "HUBNESS_POOL"]
