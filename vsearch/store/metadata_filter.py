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
from typing import TYPE_CHECKING, Any, Iterator, NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import QueryError

if TYPE_CHECKING:
    from ..filters import Filter

MAX_CHARS = 8_192          # of filter text; a Filter of ~100 folders renders to ~4k
MAX_NODES = 2_000          # expression nodes after parsing
MAX_DEPTH = 100            # expression nesting (a + b + c ... nests one level per term)
TIMEOUT_S = 10.0
MEMORY_LIMIT = "256MB"
CACHE_SIZE = 256           # checked filter texts kept per table

MIN_ROWS_FOR_VALUES = 4_096  # below this a scan is as fast as evaluating per distinct value

TABLE = "images"
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

# Scalar functions (and operators, which DuckDB parses as functions) whose output is bounded by
# their inputs' size. Keys are DuckDB's names after parsing: `x LIKE p` is `~~`, `x GLOB p` is
# `~~~`, `x SIMILAR TO p` is regexp_full_match, `EXTRACT(f FROM x)` is date_part, `INTERVAL n DAY`
# is to_days(CAST(trunc(n) AS INTEGER)).
FUNCTIONS = frozenset("""
    + - * / // % ^ ** ||
    ~~ !~~ ~~* !~~* ~~~ !~~~ like_escape not_like_escape ilike_escape not_ilike_escape
    regexp_matches regexp_full_match
    lower upper lcase ucase length len strlen char_length character_length
    starts_with prefix ends_with suffix contains instr strpos position
    substring substr left right trim ltrim rtrim split_part reverse concat
    nullif ifnull if
    abs round floor ceil ceiling trunc sign greatest least sqrt ln log log10 log2 pow power
    isnan isinf isfinite
    year month day dayofmonth dayofweek dayofyear weekday isodow isoyear week weekofyear yearweek
    quarter hour minute second millisecond microsecond epoch epoch_ms
    date_part datepart date_trunc datetrunc date_diff datediff date_sub datesub
    strftime strptime make_date make_timestamp last_day dayname monthname
    now today current_date current_timestamp get_current_timestamp to_timestamp
    to_years to_months to_weeks to_days to_hours to_minutes to_seconds to_milliseconds
""".split())
# Arguments that must be constant: patterns are compiled once, not once per row from a column.
_CONSTANT_ARGS = {name: (1, 2) for name in (
    "~~", "!~~", "~~*", "!~~*", "~~~", "!~~~", "like_escape", "not_like_escape", "ilike_escape",
    "not_ilike_escape", "regexp_matches", "regexp_full_match")}
_SPECIAL_COLUMNS = frozenset({"current_date", "current_timestamp"})  # parsed as column references
_OPERATORS = frozenset({"OPERATOR_NOT", "OPERATOR_IS_NULL", "OPERATOR_IS_NOT_NULL", "COMPARE_IN",
                        "COMPARE_NOT_IN", "OPERATOR_COALESCE"})
TYPES = frozenset("""
    BOOLEAN BOOL LOGICAL TINYINT INT1 SMALLINT INT2 SHORT INTEGER INT INT4 INT32 SIGNED BIGINT INT8
    INT64 LONG HUGEINT UTINYINT USMALLINT UINTEGER UBIGINT FLOAT FLOAT4 REAL DOUBLE FLOAT8 DECIMAL
    NUMERIC VARCHAR TEXT STRING CHAR BPCHAR DATE TIME TIMESTAMP DATETIME TIMESTAMPTZ INTERVAL
""".split()) | {"TIMESTAMP WITH TIME ZONE"}
_LOCATION = ("query_location", "query_location_length")


