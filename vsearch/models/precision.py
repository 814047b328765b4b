"""The image encoder's numeric precision, as a collection records it.

A collection's vectors and its image queries must come from the same encoder, so the precision an
ingest used is part of the collection's model record (manifest `model.precision`); a record
without the field is fp32 (every collection written before the field existed). Text queries are
unaffected: only the image tower has reduced-precision graphs.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import InvalidOptionError

if TYPE_CHECKING:
    from .identity import ModelRecord

PRECISIONS = ("fp32", "int8")
DEFAULT_PRECISION = "fp32"


def check_precision_name(precision: str) -> str:
    if precision not in PRECISIONS:
        raise InvalidOptionError(f"unknown precision {precision!r}; known: {', '.join(PRECISIONS)}")
    return precision


def precision_of(record: ModelRecord) -> str:
    """The precision a collection's model record says its image vectors were encoded at."""
    return record.precision or DEFAULT_PRECISION


def precision_for(record: ModelRecord | None, asked: str | None, collection: str) -> str:
    """The precision an ingest encodes at: a new collection (`record` None) the one asked for (default
    fp32); an existing one its own, and asking for another is refused (its vectors would mix)."""
    if record is None:
        return check_precision_name(asked or DEFAULT_PRECISION)
    recorded = precision_of(record)
    if asked is not None and check_precision_name(asked) != recorded:
        raise InvalidOptionError(
            f"collection {collection!r} was ingested at {recorded} precision; its images cannot be encoded at "
            f"{asked} (its vectors would not be comparable). Omit --precision to keep {recorded}, or ingest "
            f"into a new collection with --collection.")
    return recorded
