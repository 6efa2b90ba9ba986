"""Aggregates where DuckDB differs from Feldera.

``ARG_MAX(value, compared)`` and ``ARG_MIN(value, compared)``: the reference says they return "a value for one
of the rows containing the maximum (minimum) value of compared", compared with the standard comparisons.
Feldera's own aggregate tests (``python/tests/aggregate_tests``, ``test_arg_max.py``/``test_arg_min.py``) pin
down what the page leaves open, and Sluice gives the same rows:

- rows whose ``compared`` is NULL take no part (as in ``MAX``) unless every row's is NULL: then the value of
  such a row is returned (``aggtst_int_arg_max_where_diff_gby``, ``aggtst_date_arg_max_where_gby``);
- ``value`` may be NULL, and a NULL ``value`` is returned when its row wins (DuckDB's ``arg_max`` skips it);
- among rows tied on ``compared``, ``ARG_MAX`` returns the largest ``value`` and ``ARG_MIN`` the smallest, with
  NULL smallest (DuckDB picks any).

So each becomes DuckDB's ``arg_max_null``/``arg_min_null`` ordered by ``(compared is set, compared, value IS NOT
NULL, value)`` (for ``ARG_MIN``, ``compared`` is NULL first, so that a set one sorts lowest), under the call's own
FILTER. ``DISTINCT`` cannot change the result
and is dropped.

``ARRAY_AGG`` without ``ORDER BY``: Feldera aggregates a group's rows in the order of the values the query's
aggregates read (NULL first), so ``ARRAY_AGG(c2)`` next to ``ARRAY_AGG(c1)`` lists ``c2`` in the order of the
rows sorted by ``(c1, c2)``, and ``ARRAY_AGG(DISTINCT x)`` lists ``x`` ascending. DuckDB keeps arrival order,
which for a table is insertion order.

``PERCENTILE_CONT(f) WITHIN GROUP (ORDER BY x)`` is a DOUBLE (Calcite's type for it; DuckDB keeps a DECIMAL
``x``'s type), interpolated between the two values around position ``f * (n - 1)`` of the ordered non-NULL
values; ``PERCENTILE_DISC`` is the first value whose cumulative share reaches ``f``, in ``x``'s type. DuckDB's
``quantile_cont``/``quantile_disc`` compute exactly these, in either direction of the ``ORDER BY``, and are
what sqlglot writes; Feldera's ``aggregate_tests6/test_percentile_*.py`` pin the values down.

``ARRAY_AGG(x IGNORE NULLS)`` leaves out the NULL values of ``x`` ("ARRAY_AGG([ ALL | DISTINCT ] value [ RESPECT
NULLS | IGNORE NULLS ] ...)"; Feldera's ``illarg_ignore_respect_nulls_legal``), ``RESPECT NULLS`` is the default. Of
the other aggregates Calcite refuses both ("Cannot specify IGNORE NULLS or RESPECT NULLS following 'SUM'"); window
functions keep them for DuckDB. This is settled on the parsed tree first (``null_treatment``): sqlglot wraps the
call in a node that the rewrites below would otherwise lose, and DuckDB would ignore.

``EVERY(DISTINCT x)`` and ``SOME(DISTINCT x)``: sqlglot writes DuckDB's ``bool_and`` around a cast that cannot
hold ``DISTINCT``; AND and OR over the distinct values are AND and OR over all of them, so it is dropped.
"""

from __future__ import annotations

from sqlglot import exp

_DUCK = {exp.ArgMax: "arg_max_null", exp.ArgMin: "arg_min_null"}


class NullTreatmentError(ValueError):
    """Raised for IGNORE NULLS or RESPECT NULLS after an aggregate that has no such form; ``node`` locates it."""

    def __init__(self, name: str, node: exp.Expr):
        super().__init__(f"Cannot specify IGNORE NULLS or RESPECT NULLS following '{name}'")
        self.node = node


