"""The allow-list of a metadata filter: which DuckDB parse trees are ONE boolean expression over the
images table's columns, with bounded cost (store/metadata_filter.py parses and runs it).

Allowed: column references, literals, comparisons, AND/OR/NOT, IS NULL, IN lists, BETWEEN,
LIKE/ILIKE/GLOB, CASE, casts to scalar types, and the scalar functions in FUNCTIONS, each of whose
output is at most about the size of its inputs. Patterns must be constants. The tree's JSON
layout changed between DuckDB 1.x and 2.x; both are read, and anything not recognised is refused.
"""
from __future__ import annotations

from typing import Any, Iterator

TABLE = "images"
MAX_NODES = 2_000          # expression nodes after parsing
MAX_DEPTH = 100            # expression nesting (a + b + c ... nests one level per term)

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
    list_contains list_has array_contains array_has list_has_any array_has_any list_has_all array_has_all
    list_position list_indexof array_position array_indexof array_length list_value
""".split())  # the list functions read the words' lists (keywords, people, places: format 4)
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

class Refused(Exception):
    pass


class Checker:
    """Walks a parsed WHERE clause; raises Refused at the first construct not allowed."""

    def __init__(self, columns: dict[str, str]):
        self.columns = columns            # lower-case name -> name
        self.seen: set[int] = set()
        self.read: set[str] = set()       # table columns the expression reads

    def check(self, clause: dict) -> None:
        self.expr(clause, 0)
        for node in _expressions(clause):  # every expression must have been reached through a known slot
            if id(node) not in self.seen:
                raise Refused(f"{node.get('class', '?').lower()} expressions are not allowed in a filter")

    def expr(self, node: Any, depth: int) -> None:
        if not isinstance(node, dict) or "class" not in node:
            raise Refused("unexpected parse tree")
        if depth > MAX_DEPTH:
            raise Refused(f"nested more than {MAX_DEPTH} levels deep")
        if len(self.seen) >= MAX_NODES:
            raise Refused(f"more than {MAX_NODES} terms")
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
                raise Refused("unexpected parse tree")
            children = [c.get(k) for c in checks for k in ("when_expr", "then_expr")] + [node.get("else_expr")]
        else:
            raise Refused(f"{_describe(node)} is not allowed in a filter")
        if not isinstance(children, list):
            raise Refused("unexpected parse tree")
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
            raise Refused(f"unknown column {'.'.join(map(str, node.get('column_names') or []))!r}")

    def function(self, node: dict, depth: int) -> None:
        name = str(node.get("function_name", "")).lower()
        # DuckDB 1.x qualifies the functions its parser writes itself (EXTRACT, LIKE … ESCAPE) as main.*
        if name not in FUNCTIONS or node.get("schema") not in ("", "main", None) or node.get("catalog"):
            qualified = ".".join(x for x in (node.get("catalog"), node.get("schema"), node.get("function_name")) if x)
            raise Refused(f"function {qualified!r} is not allowed in a filter")
        orders = (node.get("order_bys") or {}).get("orders")
        if node.get("filter") is not None or orders or node.get("distinct") or node.get("export_state"):
            raise Refused(f"{name}() takes plain arguments only")
        args = _arguments(node)
        for i, arg in enumerate(args):
            if i in _CONSTANT_ARGS.get(name, ()) and any(n.get("class") == "COLUMN_REF" for n in _expressions(arg)):
                raise Refused(f"the pattern of {_operator_name(name)} must be a constant")
            self.expr(arg, depth + 1)

    def cast_type(self, node: dict) -> None:
        if "type_expr" in node:  # DuckDB 2.x: a TYPE node, its parameters (DECIMAL(10,2)) as children
            t = node["type_expr"]
            if not isinstance(t, dict) or t.get("class") != "TYPE":
                raise Refused("unexpected parse tree")
            self.seen.add(id(t))
            name, params = str(t.get("type_name", "")), t.get("children") or []
            if t.get("schema") or t.get("catalog") or name.upper() not in TYPES:
                raise Refused(f"casts to {name!r} are not allowed in a filter")
            for p in params:
                if not isinstance(p, dict) or p.get("class") != "CONSTANT":
                    raise Refused(f"casts to {name!r} with type parameters are not allowed in a filter")
                self.seen.add(id(p))
        else:  # DuckDB 1.x: {"id": "DECIMAL", "type_info": {...}}
            t = node.get("cast_type") or {}
            name, info = str(t.get("id", "")), t.get("type_info")
            if name.upper() not in TYPES or (info is not None and info.get("type") != "DECIMAL_TYPE_INFO"):
                raise Refused(f"casts to {name!r} are not allowed in a filter")


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
            raise Refused(f"{node.get('function_name')}() takes no named arguments")
        return [a.get("expression") for a in args]
    args = node.get("children")  # DuckDB 1.x: a named argument is an aliased child
    if not isinstance(args, list) or any(not isinstance(a, dict) for a in args):
        raise Refused("unexpected parse tree")
    if any(a.get("alias") for a in args):
        raise Refused(f"{node.get('function_name')}() takes no named arguments")
    return args


def _describe(node: dict) -> str:
    kind, sub = str(node.get("class")), str(node.get("type"))
    names = {"SUBQUERY": "a subquery", "WINDOW": "a window function", "STAR": "*", "LAMBDA": "a lambda",
             "COLLATE": "COLLATE", "POSITIONAL_REFERENCE": "a positional reference (#n)"}
    return names.get(kind) or f"{kind.lower()} {sub.lower()}"


def _operator_name(name: str) -> str:
    return {"~~": "LIKE", "!~~": "NOT LIKE", "~~*": "ILIKE", "!~~*": "NOT ILIKE", "~~~": "GLOB",
            "!~~~": "NOT GLOB"}.get(name, name + "()")
