"""Text and binary values where DuckDB differs: fixed-length casts and byte functions.

- ``CHAR`` without a length is ``CHAR(1)`` (the SQL standard's default, which Calcite follows), so
  ``CAST(x AS CHAR)`` keeps one character; DuckDB's ``CHAR`` is an unbounded text.
- ``BINARY(n)`` is ``n`` bytes and ``BINARY`` is ``BINARY(1)``: a cast cuts a longer value and pads a shorter one
  with zero bytes; DuckDB's ``BLOB`` takes no length (and refuses ``BLOB(n)``).
- ``TO_HEX`` writes lower-case digits, ``OCTET_LENGTH`` also counts a string's (UTF-8) bytes and ``TO_INT`` reads
  the first 4 bytes (fewer if there are fewer) as a big-endian signed integer, of a string's bytes too. DuckDB's
  ``hex`` takes both a string and a BLOB, so each is written over it.
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
    return None


__all__ = ["rewrite"]
