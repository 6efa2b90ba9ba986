"""Feldera's array functions as DuckDB expressions, where DuckDB's function of the same name (or sqlglot's
translation of it) differs from the reference's "Operations on arrays" page: order kept by DISTINCT,
INTERSECT and UNION, 1-based ARRAY_INSERT with NULL padding, ARRAY_POSITION 0 when absent, ELEMENT."""

from __future__ import annotations

from sqlglot import exp

from ._template import fill, template

_DISTINCT = "list_filter(__a, lambda x, i: list_position(__a, x) = i)"
_TEMPLATES = {
    "distinct": template(f"CASE WHEN __a IS NULL THEN NULL ELSE {_DISTINCT} END"),
    "intersect": template("CASE WHEN __a IS NULL OR __b IS NULL THEN NULL ELSE "
                          "list_filter(list_filter(__a, lambda x, i: list_position(__a, x) = i), "
                          "lambda x: list_contains(__b, x)) END"),
    "union": template("CASE WHEN __a IS NULL OR __b IS NULL THEN NULL ELSE "
                      "list_filter(list_concat(__a, __b), lambda x, i: list_position(list_concat(__a, __b), x) = i) END"),
    "insert": template("CASE WHEN __a IS NULL OR __p IS NULL THEN NULL "
                       "WHEN __p = 0 THEN error('ARRAY_INSERT: position 0') "
                       "WHEN __p > 0 THEN list_concat(list_resize(__a[1:__p - 1], __p - 1), [__e], __a[__p:]) "
                       "ELSE list_concat(__a[1:len(__a) + 1 + __p], [__e], __a[len(__a) + 2 + __p:]) END"),
    "position": template("CASE WHEN __a IS NULL OR __e IS NULL THEN NULL "
                         "ELSE coalesce(list_position(__a, __e), 0) END"),
    "repeat": template("CASE WHEN __n IS NULL THEN NULL ELSE list_resize([__e][1:0], greatest(__n, 0), __e) END"),
    "overlap": template("list_has_any(__a, __b)"),
    # The integer page's SEQUENCE(start, end): inclusive, empty when end < start, NULL when an argument is.
    "sequence": template("CAST(generate_series(__s, __e) AS INTEGER[])"),
    "element": template("CASE WHEN len(__a) > 1 THEN error('ELEMENT: the array has more than one element') "
                        "ELSE __a[1] END"),
}


def rewrite(node: exp.Expr) -> exp.Expr | None:
    """The DuckDB form of a Feldera array function node, or None when ``node`` is not one."""
    if isinstance(node, exp.ArrayDistinct):
        return fill(_TEMPLATES["distinct"], a=node.this)
    if isinstance(node, exp.ArrayIntersect) and len(node.expressions) == 2:
        a, b = node.expressions
        return fill(_TEMPLATES["intersect"], a=a, b=b)
    if isinstance(node, exp.ArrayInsert):
        return fill(_TEMPLATES["insert"], a=node.this, p=node.args["position"], e=node.expression)
    if isinstance(node, exp.ArrayPosition):
        return fill(_TEMPLATES["position"], a=node.this, e=node.expression)
    if isinstance(node, exp.Anonymous):
        name, args = str(node.this).upper(), node.expressions
        if name == "ARRAY_UNION" and len(args) == 2:
            return fill(_TEMPLATES["union"], a=args[0], b=args[1])
        if name == "ARRAYS_OVERLAP" and len(args) == 2:
            return fill(_TEMPLATES["overlap"], a=args[0], b=args[1])
        if name == "ARRAY_REPEAT" and len(args) == 2:
            return fill(_TEMPLATES["repeat"], e=args[0], n=args[1])
        if name == "SEQUENCE" and len(args) == 2:
            return fill(_TEMPLATES["sequence"], s=args[0], e=args[1])
        if name == "ELEMENT" and len(args) == 1:
            return fill(_TEMPLATES["element"], a=args[0])
    return None


__all__ = ["rewrite"]
