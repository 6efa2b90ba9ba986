"""DuckDB expressions written once as SQL text with ``__name`` holes, filled with parsed nodes."""

from __future__ import annotations

import sqlglot
from sqlglot import exp


def template(sql: str) -> exp.Expr:
    return sqlglot.parse_one(sql, read="duckdb")


def fill(tree: exp.Expr, **holes: exp.Expr) -> exp.Expr:
    """A copy of ``tree`` with each column ``__name`` replaced by a copy of ``holes[name]``, in parentheses."""
    def put(n: exp.Expr) -> exp.Expr:
        if isinstance(n, exp.Column) and n.name.startswith("__") and n.name[2:] in holes:
            return exp.Paren(this=holes[n.name[2:]].copy())
        return n
    return exp.Paren(this=tree.copy().transform(put))


__all__ = ["template", "fill"]
