"""What the planner needs from DuckDB and from the AST: binding types, SQL text, column scopes.

``Ctx`` holds, per program, a scratch DuckDB with the program's tables and views: it binds the
types of pieces of a view's query (``describe``), turns AST pieces back into SQL text
(``json_deserialize_sql``) and knows which functions are aggregates or not deterministic. The
rest walks and rewrites DuckDB's JSON AST: column references become positions (``__c3``) of the
rows an operator sees, resolved the way DuckDB's binder resolves them.
"""

from __future__ import annotations

import copy
import json
import re

import duckdb
import pyarrow as pa

from .ops import TypeInfo


class Unsupported(Exception):
    """Raised while planning when the view uses something that is not maintained incrementally."""


_SESSION_FUNCS = {
    "current_connection_id", "current_database", "current_date", "current_localtime", "current_localtimestamp",
    "current_query", "current_query_id", "current_schema", "current_schemas", "current_setting",
    "current_transaction_id", "get_current_time", "get_current_timestamp", "getvariable", "now", "today",
    "transaction_timestamp", "txid_current", "in_search_path", "write_log", "stats", "vector_type",
    "sleep_ms", "current_time", "current_timestamp", "localtime", "localtimestamp", "current_user", "user",
    "session_user", "current_role", "current_catalog",
}
_EXPR_CLASSES = {"BETWEEN", "CASE", "CAST", "COLUMN_REF", "COMPARISON", "CONJUNCTION", "CONSTANT", "FUNCTION",
                 "OPERATOR", "TYPE"}
_KINDS = {
    "BOOLEAN": "bool", "TINYINT": "int", "SMALLINT": "int", "INTEGER": "int", "BIGINT": "int", "HUGEINT": "int",
    "UTINYINT": "int", "USMALLINT": "int", "UINTEGER": "int", "UBIGINT": "int", "FLOAT": "float",
    "DOUBLE": "float", "VARCHAR": "str", "DATE": "date", "TIME": "time", "TIMESTAMP": "timestamp",
}
_DEC_RE = re.compile(r"DECIMAL\((\d+),(\d+)\)")
_LOC_KEYS = {"query_location", "query_location_length", "alias"}


class Ctx:
    """Per program: a scratch DuckDB with the program's tables and views, to bind types and to turn
    AST pieces back into SQL; plus what is known about each view (``views``: name -> Analysis)."""

    def __init__(self, program, views: dict):
        self.program = program
        self.views = views
        self.con = duckdb.connect(":memory:", config={"threads": 1})
        for t in program.tables:
            self.con.execute(program.table_ddl(t))
        for v in program.views:
            self.con.execute(program.view_ddl(v))
        rows = self.con.execute("SELECT function_name, function_type, stability FROM duckdb_functions()").fetchall()
        self.aggregates = {n for n, t, _ in rows if t == "aggregate"}
        self.volatile = {n for n, _, s in rows if s == "VOLATILE"} | _SESSION_FUNCS
        self._types: dict[str, TypeInfo | None] = {}
        self._template = json.loads(self.con.execute("SELECT json_serialize_sql('SELECT 1')").fetchall()[0][0])

    def close(self):
        self.con.close()

    # -- SQL text -----------------------------------------------------------------------------
    def statement(self, node: dict) -> str:
        doc = copy.deepcopy(self._template)
        doc["statements"][0]["node"] = node
        return self.con.execute("SELECT json_deserialize_sql(?::JSON)", [json.dumps(doc)]).fetchall()[0][0]

    def expr_sql(self, e: dict) -> str:
        node = copy.deepcopy(self._template["statements"][0]["node"])
        e = dict(e, alias="")
        node["select_list"] = [e]
        text = self.statement(node)
        assert text.startswith("SELECT ")
        return text[len("SELECT "):]

    def constant(self, e: dict) -> tuple[str, object]:
        """A CONSTANT node's (type, value) as DuckDB binds it (``900.5`` is a DECIMAL, ``1e3`` a DOUBLE)."""
        rel = self.con.sql("SELECT " + self.expr_sql(e))
        return str(rel.types[0]), rel.fetchall()[0][0]

    def parse(self, sql: str) -> dict:
        doc = json.loads(self.con.execute("SELECT json_serialize_sql(?)", [sql]).fetchall()[0][0])
        if doc.get("error") or len(doc["statements"]) != 1:
            raise Unsupported(f"DuckDB could not serialize the query: {doc.get('error_message', '')}")
        return doc["statements"][0]["node"]

    def describe(self, sql: str) -> list[tuple[str, str]]:
        try:
            return [(r[0], r[1]) for r in self.con.execute(f"DESCRIBE {sql}").fetchall()]
        except duckdb.Error as e:
            raise Unsupported(f"could not bind part of the query: {e}") from None

    def describe_node(self, node: dict) -> list[tuple[str, str]]:
        return self.describe(self.statement(node))

    def type_info(self, duck: str) -> TypeInfo:
        if duck not in self._types:
            self._types[duck] = self._make_type(duck)
        t = self._types[duck]
        if t is None:
            raise Unsupported(f"values of type {duck} are not maintained incrementally")
        return t

    def _make_type(self, duck: str) -> TypeInfo | None:
        m = _DEC_RE.fullmatch(duck)
        kind = "decimal" if m else _KINDS.get(duck)
        if kind is None:
            return None
        arrow = self.con.sql(f"SELECT CAST(NULL AS {duck}) AS x").to_arrow_table().schema.field(0).type
        self.con.register("__sluice_t", pa.table({"x": pa.array([], type=arrow)}))
        try:
            back = self.con.execute("DESCRIBE SELECT x FROM __sluice_t").fetchall()[0][1]
        finally:
            self.con.unregister("__sluice_t")
        return TypeInfo(duck, arrow, back != duck, kind, int(m.group(2)) if m else 0)

    def types(self, cols: list[tuple[str, str]]) -> list[TypeInfo]:
        return [self.type_info(t) for _, t in cols]