class _Refused(Exception):
    pass


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
            checker = _Checker(self._names)
            checker.check(clause)
        except _Refused as e:
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
        except _Refused:
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
            raise _Refused("a filter is one expression: no other clause, statement or set operation")
        return clause

    def _parse(self, sql: str) -> dict:
        """The single SELECT statement's node, without source positions."""
        import duckdb

        try:
            with self._run_lock:
                text = self._con.execute("SELECT json_serialize_sql(CAST(? AS VARCHAR))", [sql]).fetchall()[0][0]
            tree = _without_locations(json.loads(text))
        except (duckdb.Error, ValueError, RecursionError) as e:
            raise _Refused(f"cannot be parsed ({_first_line(e)})") from None
        if tree.get("error"):
            raise _Refused(_parse_error(tree))
        statements = tree.get("statements") or []
        if len(statements) != 1:
            raise _Refused("a filter is one expression, not several statements")
        node = statements[0].get("node")
        if not isinstance(node, dict) or node.get("type") != "SELECT_NODE":
            raise _Refused("a filter is one expression: no set operation (UNION, EXCEPT…)")
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


class _Checker:
    """Walks a parsed WHERE clause; raises _Refused at the first construct not allowed."""

    def __init__(self, columns: dict[str, str]):
        self.columns = columns            # lower-case name -> name
        self.seen: set[int] = set()
        self.read: set[str] = set()       # table columns the expression reads

    def check(self, clause: dict) -> None:
        self.expr(clause, 0)
        for node in _expressions(clause):  # every expression must have been reached through a known slot
            if id(node) not in self.seen:
                raise _Refused(f"{node.get('class', '?').lower()} expressions are not allowed in a filter")

    def expr(self, node: Any, depth: int) -> None:
        if not isinstance(node, dict) or "class" not in node:
            raise _Refused("unexpected parse tree")
        if depth > MAX_DEPTH:
            raise _Refused(f"nested more than {MAX_DEPTH} levels deep")
        if len(self.seen) >= MAX_NODES:
            raise _Refused(f"more than {MAX_NODES} terms")
        self.seen.add(id(node))
        kind, sub = node["class"], node.get("type")
        if kind in ("CONSTANT", "PARAMETER"):
            return
        if kind == "COLUMN_REF":
            return self.column(node)
        if kind == "FUNCTION":
            return self.function(node, depth)
        if kind == "CAST":
            self.cast_type(node)
            return self.expr(node.get("child"), depth + 1)
        if kind == "COMPARISON" and str(sub).startswith("COMPARE_"):
            children = [node.get("left"), node.get("right")]
        elif kind == "CONJUNCTION" and sub in ("CONJUNCTION_AND", "CONJUNCTION_OR"):
            children = node.get("children")
        elif kind == "OPERATOR" and sub in _OPERATORS:
            children = node.get("children")
        elif kind == "BETWEEN":
            children = [node.get("input"), node.get("lower"), node.get("upper")]
        elif kind == "CASE":
            checks = node.get("case_checks")
            if not isinstance(checks, list) or not all(isinstance(c, dict) for c in checks):
                raise _Refused("unexpected parse tree")
            children = [c.get(k) for c in checks for k in ("when_expr", "then_expr")] + [node.get("else_expr")]
        else:
            raise _Refused(f"{_describe(node)} is not allowed in a filter")
        if not isinstance(children, list):
            raise _Refused("unexpected parse tree")
        for child in children:
            self.expr(child, depth + 1)

    def column(self, node: dict) -> None:
        names = node.get("column_names") or []
        if len(names) == 2 and str(names[0]).lower() == TABLE:
            names = names[1:]
        name = str(names[0]).lower() if len(names) == 1 else ""
        if name in self.columns:
            self.read.add(self.columns[name])
        elif name not in _SPECIAL_COLUMNS:
            raise _Refused(f"unknown column {'.'.join(map(str, node.get('column_names') or []))!r}")

    def function(self, node: dict, depth: int) -> None:
        name = str(node.get("function_name", "")).lower()
        # DuckDB 1.x qualifies the functions its parser writes itself (EXTRACT, LIKE … ESCAPE) as main.*
        if name not in FUNCTIONS or node.get("schema") not in ("", "main", None) or node.get("catalog"):
            qualified = ".".join(x for x in (node.get("catalog"), node.get("schema"), node.get("function_name")) if x)
            raise _Refused(f"function {qualified!r} is not allowed in a filter")
        orders = (node.get("order_bys") or {}).get("orders")
        if node.get("filter") is not None or orders or node.get("distinct") or node.get("export_state"):
            raise _Refused(f"{name}() takes plain arguments only")
        args = _arguments(node)
        for i, arg in enumerate(args):
            if i in _CONSTANT_ARGS.get(name, ()) and any(n.get("class") == "COLUMN_REF" for n in _expressions(arg)):
                raise _Refused(f"the pattern of {_operator_name(name)} must be a constant")
            self.expr(arg, depth + 1)

    def cast_type(self, node: dict) -> None:
        if "type_expr" in node:  # DuckDB 2.x: a TYPE node, its parameters (DECIMAL(10,2)) as children
            t = node["type_expr"]
            if not isinstance(t, dict) or t.get("class") != "TYPE":
                raise _Refused("unexpected parse tree")
            self.seen.add(id(t))
            name, params = str(t.get("type_name", "")), t.get("children") or []
            if t.get("schema") or t.get("catalog") or name.upper() not in TYPES:
                raise _Refused(f"casts to {name!r} are not allowed in a filter")
            for p in params:
                if not isinstance(p, dict) or p.get("class") != "CONSTANT":
                    raise _Refused(f"casts to {name!r} with type parameters are not allowed in a filter")
                self.seen.add(id(p))
        else:  # DuckDB 1.x: {"id": "DECIMAL", "type_info": {...}}
            t = node.get("cast_type") or {}
            name, info = str(t.get("id", "")), t.get("type_info")
            if name.upper() not in TYPES or (info is not None and info.get("type") != "DECIMAL_TYPE_INFO"):
                raise _Refused(f"casts to {name!r} are not allowed in a filter")


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
        raise _Refused("a filter is a string")
    if len(where) > MAX_CHARS:
        raise _Refused(f"longer than {MAX_CHARS} characters")
    if not where.strip():
        raise _Refused("empty")
    if any((ord(c) < 32 and c not in "\t\n\r") or 0x7F <= ord(c) < 0xA0 or 0xD800 <= ord(c) < 0xE000 for c in where):
        raise _Refused("control characters or unpaired surrogates in the text")
    return where


