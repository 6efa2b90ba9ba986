"""The reference's "Comparison Operations" where DuckDB differs: ``GREATEST``/``LEAST`` are NULL "if any
argument is NULL" in Feldera (DuckDB skips NULLs), and ``GREATEST_IGNORE_NULLS``/``LEAST_IGNORE_NULLS`` are
what DuckDB's ``greatest``/``least`` do ("only if all arguments are NULL, the result is NULL")."""

from __future__ import annotations

from sqlglot import exp

_IGNORING = {"GREATEST_IGNORE_NULLS": "greatest", "LEAST_IGNORE_NULLS": "least"}


def rewrite(node: exp.Expr) -> exp.Expr | None:
    """The DuckDB form of a Feldera comparison function, or None when ``node`` is not one."""
    if isinstance(node, exp.Anonymous) and node.name.upper() in _IGNORING:
        return exp.Anonymous(this=_IGNORING[node.name.upper()], expressions=node.expressions)
    if isinstance(node, (exp.Greatest, exp.Least)) and not node.meta.get("nulls_checked"):
        args = [node.this, *node.expressions]
        any_null = exp.or_(*[exp.Is(this=a.copy(), expression=exp.Null()) for a in args])
        inner = node.copy()
        inner.meta["nulls_checked"] = True
        return exp.Case(ifs=[exp.If(this=any_null, true=exp.Null())], default=inner)
    return None


__all__ = ["rewrite"]