# ---------------------------------------------------------------------------------------------
# Expressions

def walk(e, fn):
    """Call ``fn`` on every expression dict inside ``e`` (depth first, parents first)."""
    if isinstance(e, dict):
        if "class" in e:
            fn(e)
        for k, v in e.items():
            if k != "type_expr":
                walk(v, fn)
    elif isinstance(e, list):
        for x in e:
            walk(x, fn)


def expr_key(e) -> str:
    def strip(o):
        if isinstance(o, dict):
            return {k: strip(v) for k, v in o.items() if k not in _LOC_KEYS}
        if isinstance(o, list):
            return [strip(x) for x in o]
        return o
    return json.dumps(strip(e), sort_keys=True)


def is_agg(ctx: Ctx, e: dict) -> bool:
    return e.get("class") == "FUNCTION" and e.get("function_name", "").lower() in ctx.aggregates \
        and not e.get("schema")


def check_expr(ctx: Ctx, e: dict, allow_agg: bool) -> None:
    def visit(x):
        cls = x["class"]
        if cls not in _EXPR_CLASSES:
            raise Unsupported(f"{cls.lower()} expressions are not maintained incrementally")
        if cls == "FUNCTION":
            name = x.get("function_name", "").lower()
            if name in ctx.volatile:
                raise Unsupported(f"{name}() does not give the same result every time it runs")
            if is_agg(ctx, x) and not allow_agg:
                raise Unsupported(f"aggregate {name}() in this position")
    walk(e, visit)


class Scope:
    """The columns visible in a FROM clause: leaves (alias, column names) over one row layout."""

    def __init__(self, leaves: list[tuple[str, list[str], int]], types: list[TypeInfo]):
        self.leaves = leaves  # (alias, names, offset); names and alias lower-cased
        self.types = types

    def shifted(self, by: int) -> list[tuple[str, list[str], int]]:
        return [(a, n, o + by) for a, n, o in self.leaves]

    def resolve(self, parts: list[str]) -> int:
        parts = [p.lower() for p in parts]
        if len(parts) == 1:
            hits = [o + i for _, names, o in self.leaves for i, n in enumerate(names) if n == parts[0]]
        elif len(parts) == 2:
            hits = [o + i for a, names, o in self.leaves if a == parts[0] for i, n in enumerate(names)
                    if n == parts[1]]
        else:
            hits = []
        if len(hits) != 1:
            raise Unsupported(f"column reference {'.'.join(parts)} is not a plain column of the FROM clause")
        return hits[0]

    def refs(self, e) -> set[int]:
        out: set[int] = set()

        def visit(x):
            if x["class"] == "COLUMN_REF":
                out.add(self.resolve(x["column_names"]))
        walk(e, visit)
        return out


def colref(i: int) -> dict:
    return {"class": "COLUMN_REF", "type": "COLUMN_REF", "alias": "", "query_location": 0,
            "query_location_length": 0, "column_names": [f"__c{i}"]}


def positional(e: dict, scope: Scope) -> dict:
    """A copy of ``e`` with every column reference replaced by its position ``__c{i}``."""
    if isinstance(e, dict):
        if e.get("class") == "COLUMN_REF":
            return colref(scope.resolve(e["column_names"]))
        return {k: positional(v, scope) for k, v in e.items()}
    if isinstance(e, list):
        return [positional(x, scope) for x in e]
    return e


def plain_pos(e: dict) -> int | None:
    if e.get("class") == "COLUMN_REF" and len(e["column_names"]) == 1 and e["column_names"][0].startswith("__c"):
        return int(e["column_names"][0][3:])
    return None


def conjuncts(e: dict) -> list[dict]:
    if e.get("class") == "CONJUNCTION" and e.get("type") == "CONJUNCTION_AND":
        return [c for ch in e["children"] for c in conjuncts(ch)]
    return [e]


def conj(es: list[dict]) -> dict | None:
    if not es:
        return None
    if len(es) == 1:
        return es[0]
    return {"class": "CONJUNCTION", "type": "CONJUNCTION_AND", "alias": "", "query_location": 0,
            "query_location_length": 0, "children": es}


__all__ = ["Unsupported", "Ctx", "Scope", "expr_key", "check_expr", "positional", "is_agg", "walk", "colref",
           "plain_pos", "conjuncts", "conj"]