def _without_locations(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _without_locations(v) for k, v in node.items() if k not in _LOCATION}
    if isinstance(node, list):
        return [_without_locations(v) for v in node]
    return node


def _expressions(node: Any) -> Iterator[dict]:
    """Every expression node (a dict with a "class") in a subtree, iteratively."""
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, dict):
            if "class" in n:
                yield n
            stack.extend(n.values())
        elif isinstance(n, list):
            stack.extend(n)


def _arguments(node: dict) -> list:
    if "arguments" in node:  # DuckDB 2.x: [{"name": "", "expression": {...}}]
        args = node["arguments"]
        if not isinstance(args, list) or any(not isinstance(a, dict) or a.get("name") for a in args):
            raise _Refused(f"{node.get('function_name')}() takes no named arguments")
        return [a.get("expression") for a in args]
    args = node.get("children")  # DuckDB 1.x: a named argument is an aliased child
    if not isinstance(args, list) or any(not isinstance(a, dict) for a in args):
        raise _Refused("unexpected parse tree")
    if any(a.get("alias") for a in args):
        raise _Refused(f"{node.get('function_name')}() takes no named arguments")
    return args


def _describe(node: dict) -> str:
    kind, sub = str(node.get("class")), str(node.get("type"))
    names = {"SUBQUERY": "a subquery", "WINDOW": "a window function", "STAR": "*", "LAMBDA": "a lambda",
             "COLLATE": "COLLATE", "POSITIONAL_REFERENCE": "a positional reference (#n)"}
    return names.get(kind) or f"{kind.lower()} {sub.lower()}"


def _operator_name(name: str) -> str:
    return {"~~": "LIKE", "!~~": "NOT LIKE", "~~*": "ILIKE", "!~~*": "NOT ILIKE", "~~~": "GLOB",
            "!~~~": "NOT GLOB"}.get(name, name + "()")


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
