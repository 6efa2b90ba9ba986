"""Feldera's ``ARG_MAX(value, compared)`` and ``ARG_MIN(value, compared)`` as DuckDB aggregates.

The reference says they return "a value for one of the rows containing the maximum (minimum) value of compared",
compared with the standard comparisons. Feldera's own aggregate tests (``python/tests/aggregate_tests``,
``test_arg_max.py``/``test_arg_min.py``) pin down what the page leaves open, and Sluice gives the same rows:

- rows whose ``compared`` is NULL take no part (as in ``MAX``);
- ``value`` may be NULL, and a NULL ``value`` is returned when its row wins (DuckDB's ``arg_max`` skips it);
- among rows tied on ``compared``, ``ARG_MAX`` returns the largest ``value`` and ``ARG_MIN`` the smallest, with
  NULL smallest (DuckDB picks any).

So each becomes DuckDB's ``arg_max_null``/``arg_min_null`` ordered by ``(compared, value IS NOT NULL, value)``
under ``FILTER (WHERE compared IS NOT NULL)`` (and the call's own FILTER). ``DISTINCT`` cannot change the result
and is dropped.
"""

from __future__ import annotations

from sqlglot import exp

_DUCK = {exp.ArgMax: "arg_max_null", exp.ArgMin: "arg_min_null"}


def rewrite(node: exp.Expr) -> exp.Expr | None:
    """The DuckDB form of an ``ARG_MAX``/``ARG_MIN`` call (with its FILTER, if any), or None."""
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
    key = exp.Struct(expressions=[
        exp.PropertyEQ(this=exp.to_identifier("k"), expression=compared.copy()),
        exp.PropertyEQ(this=exp.to_identifier("n"), expression=exp.Not(this=exp.Is(this=value.copy(),
                                                                                  expression=exp.Null()))),
        exp.PropertyEQ(this=exp.to_identifier("v"), expression=value.copy()),
    ])
    present = exp.Not(this=exp.Is(this=compared.copy(), expression=exp.Null()))
    cond = present if where is None else exp.and_(exp.Paren(this=where.copy()), present)
    agg = exp.Anonymous(this=_DUCK[type(call)], expressions=[value.copy(), key])
    return exp.Filter(this=agg, expression=exp.Where(this=cond))


__all__ = ["rewrite"]
