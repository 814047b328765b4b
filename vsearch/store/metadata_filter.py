"""Metadata filters: the `--where` string (or a structured `Filter`) as ONE boolean expression over
the images table's columns, and nothing else.

A filter is checked before it runs: the statement `SELECT <row> FROM images WHERE <filter>` is parsed
by DuckDB itself (`json_serialize_sql`), the parse tree must be the template's with only the WHERE
clause differing, and that clause may hold only allow-listed constructs (column references,
literals, comparisons, AND/OR/NOT, IS NULL, IN lists, BETWEEN, LIKE/ILIKE/GLOB, CASE, casts to
scalar types, and the scalar functions in FUNCTIONS). The very text that was checked is the text
that runs, so the checker and the engine cannot disagree about what it means; DuckDB's parser was
chosen over sqlglot for that reason (sqlglot parses its own idea of the DuckDB dialect) and because
it needs no new dependency. The tree's JSON layout changed between DuckDB 1.x and 2.x (function
arguments, cast types); both are read, and anything not recognised is refused.

Defence in depth: the connection has no file, network or extension access, a locked configuration,
two threads, a memory limit and no spilling to disk, and every query runs under a timer that
interrupts it.

Cost is bounded by construction: every allowed function's output is at most about the size of its
inputs (no repeat/lpad/replace/printf), so an expression's work per row grows with its length, which
is capped; patterns of LIKE/GLOB/regex must be constants (RE2, linear time, compiled once).
"""
from __future__ import annotations

import json
import threading
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import QueryError
from .filter_rules import TABLE, Checker, Refused

if TYPE_CHECKING:
    from ..filters import Filter

MAX_CHARS = 8_192          # of filter text; a Filter of ~100 folders renders to ~4k
TIMEOUT_S = 10.0
MEMORY_LIMIT = "256MB"
CACHE_SIZE = 256           # checked filter texts kept per table

MIN_ROWS_FOR_VALUES = 4_096  # below this a scan is as fast as evaluating per distinct value

ROW = "_vsearch_row"       # row number column added to the registered table
KEY = "_vsearch_key"       # value key column of a distinct-values table
_PREFIX = f"SELECT {ROW} FROM {TABLE} WHERE "

_LOCKED_DOWN = {
    "enable_external_access": False,     # no files, network, ATTACH, COPY, INSTALL/LOAD
    "autoload_known_extensions": False,
    "autoinstall_known_extensions": False,
    "allow_community_extensions": False,
    "temp_directory": "",                # never spill to disk
    "memory_limit": MEMORY_LIMIT,
    "threads": 2,
    "python_enable_replacements": False,  # no scanning of Python variables by name (DuckDB >= 1.1)
    "lock_configuration": True,          # last: nothing can SET it back
}
_OPTIONAL = {"python_enable_replacements", "allow_community_extensions"}

_LOCATION = ("query_location", "query_location_length")


class _Plan(NamedTuple):
    sql: str                   # the checked statement over the whole table
    column: str | None = None  # the one low-cardinality text column the filter reads, if so
    values_sql: str = ""       # the same filter over that column's distinct values


class _Values(NamedTuple):
    table: str                 # registered name of (key, value) rows: the distinct values and NULL
    keys: np.ndarray           # int32 per row of the images table: its value's key
    size: int                  # number of keys


