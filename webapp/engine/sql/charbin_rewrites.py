"""Text and binary values where DuckDB differs: fixed-length casts and byte functions.

- ``CHAR`` without a length is ``CHAR(1)`` (the SQL standard's default, which Calcite follows), so
  ``CAST(x AS CHAR)`` keeps one character; DuckDB's ``CHAR`` is an unbounded text.
- ``BINARY(n)`` is ``n`` bytes and ``BINARY`` is ``BINARY(1)``: a cast cuts a longer value and pads a shorter one
  with zero bytes; DuckDB's ``BLOB`` takes no length (and refuses ``BLOB(n)``).
- A string function applied to a value of another type reads it as text, the way ``CAST(x AS VARCHAR)`` writes
  it (Calcite's implicit cast): ``UPPER(uuid)``, ``LEFT(int, 2)``, ``INITCAP(bool)`` (``TRUE``/``FALSE``), a
  binary as its hex digits in ``CONCAT``/``CONCAT_WS``; DuckDB's string functions take only text. An ARRAY,
  MAP or ROW argument (and a binary one to ``TRIM``) is refused at compile time in Calcite's words. ``LEFT``,
  ``RIGHT``, ``SUBSTRING`` and ``POSITION`` of a binary work on bytes (slices). The argument types come from
  translate's typing pass (``note_types``).
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


# String functions and the arguments they read as text.
_TEXT_ARGS: dict[type, tuple[str, ...]] = {
    exp.Ascii: ("this",), exp.Left: ("this",), exp.Right: ("this",), exp.Initcap: ("this",), exp.Length: ("this",),
    exp.Lower: ("this",), exp.Upper: ("this",), exp.Substring: ("this",), exp.Trim: ("this",),
    exp.StrPosition: ("this", "substr"), exp.MD5: ("this",), exp.Replace: ("this",), exp.Repeat: ("this",),
    exp.RegexpReplace: ("this",), exp.RegexpLike: ("this",), exp.Split: ("this",), exp.Overlay: ("this",),
    exp.Concat: ("expressions",), exp.ConcatWs: ("expressions",),
}
TYPED = tuple(_TEXT_ARGS)
_TEXT = {T.VARCHAR, T.CHAR, T.TEXT, T.NVARCHAR, T.NCHAR, T.UNKNOWN, T.NULL, T.VARIANT, T.JSON}
_COMPOUND = {T.ARRAY, T.LIST, T.MAP, T.STRUCT}


_SHOWN = {T.STRUCT: "ROW", T.LIST: "ARRAY", T.BLOB: "VARBINARY"}  # the reference's type names


class ArgumentTypeError(ValueError):
    """A string function given an argument it cannot read as text; ``node`` locates the call."""

    def __init__(self, node: exp.Expr, types: list):
        super().__init__("argument types")
        self.node, self.types = node, types

    def message(self, name: str) -> str:
        """Calcite's message, with the function as the user spelled it."""
        if isinstance(self.node, exp.StrPosition):
            return "Parameters must be of the same type"
        shown = ", ".join(f"<{_SHOWN.get(t, t.name)}>" for t in self.types)
        return f"Cannot apply '{name.upper()}' to arguments of type '{name.upper()}({shown})'"
_BYTES = {T.BINARY, T.VARBINARY, T.BLOB}
# POSITION of bytes in bytes: the first offset whose slice equals the needle, 0 when none.
_BYTES_POSITION = template("CASE WHEN __h IS NULL OR __n IS NULL THEN NULL ELSE "
                           "coalesce(list_position(list_transform(range(1, octet_length(__h) + 1), "
                           "lambda i: (__h)[i:i + octet_length(__n) - 1] = __n), true), 0) END")
_SLICES = {
    exp.Left: template("(__b)[1:__n]"),
    exp.Right: template("(__b)[greatest(octet_length(__b) - __n + 1, 1):]"),
}


def note_types(node: exp.Expr, typed: exp.Expr) -> None:
    """Keep on ``node`` the types of its text arguments, read from ``typed`` (its typed copy)."""
    types = []
    for key in _TEXT_ARGS[type(node)]:
        arg = typed.args.get(key)
        for a in arg if isinstance(arg, list) else [arg]:
            types.append(a.type.this if a is not None and a.type is not None else T.UNKNOWN)
    node.meta["arg_types"] = types


def _as_text(arg: exp.Expr, t) -> exp.Expr:
    if t == T.BOOLEAN:
        return exp.Case(ifs=[exp.If(this=arg, true=exp.Literal.string("TRUE")),
                             exp.If(this=exp.Not(this=arg.copy()), true=exp.Literal.string("FALSE"))])
    if t in _BYTES:
        return exp.Lower(this=exp.Anonymous(this="hex", expressions=[arg]))
    return exp.Cast(this=arg, to=exp.DataType.build("VARCHAR"))


def _implicit_text(node: exp.Expr) -> exp.Expr | None:
    types = node.meta.pop("arg_types", None)
    if not types or all(t in _TEXT for t in types):
        return None
    if any(t in _COMPOUND for t in types) or (isinstance(node, exp.Trim) and types[0] in _BYTES):
        raise ArgumentTypeError(node, types)
    if type(node) in _SLICES and types[0] in _BYTES:
        return fill(_SLICES[type(node)], b=node.this, n=node.expression)
    if isinstance(node, exp.StrPosition) and types[0] in _BYTES:
        return fill(_BYTES_POSITION, h=node.this, n=node.args["substr"])
    if isinstance(node, exp.Substring) and types[0] in _BYTES and not isinstance(node.this, exp.Literal):
        start = node.args.get("start") or exp.Literal.number(1)
        length = node.args.get("length")
        if length is None:
            return exp.Bracket(this=exp.Paren(this=node.this), expressions=[exp.Slice(this=start, expression=None)])
        return fill(template("(__b)[__s:__s + __l - 1]"), b=node.this, s=start, l=length)
    i = 0
    for key in _TEXT_ARGS[type(node)]:
        arg = node.args.get(key)
        for a in arg if isinstance(arg, list) else [arg]:
            t = types[i]
            i += 1
            if a is not None and t not in _TEXT:
                a.replace(_as_text(a.copy(), t))
    return None  # changed in place, so translate's own rewrites of the function still apply


def rewrite(node: exp.Expr) -> exp.Expr | None:
    """The DuckDB form of ``node`` for the cases above, or None when ``node`` is not one of them."""
    if isinstance(node, TYPED) and node.meta.get("arg_types"):
        done = _implicit_text(node)
        if done is not None:
            return done
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


__all__ = ["rewrite", "note_types", "TYPED", "ArgumentTypeError"]
