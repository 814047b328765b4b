"""Times as the format stores them. File dates are int64 nanoseconds (`mtime_ns`) beside a
microsecond timestamp, and every consumer of the tables (Arrow, DuckDB, pandas) must be able to
hold them: a time outside 1677-09-22 .. 2262-04-11 (what int64 nanoseconds reach) is clamped to
that range, never fatal, and the caller records that it was (a file dated 2446 is valid on ext4).
EXIF capture dates are held to the same range."""
from __future__ import annotations

from datetime import datetime, timezone

NS_MIN = -(1 << 63) + 1 + 86_400 * 10**9   # a day inside int64, so a time zone shift cannot overflow
NS_MAX = (1 << 63) - 1 - 86_400 * 10**9
DATE_MIN = datetime.fromtimestamp(NS_MIN // 10**9 + 1, tz=timezone.utc).replace(tzinfo=None)
DATE_MAX = datetime.fromtimestamp(NS_MAX // 10**9, tz=timezone.utc).replace(tzinfo=None)
CLAMPED = (f"its date is outside what the format holds ({DATE_MIN:%Y-%m-%d} to {DATE_MAX:%Y-%m-%d}); "
           f"stored as the nearest date it can hold")


def clamp_ns(ns: int) -> tuple[int, bool]:
    """(ns held to [NS_MIN, NS_MAX], whether it had to be)."""
    if ns < NS_MIN:
        return NS_MIN, True
    if ns > NS_MAX:
        return NS_MAX, True
    return ns, False


def clamp_date(when: datetime | None) -> tuple[datetime | None, bool]:
    """(a naive date held to [DATE_MIN, DATE_MAX], whether it had to be)."""
    if when is None:
        return None, False
    naive = when.replace(tzinfo=None)
    if naive < DATE_MIN:
        return DATE_MIN, True
    if naive > DATE_MAX:
        return DATE_MAX, True
    return when, False