class MetadataFilter:
    """Row numbers of an images table that satisfy a filter; one locked-down DuckDB connection per
    table, the table registered once, checked filters cached.

    A filter that reads a single text column with few distinct values (folder, camera: the UI's
    filters) is evaluated once per distinct value and mapped back to rows through the column's
    dictionary codes, which at 1M rows is several times faster than scanning the strings."""

    def __init__(self, images: pa.Table, timeout_s: float = TIMEOUT_S):
        self._images = images
        self._columns = list(images.schema.names)
        self._names = {c.lower(): c for c in self._columns}
        self._timeout_s = timeout_s
        self._con = locked_down_connection()
        self._con.register(TABLE, images.append_column(ROW, pa.array(np.arange(len(images), dtype=np.int64))))
        self._run_lock = threading.Lock()    # one statement at a time on the connection
        self._plan_lock = threading.Lock()   # one filter checked (and its column encoded) at a time
        self._timer_lock = threading.Lock()  # a late timer must not interrupt the next query
        self._running = 0
        self._templates: dict[str, dict] = {}
        self._plans: dict[str, _Plan] = {}
        self._values: dict[str, _Values | None] = {}

    def rows(self, where: "str | Filter") -> np.ndarray:
        """Sorted row numbers (int64) matching a `--where` expression or a structured `Filter`
        (whose values travel as query parameters, never as SQL text)."""
        params: list[Any] = []
        if not isinstance(where, str):
            where, params = where.to_sql()
        plan = self._plan(where)
        if plan.column is None:
            rows = self._run(plan.sql, params)
            rows.sort()
            return rows
        values = self._values[plan.column]
        matching = np.zeros(values.size, dtype=bool)
        matching[self._run(plan.values_sql, params)] = True
        return np.flatnonzero(matching[values.keys]).astype(np.int64, copy=False)

    def check(self, where: str) -> None:
        """QueryError unless `where` is an allowed filter over this table's columns."""
        self._plan(where)

    def _plan(self, where: str) -> _Plan:
        plan = self._plans.get(where)
        if plan is not None:
            return plan
        with self._plan_lock:
            return self._plans.get(where) or self._new_plan(where)

    def _new_plan(self, where: str) -> _Plan:
        try:
            sql = _PREFIX + _clean_text(where)
            clause = self._where_clause(sql, TABLE, ROW)
            checker = Checker(self._names)
            checker.check(clause)
        except Refused as e:
            raise self._error(str(e)) from None
        plan = _Plan(sql)
        if len(checker.read) == 1:
            plan = self._values_plan(plan, where, clause, *checker.read)
        if len(self._plans) >= CACHE_SIZE:
            self._plans.pop(next(iter(self._plans)))
        self._plans[where] = plan
        return plan

    def _values_plan(self, plan: _Plan, where: str, clause: dict, column: str) -> _Plan:
        """The filter over `column`'s distinct values, if that column is worth it and the filter
        parses there to the very same expression."""
        if column not in self._values:
            self._values[column] = self._encode(column)
        values = self._values[column]
        if values is None:
            return plan
        values_sql = f"SELECT {KEY} FROM {values.table} AS {TABLE} WHERE {where}"
        try:
            same = self._where_clause(values_sql, values.table, KEY) == clause
        except Refused:
            same = False
        return _Plan(plan.sql, column, values_sql) if same else plan

    def _encode(self, column: str) -> _Values | None:
        """Dictionary codes of a text column with at most n/8 distinct values, and a registered
        table of those values (key = code, plus NULL under the last key)."""
        col = self._images.column(column)
        n = len(col)
        if n < MIN_ROWS_FOR_VALUES or not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
            return None
        sample = col.take(np.linspace(0, n - 1, 2048).astype(np.int64))
        if pc.count_distinct(sample).as_py() > 256:
            return None
        codes = col.combine_chunks().dictionary_encode()
        distinct = len(codes.dictionary)
        if distinct > n // 8:
            return None
        table = f"_vsearch_values_{self._columns.index(column)}"
        values = pa.table({KEY: pa.array(np.arange(distinct + 1, dtype=np.int32)),
                           column: pa.concat_arrays([codes.dictionary, pa.nulls(1, codes.dictionary.type)])})
        with self._run_lock:
            self._con.register(table, values)
        keys = codes.indices.fill_null(distinct).to_numpy(zero_copy_only=False).astype(np.int32, copy=False)
        return _Values(table, keys, distinct + 1)

    def _where_clause(self, sql: str, table: str, select: str) -> dict:
        """The WHERE clause of `SELECT select FROM table ... WHERE ...`, after checking that
        everything else is exactly the template's."""
        template_sql = f"SELECT {select} FROM {table}{'' if table == TABLE else ' AS ' + TABLE} WHERE TRUE"
        if template_sql not in self._templates:
            template = self._parse(template_sql)
            template.pop("where_clause")
            self._templates[template_sql] = template
        statement = self._parse(sql)
        clause = statement.pop("where_clause", None)
        if statement != self._templates[template_sql] or not isinstance(clause, dict):
            raise Refused("a filter is one expression: no other clause, statement or set operation")
        return clause

    def _parse(self, sql: str) -> dict:
        """The single SELECT statement's node, without source positions."""
        import duckdb

        try:
            with self._run_lock:
                text = self._con.execute("SELECT json_serialize_sql(CAST(? AS VARCHAR))", [sql]).fetchall()[0][0]
            tree = _without_locations(json.loads(text))
        except (duckdb.Error, ValueError, RecursionError) as e:
            raise Refused(f"cannot be parsed ({_first_line(e)})") from None
        if tree.get("error"):
            raise Refused(_parse_error(tree))
        statements = tree.get("statements") or []
        if len(statements) != 1:
            raise Refused("a filter is one expression, not several statements")
        node = statements[0].get("node")
        if not isinstance(node, dict) or node.get("type") != "SELECT_NODE":
            raise Refused("a filter is one expression: no set operation (UNION, EXCEPT…)")
        return node

    def _run(self, sql: str, params: list[Any]) -> np.ndarray:
        """The first column of a checked statement's result, under the timer."""
        import duckdb

        with self._run_lock:
            with self._timer_lock:
                self._running += 1
                token = self._running
            # Not a daemon: a daemon thread alive at exit would keep the connection from being freed.
            timer = threading.Timer(self._timeout_s, self._interrupt, args=(token,))
            timer.start()
            try:
                result = next(iter(self._con.execute(sql, params).fetchnumpy().values()))
            except duckdb.InterruptException:
                raise self._error(f"took longer than {self._timeout_s:g} s and was stopped") from None
            except duckdb.OutOfMemoryException:
                raise self._error(f"needs more than {MEMORY_LIMIT} of memory") from None
            except duckdb.Error as e:
                raise self._error(_first_line(e)) from None
            finally:
                timer.cancel()
                with self._timer_lock:
                    self._running += 1  # the token is stale from here on
        return np.asarray(result, dtype=np.int64)

    def _interrupt(self, token: int) -> None:
        with self._timer_lock:
            if self._running == token:
                self._con.interrupt()

    def _error(self, reason: str) -> QueryError:
        return QueryError(f"bad --where predicate: {reason.rstrip('.')}. Columns: {', '.join(self._columns)}")


