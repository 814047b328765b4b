"""Structured metadata filters: the `--where` semantics, built from values instead of SQL text.

A `Filter` compiles to a DuckDB predicate with `?` placeholders and a parameter list, so values
typed into a form (a folder name with a quote in it, say) are never spliced into SQL. `sql()`
renders the equivalent `--where` string for people who want to repeat a search on the CLI.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any


@dataclass(frozen=True)
class Filter:
    folders: tuple[str, ...] = ()        # any of these folders (relative to the root), or below them
    cameras: tuple[str, ...] = ()        # any of these camera models
    taken_from: date | None = None       # EXIF capture date, inclusive
    taken_to: date | None = None         # inclusive (the whole day)
    min_bytes: int | None = None
    max_bytes: int | None = None

    def is_empty(self) -> bool:
        return not self.parts()[0]

    def parts(self) -> tuple[list[str], list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        if self.folders:
            ors = []
            for f in self.folders:
                f = f.strip("/")
                if f in ("", "."):
                    ors.append("folder = ?")
                    params.append(".")
                    continue
                ors.append("(folder = ? OR starts_with(folder, ?))")
                params += [f, f + "/"]
            clauses.append("(" + " OR ".join(ors) + ")")
        if self.cameras:
            clauses.append("camera IN (" + ", ".join("?" * len(self.cameras)) + ")")
            params += list(self.cameras)
        if self.taken_from is not None:
            clauses.append("taken_at >= ?")
            params.append(datetime.combine(_day(self.taken_from), time.min))
        if self.taken_to is not None:
            clauses.append("taken_at < ?")
            params.append(datetime.combine(_day(self.taken_to) + timedelta(days=1), time.min))
        if self.min_bytes is not None:
            clauses.append("bytes >= ?")
            params.append(int(self.min_bytes))
        if self.max_bytes is not None:
            clauses.append("bytes <= ?")
            params.append(int(self.max_bytes))
        return clauses, params

    def to_sql(self) -> tuple[str, list[Any]]:
        """(predicate with ? placeholders, parameters); ("TRUE", []) when empty."""
        clauses, params = self.parts()
        return (" AND ".join(clauses) or "TRUE"), params

    def sql(self) -> str:
        """The same predicate as a literal `--where` string (display only; queries use to_sql)."""
        text, params = self.to_sql()
        first, *rest = text.split("?")
        return first + "".join(_literal(v) + piece for v, piece in zip(params, rest))


def _day(d: date | datetime) -> date:
    return d.date() if isinstance(d, datetime) else d


def _literal(v: Any) -> str:
    if isinstance(v, datetime):
        return f"TIMESTAMP '{v.isoformat(sep=' ')}'"
    if isinstance(v, (int, float)):
        return str(v)
    return "'" + str(v).replace("'", "''") + "'"
