"""Comparisons where DuckDB differs from Feldera.

- A ``ROW(...)`` constructor compared with a ROW value (``r = ROW(4, 'cat')``, ``<``, ``>=``, ...) is compared
  field by field in order (Calcite's rule). ``compound_rewrites`` names a constructor's fields ``EXPR$0``, ...,
  and DuckDB does not find a ROW column's fields among those names, so here the constructor stays unnamed:
  DuckDB compares an unnamed ROW by position.
"""

from __future__ import annotations

from sqlglot import exp

_COMPARISONS = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.NullSafeEQ, exp.NullSafeNEQ)


def rewrite(node: exp.Expr) -> exp.Expr | None:
    """The DuckDB form of ``node`` for the cases above, or None when ``node`` is not one of them."""
    if isinstance(node, exp.Anonymous) and str(node.this).upper() == "ROW" and isinstance(node.parent, _COMPARISONS):
        return exp.Anonymous(this="row", expressions=node.expressions)
    return None


__all__ = ["rewrite"]
