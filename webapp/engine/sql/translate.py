"""A view body from Feldera's SQL to DuckDB's, as a rewrite of the parsed tree.

Runs once per program, at compile time; steps only ever see the DuckDB text it produces (``Relation.sql``),
which the incremental planner also reads. Each rewrite below is a place where DuckDB and Feldera disagree:

- names: unquoted identifiers fold to lower case, quoted ones keep theirs, and each is written in its internal
  spelling (``names.internal``) so that names differing only in case stay apart in DuckDB;
- unnamed output columns are named as Calcite names them (``EXPR$0``, ``EXPR$1``, ...);
- ``/`` of two integers is an integer division (Calcite), ``//`` in DuckDB;
- ``AVG`` of an integer is an integer of the argument's type (Feldera's aggregates keep the value's type);
- ``ARRAY_AGG`` of no rows is ``[]``;
- ``ROUND`` of a REAL or DOUBLE rounds half to even ("Bankers Rounding" in Feldera's reference);
- ``COUNT(a, b)`` counts rows where every argument is not NULL; ``LOG(value, base)`` takes the base second;
- string functions at their documented edges: ``CHR`` of a bad code is ``''``, ``CONCAT_WS`` writes a NULL
  argument as ``''``, ``SPLIT('')`` is ``[]`` and an empty delimiter keeps the string whole,
  ``REGEXP_REPLACE`` replaces every match and reads ``$n`` in the replacement;
- Feldera's names for DuckDB's functions (``IS_INF``, ``IS_NAN``, ``TRUNCATE``, ``BROUND``) and the trigonometric ones
  DuckDB lacks (``SEC``, ``CSC``, ``SECH``, ``CSCH``, ``COTH``);
- dates and times: see ``datetime_rewrites``; arrays: see ``array_rewrites``; MAP, ROW and VARIANT: see
  ``compound_rewrites``; DECIMAL division, aggregate result types and casts to floats: see
  ``numeric_rewrites``; ``ARG_MAX``/``ARG_MIN``: see ``aggregate_rewrites``; ``TUMBLE``/``HOP``: see
  ``window_rewrites``; ``ASOF JOIN``: see ``join_rewrites``; ``GREATEST``/``LEAST`` and NULLs: see
  ``compare_rewrites``;
- an interval cast to text is written in its qualifier's fields (``interval_text``);
- ``CAST(x AS CHAR(n))`` pads or cuts to ``n`` characters, ``CAST(x AS VARCHAR(n))`` cuts (DuckDB ignores ``n``);
  a fractional number cast to an integer is truncated, a bad date string is NULL, numbers and TIMESTAMPs
  convert through milliseconds since the epoch (``_cast``).
"""

from __future__ import annotations

import re

from sqlglot import exp
from sqlglot.errors import OptimizeError
from sqlglot.optimizer.annotate_types import annotate_types
from sqlglot.optimizer.qualify_columns import qualify_columns
from sqlglot.schema import MappingSchema

from ..catalog import Relation
from . import (aggregate_rewrites, argument_rewrites, array_rewrites, charbin_rewrites, compare_rewrites,
               compound_rewrites, datetime_rewrites, interval_text, join_rewrites, numeric_rewrites,
               nullability, window_rewrites)
from .names import internal_identifiers

T = exp.DataType.Type


class Translation:
    """What the rewrite knows about a program so far: the relations declared before the view being read."""

    def __init__(self, code: str):
        self.code = code
        self.schema: dict[str, dict[str, str]] = {}
        self.nullable: dict[str, dict[str, bool]] = {}  # relation -> column -> can it hold NULL
        self.functions: dict = {}  # name -> udf.SqlFunction, in declaration order
        # relation -> its interval columns' qualifiers (interval_text); those of the view being read last
        self.intervals: dict[str, dict[str, interval_text.Qualifier]] = {}
        self.pending_intervals: dict[str, interval_text.Qualifier] = {}
        # per output column of the view being read last, whether it can be NULL (None: not followed)
        self.pending_nullable: list[bool] | None = None

    def add(self, rel: Relation) -> None:
        self.schema[rel.internal] = {c.internal: c.type.duckdb() for c in rel.columns}
        self.nullable[rel.internal] = {c.internal: c.type.nullable for c in rel.columns}
        self.intervals[rel.internal], self.pending_intervals = self.pending_intervals, {}