def null_treatment(q: exp.Expr) -> exp.Expr:
    """``q`` with each ``IGNORE NULLS``/``RESPECT NULLS`` of an ``ARRAY_AGG`` written as a FILTER (or dropped, for the
    default); raises ``NullTreatmentError`` for one after another aggregate outside a window."""
    for node in list(q.find_all(exp.IgnoreNulls, exp.RespectNulls)):
        if node.find_ancestor(exp.Window) is not None:
            continue
        # sqlglot puts the words around the call, or around its argument when a FILTER follows.
        if isinstance(node.this, exp.AggFunc):
            call = node.this
            node.replace(call)
        elif isinstance(node.parent, exp.AggFunc) and node.arg_key == "this":
            call = node.parent
            node.replace(node.this)
        else:
            continue
        if not isinstance(call, exp.ArrayAgg):
            raise NullTreatmentError(call.sql_name().upper(), call)
        if isinstance(node, exp.RespectNulls):
            continue
        value = call.this.this if isinstance(call.this, exp.Order) else call.this
        value = value.expressions[0] if isinstance(value, exp.Distinct) else value
        is_set = exp.Not(this=exp.Is(this=value.copy(), expression=exp.Null()))
        if isinstance(call.parent, exp.Filter):  # ARRAY_AGG(x IGNORE NULLS) FILTER (WHERE c)
            where = call.parent.expression
            cond = where.this if isinstance(where, exp.Where) else where
            call.parent.set("expression", exp.Where(this=exp.and_(cond.copy(), is_set)))
        else:
            call.replace(exp.Filter(this=call.copy(), expression=exp.Where(this=is_set)))
    return q


def rewrite(node: exp.Expr) -> exp.Expr | None:
    """The DuckDB form of ``node`` for the cases above, or None when ``node`` is not one of them."""
    if isinstance(node, (exp.LogicalAnd, exp.LogicalOr)) and isinstance(node.this, exp.Distinct) \
            and len(node.this.expressions) == 1:
        return node.__class__(this=node.this.expressions[0])
    if isinstance(node, exp.ArrayAgg) and not isinstance(node.this, exp.Order) \
            and not isinstance(node.parent, exp.Window):
        # In place, so that translate's own ARRAY_AGG rewrite (no rows give []) still applies.
        ordered = [exp.Ordered(this=k, nulls_first=True) for k in _sort_keys(node)]
        node.set("this", exp.Order(this=node.this, expressions=ordered))
        return None
    call = node.this if isinstance(node, (exp.Filter, exp.Window)) else node
    if isinstance(call, exp.WithinGroup) and isinstance(call.this, exp.PercentileCont) \
            and not isinstance(node.parent, (exp.Filter, exp.Window)):
        return exp.Cast(this=node.copy(), to=exp.DataType.build("DOUBLE"))
    if isinstance(node, exp.Filter) and type(node.this) in _DUCK:
        where = node.expression.this if isinstance(node.expression, exp.Where) else node.expression
        return _arg(node.this, where)
    if type(node) in _DUCK and not isinstance(node.parent, exp.Filter):
        return _arg(node, None)
    return None


def _arg(call: exp.Expr, where: exp.Expr | None) -> exp.Expr:
    value = call.this
    if isinstance(value, exp.Distinct):
        value = value.expressions[0]
    compared = call.expression
    is_null = exp.Is(this=compared.copy(), expression=exp.Null())
    key = exp.Struct(expressions=[
        # A set `compared` beats a NULL one: the greatest for ARG_MAX, the least for ARG_MIN.
        exp.PropertyEQ(this=exp.to_identifier("p"), expression=exp.Not(this=is_null) if isinstance(call, exp.ArgMax)
                       else is_null),
        exp.PropertyEQ(this=exp.to_identifier("k"), expression=compared.copy()),
        exp.PropertyEQ(this=exp.to_identifier("n"), expression=exp.Not(this=exp.Is(this=value.copy(),
                                                                                  expression=exp.Null()))),
        exp.PropertyEQ(this=exp.to_identifier("v"), expression=value.copy()),
    ])
    agg = exp.Anonymous(this=_DUCK[type(call)], expressions=[value.copy(), key])
    return agg if where is None else exp.Filter(this=agg, expression=exp.Where(this=where.copy()))


def _sort_keys(agg: exp.ArrayAgg) -> list[exp.Expr]:
    """The values ``agg`` sees its rows ordered by: its own argument under DISTINCT, else every column the
    enclosing SELECT's aggregates (arguments, then FILTER conditions) read, in order of first appearance."""
    if isinstance(agg.this, exp.Distinct):
        return [e.copy() for e in agg.this.expressions]
    select = agg.find_ancestor(exp.Select)
    if select is None:
        return [agg.this.copy()]
    seen: dict[str, exp.Expr] = {}
    calls = [a for e in select.expressions for a in e.find_all(exp.AggFunc)
             if not isinstance(a.this, exp.Distinct) and a.find_ancestor(exp.Window) is None]
    parts = [a.this for a in calls if a.this is not None] \
        + [a.parent.expression for a in calls if isinstance(a.parent, exp.Filter)]
    for part in parts:
        for col in part.find_all(exp.Column):
            seen.setdefault(col.sql(), col)
    return [c.copy() for c in seen.values()] or [agg.this.copy()]


__all__ = ["NullTreatmentError", "null_treatment", "rewrite"]
