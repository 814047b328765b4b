"""What the index layer raises on purpose (all VsearchError, so the CLI reports them cleanly)."""
from __future__ import annotations

from ..errors import CollectionFormatError, VsearchError

__all__ = ["CollectionFormatError", "IndexInputError", "IndexKindError"]


class IndexKindError(VsearchError, ValueError):
    """An unknown index kind, or parameters that kind does not take."""


class IndexInputError(VsearchError, ValueError):
    """Ids, vectors or queries of the wrong shape, type or values (duplicate ids, NaN, wrong dim)."""