def view_query(query: exp.Expr, tr: Translation) -> tuple[str, set[str]]:
    """(DuckDB text of the view body, names of the relations it reads). ``query`` is not changed."""
    q = aggregate_rewrites.null_treatment(query.copy())
    _fold_identifiers(q)
    deps = {t.name for t in q.find_all(exp.Table)}
    _name_outputs(q)
    internal_identifiers(q)
    window_rewrites.check_time_columns(q, tr.schema)
    typed = _typed(q, tr)
    _mark_types(q, typed)
    tr.pending_nullable = nullability.outputs(typed, tr.nullable) if typed is not None else None
    known = interval_text.known_columns(q, tr.intervals)
    interval_text.mark_casts(q, known)
    tr.pending_intervals = interval_text.outputs(q, known)
    q = _bottom_up(q, _rewrite)
    return q.sql(dialect="duckdb"), deps


def _bottom_up(root: exp.Expr, fn) -> exp.Expr:
    """``root`` with ``fn`` applied to every node, children before parents, so nested calls are all rewritten
    (sqlglot's ``transform`` does not descend into a node it has just replaced)."""
    for node in reversed(list(root.walk(bfs=False))):
        new = fn(node)
        if new is not node:
            if node is root:
                root = new
            else:
                node.replace(new)
    return root


def _fold_identifiers(q: exp.Expr) -> None:
    for ident in q.find_all(exp.Identifier):
        if not ident.quoted:
            ident.set("this", ident.this.lower())


def _name_outputs(q: exp.Expr) -> None:
    """Calcite names an output column after the column it is, else ``EXPR$<position>``; a repeated column name
    is made unique as Calcite makes it."""
    first = q
    while isinstance(first, exp.SetOperation):
        first = first.this
    if not isinstance(first, exp.Select):
        return
    used: set[str] = set()
    for i, e in enumerate(first.expressions):
        if isinstance(e, (exp.Column, exp.Dot)) and e.output_name:
            # A name taken by an earlier column gets Calcite's suffix (`i1`, then `i10`); DuckDB's would be `i1_1`.
            name, k = e.output_name, 0
            while name in used:
                name, k = f"{e.output_name}{k}", k + 1
            if name != e.output_name:
                e.replace(exp.alias_(e.copy(), exp.to_identifier(name, quoted=True)))
            used.add(name)
            continue
        if isinstance(e, (exp.Alias, exp.Star)):
            used.add(e.output_name)
            continue
        e.replace(exp.alias_(e.copy(), exp.to_identifier(f"EXPR${i}", quoted=True)))


_TYPED_FAMILIES = (charbin_rewrites, compare_rewrites, datetime_rewrites, compound_rewrites)  # each keeps the argument types its rewrites need
_TYPED = (exp.Div, exp.Round, exp.Avg, exp.Cast, *numeric_rewrites.TYPED, *argument_rewrites.TYPED) \
    + tuple(t for f in _TYPED_FAMILIES for t in f.TYPED)


def _typed(q: exp.Expr, tr: Translation) -> exp.Expr | None:
    """A qualified copy of ``q`` with sqlglot's types; ``None`` for a query the typer cannot follow (it keeps
    DuckDB's semantics and nullable columns; DuckDB's binder reports real errors)."""
    try:
        schema = MappingSchema(tr.schema, dialect="duckdb", normalize=False)
        typed = qualify_columns(q.copy(), schema=schema)
        annotate_types(typed, schema=schema)
    except (OptimizeError, ValueError, KeyError):
        return None
    return typed


def _mark_types(q: exp.Expr, typed: exp.Expr | None) -> None:
    """Mark each ``/`` of two integers and each ``ROUND`` of a float, found on the typed copy."""
    nodes = [n for n in q.walk(bfs=False) if isinstance(n, _TYPED)]
    if not nodes or typed is None:
        return
    tnodes = [n for n in typed.walk(bfs=False) if isinstance(n, _TYPED)]
    if [type(n) for n in tnodes] != [type(n) for n in nodes]:
        return
    for n, tn in zip(nodes, tnodes):
        numeric_rewrites.mark(n, tn)
        if isinstance(n, argument_rewrites.TYPED):
            argument_rewrites.note_types(n, tn)
        family = next((f for f in _TYPED_FAMILIES if isinstance(n, f.TYPED)), None)
        if family is not None:
            family.note_types(n, tn)
        elif isinstance(n, exp.Div):
            if tn.left.is_type(*exp.DataType.INTEGER_TYPES) and tn.right.is_type(*exp.DataType.INTEGER_TYPES):
                n.set("typed", "int")
        elif isinstance(n, exp.Cast):
            if tn.this.type is not None and tn.this.type.this != T.UNKNOWN:
                n.meta["from"] = tn.this.type.this
            elif _indexes_variant(tn.this):
                n.meta["from"] = T.VARIANT
        elif isinstance(n, exp.Avg):
            arg = tn.this.expressions[0] if isinstance(tn.this, exp.Distinct) else tn.this
            if arg is not None and arg.is_type(*exp.DataType.INTEGER_TYPES) and not isinstance(n.parent, exp.Window):
                n.meta["int_type"] = arg.type.copy()
        elif isinstance(n, exp.Round) and tn.this.is_type(T.FLOAT, T.DOUBLE):
            n.meta["float"] = True


