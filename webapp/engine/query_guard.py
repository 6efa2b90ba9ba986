"""What an ad-hoc statement is, and whether it reads only what ``/query`` may read.

Everything here comes from DuckDB's own parser and lexer (``extract_statements``, ``tokenize``,
``json_serialize_sql``), never from string matching on the user's SQL, so comments, nested comments
and escaped strings mean here exactly what they mean to the database that runs the statement.

The rule (docs/api.md, "Ad-hoc queries"): one statement, which is a ``SELECT`` (any form DuckDB
types as SELECT), an ``EXPLAIN [ANALYZE]`` of a ``SELECT``, or ``INSERT INTO table [(columns)] <query>``.
A read may name only the pipeline's tables and non-``LOCAL`` views (unqualified, or in ``main``),
its own CTEs, and the row-generating table functions in ``TABLE_FUNCTIONS``.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import orjson

from .errors import AdHocQueryError
from .sql import _clean_duck_message, _duck_error_offset
from .sql.names import user

INTERNAL_PREFIX = "__sluice"
# Table functions make rows from their arguments alone; every other one reads files, settings or the
# catalog (duckdb_tables(), query_table('__sluice_...'), query('...')), which are not the read surface.
TABLE_FUNCTIONS = frozenset({"range", "generate_series", "unnest"})


@dataclass(frozen=True)
class Surface:
    """The names a read may use: ``readable`` (tables and non-LOCAL views), ``local`` (LOCAL views),
    ``catalog`` (every table and view DuckDB resolves without a schema, internal ones included)."""

    readable: frozenset[str]
    local: frozenset[str]
    catalog: frozenset[str]


def surface(cur, program) -> Surface:
    rows = cur.execute(
        "SELECT table_name FROM duckdb_tables() UNION ALL "
        "SELECT view_name FROM duckdb_views() WHERE schema_name <> 'information_schema'").fetchall()
    # DuckDB's names for them (sql/names.py): the guard reads DuckDB's parse of the statement.
    readable = {t.internal for t in program.tables} | {v.internal for v in program.views if v.kind != "local_view"}
    local = {v.internal for v in program.views if v.kind == "local_view"}
    return Surface(frozenset(n.lower() for n in readable), frozenset(n.lower() for n in local),
                   frozenset(r[0].lower() for r in rows))


def error_details(msg: str, sql: str) -> dict:
    """``{"sql"}``, plus ``line`` and ``column`` (1-based) where DuckDB's message points at a place."""
    details: dict = {"sql": sql}
    at = _duck_error_offset(msg, sql)
    if at is not None:
        before = sql[:at]
        details["line"] = before.count("\n") + 1
        details["column"] = at - (before.rfind("\n") + 1) + 1
    return details


def statement_kind(st) -> str:
    try:
        return st.type.name
    except ValueError:  # a kind this DuckDB's Python API has no name for (UPDATE EXTENSIONS)
        return "UNKNOWN"


def statements(sql: str) -> list:
    """DuckDB's statements for ``sql``; raises AdHocQueryError when it does not parse."""
    try:
        return duckdb.extract_statements(sql)
    except duckdb.Error as e:
        raise AdHocQueryError(_clean_duck_message(str(e)), error_details(str(e), sql)) from None


def _refuse(name: str) -> AdHocQueryError:
    return AdHocQueryError(f"{name} statements are not allowed here: ad-hoc queries may only SELECT "
                           "(or EXPLAIN a SELECT), or INSERT INTO a table", {"statement_type": name})


def classify(sql: str) -> str:
    """'select' | 'insert' for the one statement in ``sql``; raises AdHocQueryError for anything else.

    Several statements are refused even when each would be allowed: a request is one statement, so that
    an INSERT is never half applied and a read never runs next to something else."""
    stmts = statements(sql)
    if len(stmts) != 1:
        kinds = ", ".join(statement_kind(s) for s in stmts)
        raise AdHocQueryError(f"send exactly one statement (found {len(stmts)}: {kinds})", {"sql": sql})
    kind = statement_kind(stmts[0])
    if kind == "SELECT":
        return "select"
    if kind == "INSERT":
        return "insert"
    if kind == "EXPLAIN":
        kinds = [k for k, _ in explained(sql)]
        bad = [k for k in kinds if k != "SELECT"]
        if not kinds or bad:
            raise AdHocQueryError(f"EXPLAIN of {bad[0] if bad else 'this statement'} is not allowed here: "
                                  "only a SELECT may be explained (EXPLAIN ANALYZE runs the statement)",
                                  {"statement_type": "EXPLAIN", "explained_statement_type": bad[0] if bad else None})
        return "select"
    raise _refuse(kind)


def tokens(sql: str) -> list[tuple[int, int, str]]:
    """DuckDB's tokens without comments, as ``(start, end, kind)``; ``end`` excludes trailing space."""
    raw = duckdb.tokenize(sql)
    out = []
    for i, (pos, kind) in enumerate(raw):
        end = raw[i + 1][0] if i + 1 < len(raw) else len(sql)
        kind = str(kind).split(".")[-1]
        if kind != "comment":
            out.append((pos, len(sql[:end].rstrip()), kind))
    return out


