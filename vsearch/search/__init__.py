"""The query path (read-only): `Collection` and its results."""
from .collection import HUBNESS_POOL, Collection, open_collection
from .hits import Hit, TextHit

__all__ = ["Collection", "Hit", "TextHit", "open_collection", "HUBNESS_POOL"]