def _indexes_variant(node: exp.Expr) -> bool:
    """``v[...]...[...]`` of a VARIANT ``v`` (a VARIANT too; the typer leaves indexing untyped)."""
    if not isinstance(node, exp.Bracket):
        return False
    while isinstance(node, exp.Bracket):
        node = node.this
    return node.is_type(T.VARIANT) or isinstance(node, exp.ParseJSON) \
        or (isinstance(node, exp.Cast) and node.to.this == T.VARIANT)


_RENAMES = {"IS_INF": "isinf", "IS_NAN": "isnan", "TRUNCATE": "trunc", "BROUND": "round_even"}
_RECIPROCALS = {"SEC": "cos", "CSC": "sin", "SECH": "cosh", "CSCH": "sinh", "COTH": "tanh"}


def _rewrite(node: exp.Expr) -> exp.Expr:
    # The first family that claims a node rewrites it: compound before numeric, so a cast from VARIANT
    # keeps VARIANT's never-failing rule; aggregates first, as ARRAY_AGG's order is set in place. Argument
    # types and counts are checked before any of them.
    for family in (argument_rewrites, aggregate_rewrites, charbin_rewrites, compare_rewrites, datetime_rewrites,
                   array_rewrites, compound_rewrites, numeric_rewrites, window_rewrites, join_rewrites):
        done = family.rewrite(node)
        if done is not None:
            return done
    if isinstance(node, exp.Div) and node.args.get("typed") == "int":
        return exp.IntDiv(this=node.left, expression=node.right)
    if isinstance(node, exp.Cast):
        return _cast(node)
    if isinstance(node, exp.Filter) and isinstance(node.this, exp.Avg) and node.this.meta.get("int_type") is not None:
        return _int_avg(node.this, node.expression)
    if isinstance(node, exp.Avg) and node.meta.get("int_type") is not None and not isinstance(node.parent, exp.Filter):
        return _int_avg(node, None)
    agg = node.this if isinstance(node, exp.Filter) else node
    if isinstance(agg, exp.ArrayAgg) and not node.meta.get("empty_is_list") \
            and not isinstance(node.parent, (exp.Filter, exp.Window)):
        # ARRAY_AGG of no rows is an empty array in Feldera, NULL in DuckDB.
        inner = node.copy()
        inner.meta["empty_is_list"] = True
        return exp.Coalesce(this=inner, expressions=[exp.Array(expressions=[])])
    if isinstance(node, exp.Round) and node.meta.get("float"):
        return exp.Anonymous(this="round_even", expressions=[node.this, node.args.get("decimals") or exp.Literal.number(0)])
    if isinstance(node, exp.Chr) and len(node.expressions) == 1:
        code = node.expressions[0]
        ok = exp.Between(this=code.copy(), low=exp.Literal.number(0), high=exp.Literal.number(0x10FFFF))
        return exp.Case(ifs=[exp.If(this=ok, true=exp.Anonymous(this="chr", expressions=[code]))],
                        default=exp.Literal.string(""))
    if isinstance(node, exp.ConcatWs) and node.expressions:
        sep, *parts = node.expressions
        parts = [exp.Coalesce(this=x, expressions=[exp.Literal.string("")]) for x in parts]
        return exp.Case(ifs=[exp.If(this=exp.Is(this=sep.copy(), expression=exp.Null()), true=exp.Null())],
                        default=exp.Anonymous(this="concat_ws", expressions=[sep, *parts]))
    if isinstance(node, exp.Split):
        text, sep = node.this, node.expression
        empty = exp.Array(expressions=[])
        return exp.Case(ifs=[exp.If(this=exp.EQ(this=text.copy(), expression=exp.Literal.string("")), true=empty),
                             exp.If(this=exp.EQ(this=sep.copy(), expression=exp.Literal.string("")),
                                    true=exp.Array(expressions=[text.copy()]))],
                        default=exp.Anonymous(this="string_split", expressions=[text, sep]))
    if isinstance(node, exp.RegexpReplace) and not node.args.get("modifiers"):
        repl = node.args.get("replacement") or exp.Literal.string("")
        if isinstance(repl, exp.Literal) and repl.is_string:
            repl = exp.Literal.string(_dollar_groups(repl.this))
        return exp.Anonymous(this="regexp_replace", expressions=[node.this, node.expression, repl,
                                                                 exp.Literal.string("g")])
    if isinstance(node, exp.Log) and node.expression is not None:
        # Feldera's LOG(value, base) (as parsed: `this` is the value) is DuckDB's log(base, value).
        return exp.Anonymous(this="log", expressions=[node.expression, node.this])
    if isinstance(node, exp.Count) and node.expressions:
        args = [node.this, *node.expressions]
        all_set = exp.and_(*[exp.Not(this=exp.Is(this=a.copy(), expression=exp.Null())) for a in args])
        return exp.Count(this=exp.Case(ifs=[exp.If(this=all_set, true=exp.Literal.number(1))]))
    if isinstance(node, exp.Func) and not isinstance(node, exp.Anonymous) and node.sql_name() in _RECIPROCALS:
        inner = exp.Anonymous(this=_RECIPROCALS[node.sql_name()], expressions=[node.this])
        return exp.Div(this=exp.Literal.number("1.0e0"), expression=inner)
    if isinstance(node, exp.Anonymous):
        name = str(node.this).upper()
        if name in _RENAMES:
            return exp.Anonymous(this=_RENAMES[name], expressions=node.expressions)
        if name in _RECIPROCALS and len(node.expressions) == 1:
            inner = exp.Anonymous(this=_RECIPROCALS[name], expressions=node.expressions)
            return exp.Div(this=exp.Literal.number("1.0e0"), expression=inner)
    return node


