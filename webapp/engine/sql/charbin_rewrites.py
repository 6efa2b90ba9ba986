"""Text and binary values where DuckDB differs: fixed-length casts, byte functions, ``ARRAY_AGG``'s order.

- ``CHAR`` without a length is ``CHAR(1)`` (the SQL standard's default, which Calcite follows), so
  ``CAST(x AS CHAR)`` keeps one character; DuckDB's ``CHAR`` is an unbounded text.
- ``BINARY(n)`` is ``n`` bytes and ``BINARY`` is ``BINARY(1)``: a cast cuts a longer value and pads a shorter one
  with zero bytes; DuckDB's ``BLOB`` takes no length (and refuses ``BLOB(n)``).
- ``TO_HEX`` writes lower-case digits, ``OCTET_LENGTH`` also counts a string's (UTF-8) bytes and ``TO_INT`` reads
  the first 4 bytes (fewer if there are fewer) as a big-endian signed integer, of a string's bytes too. DuckDB's
  ``hex`` takes both a string and a BLOB, so each is written over it.
- ``ARRAY_AGG`` without ``ORDER BY``: Feldera aggregates a group's rows in the order of the values the query's
  aggregates read (NULL first), so ``ARRAY_AGG(c2)`` next to ``ARRAY_AGG(c1)`` lists ``c2`` in the order of the
  rows sorted by ``(c1, c2)``, and ``ARRAY_AGG(DISTINCT x)`` lists ``x`` ascending. DuckDB keeps arrival order,
  which for a table is insertion order.
"""

from __future__ import annotations

from sqlglot import exp

from ._template import fill, template

T = exp.DataType.Type

_BYTE_FUNCTIONS = {
    "OCTET_LENGTH": template("length(hex(__x)) // 2"),
    "TO_INT": template("CASE WHEN hex(__x) = '' THEN 0 ELSE CAST(('0x' || left(hex(__x), 8))::BIGINT "
                       "- CASE WHEN length(hex(__x)) >= 8 AND left(hex(__x), 1) >= '8' THEN 4294967296 ELSE 0 END "
                       "AS INTEGER) END"),
}
_BINARY_N = template("CASE WHEN octet_length(__b) >= __n THEN (__b)[1:__n] "
                     "ELSE __b || repeat('\\x00'::BLOB, __n - octet_length(__b)) END")


def rewrite(node: exp.Expr) -> exp.Expr | None:
    """The DuckDB form of ``node`` for the cases above, or None when ``node`` is not one of them."""
    if isinstance(node, exp.Cast) and node.to.this in (T.CHAR, T.NCHAR) and not node.to.expressions:
        # Given its standard length here; translate's CHAR(n) cast then pads or cuts to it.
        node.to.set("expressions", [exp.DataTypeParam(this=exp.Literal.number(1))])
        return None
    if isinstance(node, exp.Cast) and node.to.this == T.BINARY:
        n = node.to.expressions[0] if node.to.expressions else exp.Literal.number(1)
        n = n.this if isinstance(n, exp.DataTypeParam) else n
        blob = node.__class__(this=node.this, to=exp.DataType.build("BLOB"))
        return fill(_BINARY_N, b=blob, n=n)
    if isinstance(node, exp.Hex):
        return exp.Lower(this=exp.Anonymous(this="hex", expressions=[node.this]))
    if isinstance(node, exp.Anonymous) and str(node.this).upper() in _BYTE_FUNCTIONS and len(node.expressions) == 1:
        return fill(_BYTE_FUNCTIONS[str(node.this).upper()], x=node.expressions[0])
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
