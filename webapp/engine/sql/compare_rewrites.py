"""Comparisons where DuckDB differs from Feldera.

- A ``ROW(...)`` constructor compared with a ROW value (``r = ROW(4, 'cat')``, ``<``, ``>=``, ...) is compared
  field by field in order (Calcite's rule). ``compound_rewrites`` names a constructor's fields ``EXPR$0``, ...,
  and DuckDB does not find a ROW column's fields among those names, so here the constructor stays unnamed:
  DuckDB compares an unnamed ROW by position.
- Comparing an ARRAY, MAP or ROW with a value of another kind is refused at compile time in Calcite's words;
  DuckDB compiles ``map = array`` and fails only when a row arrives, which would stop the pipeline. So is a set
  operation (``UNION``, ``INTERSECT``, ``EXCEPT``) whose branches hold such values of different kinds in one column
  ("Type mismatch in column 1 of INTERSECT", Feldera's ``illarg_tests/test_grammar_tbl_fn.py``).
- ``GREATEST``/``LEAST`` are NULL "if any argument is NULL" in Feldera (DuckDB skips NULLs), and
  ``GREATEST_IGNORE_NULLS``/``LEAST_IGNORE_NULLS`` are what DuckDB's ``greatest``/``least`` do ("only if all
  arguments are NULL, the result is NULL").
"""

from __future__ import annotations

from sqlglot import exp

from .charbin_rewrites import ArgumentTypeError
from .compound_rewrites import is_map_literal

T = exp.DataType.Type
_COMPARISONS = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.NullSafeEQ, exp.NullSafeNEQ)
_SET_OPERATIONS = (exp.Union, exp.Intersect, exp.Except)
TYPED = _COMPARISONS + _SET_OPERATIONS
_OPERATORS = {exp.EQ: "=", exp.NEQ: "<>", exp.GT: ">", exp.GTE: ">=", exp.LT: "<", exp.LTE: "<=",
              exp.NullSafeEQ: "IS NOT DISTINCT FROM", exp.NullSafeNEQ: "IS DISTINCT FROM"}
_KINDS = {T.ARRAY: "ARRAY", T.LIST: "ARRAY", T.MAP: "MAP", T.STRUCT: "ROW"}
_ANY = {None, T.UNKNOWN, T.NULL, T.VARIANT, T.JSON}
_IGNORING = {"GREATEST_IGNORE_NULLS": "greatest", "LEAST_IGNORE_NULLS": "least"}


class ComparisonTypeError(ArgumentTypeError):
    """A comparison of an ARRAY, MAP or ROW with a value of another kind; ``node`` locates it."""

    def message(self, name: str) -> str:
        op = _OPERATORS[type(self.node)]
        a, b = (f"<{_KINDS.get(t, t.name)}>" for t in self.types)
        return f"Cannot apply '{op}' to arguments of type '{a} {op} {b}'"


class SetOperationTypeError(ArgumentTypeError):
    """A set operation whose branches hold an ARRAY, MAP or ROW and a value of another kind in one column."""

    def message(self, name: str) -> str:
        return f"Type mismatch in column {self.types} of {self.node.key.upper()}"


def _kinds_differ(a, b) -> bool:
    return not ({a, b} & _ANY) and (a in _KINDS or b in _KINDS) and _KINDS.get(a, a) != _KINDS.get(b, b)


def note_types(node: exp.Expr, typed: exp.Expr) -> None:
    """Keep on ``node`` the types of its two sides, read from ``typed`` (its typed copy); a ``MAP[...]`` literal,
    which the typer cannot follow, is a MAP. For a set operation, the first column whose kinds differ."""
    if isinstance(node, _SET_OPERATIONS):
        left, right = ([e.type.this if e.type is not None else None for e in side.selects]
                       for side in (typed.left, typed.right))
        node.meta["mismatch"] = next((i + 1 for i, (a, b) in enumerate(zip(left, right)) if _kinds_differ(a, b)),
                                     None)
        return
    node.meta["side_types"] = [T.MAP if is_map_literal(s) else t.type.this if t is not None and t.type is not None
                               else None for s, t in ((node.this, typed.this), (node.expression, typed.expression))]


def rewrite(node: exp.Expr) -> exp.Expr | None:
    """The DuckDB form of ``node`` for the cases above, or None when ``node`` is not one of them."""
    if isinstance(node, _SET_OPERATIONS) and node.meta.get("mismatch"):
        raise SetOperationTypeError(node, node.meta["mismatch"])
    sides = node.meta.pop("side_types", None) if isinstance(node, _COMPARISONS) else None
    if sides and _kinds_differ(*sides):
        raise ComparisonTypeError(node, sides)
    if isinstance(node, exp.Anonymous) and str(node.this).upper() == "ROW" and isinstance(node.parent, _COMPARISONS):
        return exp.Anonymous(this="row", expressions=node.expressions)
    if isinstance(node, exp.Anonymous) and node.name.upper() in _IGNORING:
        return exp.Anonymous(this=_IGNORING[node.name.upper()], expressions=node.expressions)
    if isinstance(node, (exp.Greatest, exp.Least)) and not node.meta.get("nulls_checked"):
        args = [node.this, *node.expressions]
        any_null = exp.or_(*[exp.Is(this=a.copy(), expression=exp.Null()) for a in args])
        inner = node.copy()
        inner.meta["nulls_checked"] = True
        return exp.Case(ifs=[exp.If(this=any_null, true=exp.Null())], default=inner)
    return None


__all__ = ["rewrite", "note_types", "TYPED", "ComparisonTypeError", "SetOperationTypeError"]