def _int_avg(avg: exp.Avg, where: exp.Expr | None) -> exp.Expr:
    """ "The aggregate result type is the same as the type of the value aggregated": an integer average is the
    integer quotient of the exact sum by the count (both under the call's FILTER, if any)."""
    def agg(klass):
        call = klass(this=avg.this.copy())
        return exp.Filter(this=call, expression=where.copy()) if where is not None else call
    return exp.Cast(this=exp.IntDiv(this=agg(exp.Sum), expression=agg(exp.Count)), to=avg.meta["int_type"])


_FRACTIONAL = {T.FLOAT, T.DOUBLE, T.DECIMAL, T.BIGDECIMAL}
_TEXT = {T.VARCHAR, T.CHAR, T.TEXT, T.NVARCHAR, T.NCHAR}
_NUMERIC = _FRACTIONAL | set(exp.DataType.INTEGER_TYPES)


def _cast(node: exp.Cast) -> exp.Expr:
    """Feldera's casts ("Data Type Conversions" and the TIMESTAMP section of the date page)."""
    if node.meta.get("interval_text"):
        return interval_text.text(node.this, node.meta["interval_text"])
    to, src = node.to, node.meta.get("from")
    if to.this in exp.DataType.INTEGER_TYPES and src in _FRACTIONAL:
        # "Conversions from decimal and floating point types to integer types always truncate".
        return node.__class__(this=exp.Anonymous(this="trunc", expressions=[node.this]), to=to)
    if to.this in (T.DATE, T.TIME, T.TIMESTAMP) and src in _TEXT and not isinstance(node, exp.TryCast) \
            and not isinstance(node.this, exp.Literal):  # a bad literal stays a compile error
        # "Casts of strings to DATE, TIME, TIMESTAMP produce the result NULL when the string does not have
        # the correct format."
        return exp.TryCast(this=node.this, to=to)
    if to.this == T.TIMESTAMP and src in _NUMERIC:
        return exp.Anonymous(this="epoch_ms", expressions=[exp.Cast(this=node.this, to=exp.DataType.build("BIGINT"))])
    if src == T.TIMESTAMP and to.this in _NUMERIC:
        # A TIMESTAMP as a number is its milliseconds since the Unix epoch, and back.
        return exp.Cast(this=exp.Anonymous(this="epoch_ms", expressions=[node.this]), to=to)
    if to.this not in (T.CHAR, T.NCHAR, T.VARCHAR, T.NVARCHAR) or not to.expressions:
        return node
    n = to.expressions[0]
    n = n.this if isinstance(n, exp.DataTypeParam) else n
    text = exp.Cast(this=node.this, to=exp.DataType.build("VARCHAR"))
    cut = exp.Anonymous(this="left", expressions=[text, n.copy()])
    if to.this in (T.CHAR, T.NCHAR):
        return exp.Anonymous(this="rpad", expressions=[cut, n.copy(), exp.Literal.string(" ")])
    return cut


def _dollar_groups(repl: str) -> str:
    """Feldera's replacement syntax (``$1``, ``${1}``, ``$$``) in RE2's (``\\1``, ``$``)."""
    out = repl.replace("\\", "\\\\")
    out = re.sub(r"\$\{(\d+)\}|\$(\d)|\$\$", lambda m: "$" if m.group(0) == "$$" else "\\" + (m.group(1) or m.group(2)),
                 out)
    return out


__all__ = ["Translation", "view_query"]
