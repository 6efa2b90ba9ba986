"""Aggregates where DuckDB differs from Feldera.

- ``ARRAY_AGG`` without ``ORDER BY``: Feldera aggregates a group's rows in the order of the values the query's
  aggregates read (NULL first), so ``ARRAY_AGG(c2)`` next to ``ARRAY_AGG(c1)`` lists ``c2`` in the order of the
  rows sorted by ``(c1, c2)``, and ``ARRAY_AGG(DISTINCT x)`` lists ``x`` ascending. DuckDB keeps arrival order,
  which for a table is insertion order.
- ``EVERY(DISTINCT x)`` and ``SOME(DISTINCT x)``: sqlglot writes DuckDB's ``bool_and`` around a cast that cannot
  hold ``DISTINCT``; AND and OR over the distinct values are AND and OR over all of them, so it is dropped.
"""

from __future__ import annotations

from sqlglot import exp


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


__all__ = ["rewrite"]