def explained(sql: str) -> list[tuple[str, str]]:
    """``(statement kind, text)`` for each statement an ``EXPLAIN [ANALYZE] [(options)] <statement>``
    could be explaining.

    Each way of reading what follows EXPLAIN (after ANALYZE, after an option list) that parses as one
    statement counts, so that an ambiguous text is allowed only when every reading is a SELECT."""
    toks = tokens(sql)

    def text(k: int) -> str:
        return sql[toks[k][0]:toks[k][1]]

    starts = [1]  # past EXPLAIN
    i = 1
    if i < len(toks) and text(i).upper() in ("ANALYZE", "ANALYSE"):
        i += 1
        starts.append(i)
    if i < len(toks) and text(i) == "(":
        depth = 0
        for j in range(i, len(toks)):
            depth += (text(j) == "(") - (text(j) == ")")
            if depth == 0:
                starts.append(j + 1)
                break
    out = []
    for s in starts:
        if s >= len(toks):
            continue
        inner = sql[toks[s][0]:]
        try:
            stmts = duckdb.extract_statements(inner)
        except (duckdb.Error, ValueError):
            continue
        if len(stmts) == 1:
            out.append((statement_kind(stmts[0]), inner))
    return out


# -- the read surface ------------------------------------------------------------------------------

def _catalog_macros(cur) -> frozenset[str]:
    """DuckDB's built-in macros that read its catalog (``pg_get_viewdef`` shows a LOCAL view's SQL)."""
    rows = cur.execute("SELECT DISTINCT function_name FROM duckdb_functions() WHERE internal AND "
                       "function_type LIKE '%macro%' AND macro_definition LIKE '%duckdb\\_%' ESCAPE '\\'").fetchall()
    return frozenset(r[0].lower() for r in rows)


def check_read(cur, sql: str, surf: Surface) -> None:
    """Raise AdHocQueryError unless the SELECT ``sql`` reads only the read surface."""
    raw = cur.execute("SELECT json_serialize_sql(?)", [sql]).fetchone()[0]
    tree = orjson.loads(raw)
    if tree.get("error"):
        raise AdHocQueryError(f"this query cannot be checked, so it is not run: {tree.get('error_message')}",
                              {"sql": sql})
    _walk(tree, frozenset(), surf, _catalog_macros(cur), sql)


def _where(sql: str, node: dict) -> dict:
    details: dict = {"sql": sql}
    at = node.get("query_location")
    if isinstance(at, int) and 0 <= at < len(sql):
        before = sql[:at]
        details["line"] = before.count("\n") + 1
        details["column"] = at - (before.rfind("\n") + 1) + 1
    return details


def _walk(node, ctes: frozenset[str], surf: Surface, macros: frozenset[str], sql: str) -> None:
    if isinstance(node, list):
        for x in node:
            _walk(x, ctes, surf, macros, sql)
        return
    if not isinstance(node, dict):
        return
    cte_map = node.get("cte_map")
    if isinstance(cte_map, dict):
        names = {e["key"].lower() for e in cte_map.get("map", [])}
        for n in names:
            if n in surf.catalog and n not in surf.readable:
                # A CTE may not borrow an object's name: a reference outside its scope would reach the object.
                raise AdHocQueryError(f"a CTE may not be called '{n}': the name belongs to an object "
                                      "that cannot be queried", {"sql": sql})
        ctes = ctes | names
    if "class" not in node:
        kind = node.get("type")
        if kind == "BASE_TABLE":
            _check_table(node, ctes, surf, sql)
        elif kind == "TABLE_FUNCTION":
            fn = (node.get("function") or {}).get("function_name", "").lower()
            if fn not in TABLE_FUNCTIONS:
                raise AdHocQueryError(f"the table function {fn}() cannot be used here: ad-hoc queries read the "
                                      f"pipeline's tables and views, and rows from {', '.join(sorted(TABLE_FUNCTIONS))}",
                                      _where(sql, node))
        elif kind == "SHOW_REF" and node.get("table_name"):
            raise AdHocQueryError("SHOW lists the engine's internal objects and cannot be used here: the "
                                  "pipeline's tables and views are in GET /v0/pipelines/{name}", _where(sql, node))
    elif node.get("class") == "FUNCTION" and node.get("function_name", "").lower() in macros:
        raise AdHocQueryError(f"{node['function_name']}() reads the database catalog and cannot be used here",
                              _where(sql, node))
    for v in node.values():
        if isinstance(v, (dict, list)):
            _walk(v, ctes, surf, macros, sql)


def _check_table(node: dict, ctes: frozenset[str], surf: Surface, sql: str) -> None:
    low = node.get("table_name", "").lower()
    name = user(node.get("table_name", ""))  # as the user wrote it, for messages
    catalog, schema = node.get("catalog_name", "").lower(), node.get("schema_name", "").lower()
    if low.startswith(INTERNAL_PREFIX):
        raise AdHocQueryError(f"'{name}' is internal to the engine and cannot be queried", _where(sql, node))
    if low in surf.local:
        raise AdHocQueryError(f"'{name}' is a LOCAL view: it is not visible outside the program", _where(sql, node))
    if catalog not in ("", "memory") or schema not in ("", "main"):
        shown = ".".join(p for p in (catalog, schema, name) if p)
        raise AdHocQueryError(f"'{shown}' cannot be queried: ad-hoc queries read the pipeline's own tables "
                              "and views (unqualified, or in main)", _where(sql, node))
    if low in surf.readable or (not catalog and not schema and low in ctes):
        return
    if low in surf.catalog:
        raise AdHocQueryError(f"'{name}' is not a table or view of the pipeline and cannot be queried",
                              _where(sql, node))
    # Not an object at all: DuckDB's binder answers with its own message ("did you mean ...").


__all__ = ["Surface", "surface", "classify", "statements", "tokens", "explained", "check_read", "statement_kind",
           "error_details", "TABLE_FUNCTIONS"]