def locked_down_connection():
    """An in-memory DuckDB connection that cannot touch files, the network, extensions or its own
    settings, with bounded memory and threads."""
    import duckdb

    config = dict(_LOCKED_DOWN)
    while True:
        try:
            return duckdb.connect(":memory:", config=config)
        except duckdb.InvalidInputException as e:  # an optional setting this DuckDB does not know
            unknown = [k for k in _OPTIONAL & config.keys() if k in str(e)]
            if not unknown:
                raise
            config.pop(unknown[0])


def _clean_text(where: str) -> str:
    if not isinstance(where, str):
        raise Refused("a filter is a string")
    if len(where) > MAX_CHARS:
        raise Refused(f"longer than {MAX_CHARS} characters")
    if not where.strip():
        raise Refused("empty")
    if any((ord(c) < 32 and c not in "\t\n\r") or 0x7F <= ord(c) < 0xA0 or 0xD800 <= ord(c) < 0xE000 for c in where):
        raise Refused("control characters or unpaired surrogates in the text")
    return where


def _without_locations(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _without_locations(v) for k, v in node.items() if k not in _LOCATION}
    if isinstance(node, list):
        return [_without_locations(v) for v in node]
    return node


def _parse_error(tree: dict) -> str:
    message = _first_line(tree.get("error_message", "syntax error"))
    if tree.get("error_type") == "not implemented":  # json_serialize_sql refuses any non-SELECT statement
        return "a filter is one expression, not a statement"
    if "expression depth" in message or "memory exhausted" in message:  # the latter: DuckDB 1.0's parser stack
        return "nested too deeply"
    return message


def _first_line(e: object) -> str:
    lines = str(e).strip().splitlines()
    return lines[0] if lines else type(e).__name__
