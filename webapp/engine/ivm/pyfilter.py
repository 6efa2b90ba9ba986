"""A view's WHERE predicate as a Python function of a row, for the few changed rows of a small step.

A small step's filter is mostly DuckDB's fixed cost per statement (about 0.5 ms a query, 2-4 ms for a
registered batch of a few hundred rows), not its data. ``compile_filter`` turns the predicate's AST
(DuckDB's own, from ``json_serialize_sql``, with columns already positional ``__c<i>``) into a closure
once, at plan time, when -- and only when -- every node lies in a subset whose value Python computes
exactly as DuckDB does; anything else gives None and DuckDB keeps evaluating the predicate:

- column references of BOOLEAN, signed integer, REAL/DOUBLE or VARCHAR type (of any type under
  IS [NOT] NULL, which only asks for NULL);
- constants, with the type and value DuckDB binds them to (asked of DuckDB by the planner): BOOLEAN,
  signed integers, DOUBLE, VARCHAR and NULL. A decimal literal such as ``900.5`` is DECIMAL there,
  and DECIMAL is left out, as are casts, functions, arithmetic, LIKE and anything else;
- ``= <> < <= > >=``, IS [NOT] DISTINCT FROM, [NOT] BETWEEN and [NOT] IN over operands of one kind:
  integers with integers (DuckDB widens to the larger signed type: exact, as Python's ints),
  floats with floats, VARCHAR with VARCHAR (DuckDB compares the UTF-8 bytes, which orders as
  Python's code points), BOOLEAN with BOOLEAN. An integer constant meets a float only when it
  converts exactly to the narrowest float width present (DuckDB casts the constant: there
  ``CAST(16777216 AS REAL) >= 16777217`` is true), as must a DOUBLE constant beside a REAL;
- AND, OR, NOT with SQL's NULL (three-valued logic); a filter keeps a row only when it is TRUE.

DuckDB orders NaN above every other float and holds ``NaN = NaN``; ``-0.0 = 0.0``. Python's
``float`` comparisons differ on NaN, so float comparisons go through ``_FLOAT_OPS``.
tests/engine/test_pyfilter.py checks each of these against DuckDB itself.
"""

from __future__ import annotations

import operator
from typing import Any, Callable

import numpy

# Up to this many changed rows a step filters in Python. Measured in process on issue 19's ``big``
# view (4 columns, 100,000 rows): ``amount > 900`` costs DuckDB 0.7 ms for 2 rows, 2.2 ms for 200,
# 4.4 ms for 4,000, and Python 0.02, 0.09, 0.96 ms; a predicate of five comparisons under AND/OR
# costs Python ~0.75 us a row, so it wins by 2x at 4,000 rows and only breaks even near 20,000.
# Larger changes stay in DuckDB, whose cost there is mostly moving the rows, not the predicate.
ROWS_MAX = 4096

# The kinds of DuckDB types Python compares exactly. DuckDB quotes the keyword when it names the
# type of a NULL constant.
_KINDS = {"BOOLEAN": "bool", "TINYINT": "int", "SMALLINT": "int", "INTEGER": "int", "BIGINT": "int",
          "HUGEINT": "int", "FLOAT": "float32", "DOUBLE": "float64", "VARCHAR": "str", '"NULL"': "null"}
_FLOATS = ("float32", "float64")

Row = tuple
Fn = Callable[[Row], Any]


class _Refused(Exception):
    """Raised while compiling when a node lies outside the subset."""


class _Node:
    """A compiled expression: its kind, its function of a row, and, for the specialisations, the
    column it reads (``col``) or, for a constant, its ``value``."""

    __slots__ = ("kind", "fn", "col", "is_const", "value")

    def __init__(self, kind: str, fn: Fn, col: int | None = None, is_const: bool = False, value: Any = None):
        self.kind, self.fn, self.col, self.is_const, self.value = kind, fn, col, is_const, value


def compile_filter(where: dict, types: list,
                   constant: Callable[[dict], tuple[str, Any]]) -> Callable[[Row], bool] | None:
    """A function telling whether a row passes ``where`` (a positional AST), or None when Python
    cannot give DuckDB's answer for every row. ``types`` are the row's ``ops.TypeInfo``s (not
    imported: ops imports this module); ``constant`` gives a CONSTANT node's (DuckDB type, value)
    as DuckDB binds it."""
    try:
        node = _Compiler(types, constant).compile(where)
    except _Refused:
        return None
    if node.kind not in ("bool", "null"):
        return None  # DuckDB would cast a non-boolean predicate
    fn = node.fn
    return lambda r: fn(r) is True


# DuckDB's order of floats: NaN above everything (+inf included), NaN = NaN; a and b not NULL.
def _f_eq(a, b):
    return a == b or (a != a and b != b)


def _f_ne(a, b):
    return not (a == b or (a != a and b != b))


def _f_lt(a, b):
    return a < b if b == b else a == a


def _f_le(a, b):
    return a <= b if (a == a and b == b) else b != b


_OPS = {"COMPARE_EQUAL": operator.eq, "COMPARE_NOTEQUAL": operator.ne, "COMPARE_LESSTHAN": operator.lt,
        "COMPARE_LESSTHANOREQUALTO": operator.le, "COMPARE_GREATERTHAN": operator.gt,
        "COMPARE_GREATERTHANOREQUALTO": operator.ge}
_FLOAT_OPS = {"COMPARE_EQUAL": _f_eq, "COMPARE_NOTEQUAL": _f_ne, "COMPARE_LESSTHAN": _f_lt,
              "COMPARE_LESSTHANOREQUALTO": _f_le, "COMPARE_GREATERTHAN": lambda a, b: _f_lt(b, a),
              "COMPARE_GREATERTHANOREQUALTO": lambda a, b: _f_le(b, a)}
_MIRROR = {"COMPARE_EQUAL": "COMPARE_EQUAL", "COMPARE_NOTEQUAL": "COMPARE_NOTEQUAL",
           "COMPARE_LESSTHAN": "COMPARE_GREATERTHAN", "COMPARE_GREATERTHAN": "COMPARE_LESSTHAN",
           "COMPARE_LESSTHANOREQUALTO": "COMPARE_GREATERTHANOREQUALTO",
           "COMPARE_GREATERTHANOREQUALTO": "COMPARE_LESSTHANOREQUALTO"}


def _float_col_const(op: str, i: int, c: float) -> Fn:
    """``column op constant`` for a float column and a constant that is not NaN: the hot case
    (``amount > 900``), one expression per row; a NaN row is greater than ``c`` and unequal."""
    if op == "COMPARE_GREATERTHAN":
        return lambda r: None if (x := r[i]) is None else (x > c or x != x)
    if op == "COMPARE_GREATERTHANOREQUALTO":
        return lambda r: None if (x := r[i]) is None else (x >= c or x != x)
    f = _OPS[op]  # <, <=, =, <>: Python's answer for a NaN row (False, False, False, True) is DuckDB's
    return lambda r: None if (x := r[i]) is None else f(x, c)


def _exact_in(v, width: str) -> bool:
    """Whether the number ``v`` converts to a float of ``width`` without rounding or overflow."""
    try:
        with numpy.errstate(over="ignore"):  # a value too large for REAL becomes inf: not equal
            f = float(v) if width == "float64" else float(numpy.float32(v))
    except (OverflowError, ValueError):
        return False
    return f == v or (f != f and v != v)


class _Compiler:
    def __init__(self, types: list, constant):
        self.types, self.constant = types, constant

    def compile(self, e: dict) -> _Node:
        cls, typ = e.get("class"), e.get("type")
        if cls == "COLUMN_REF":
            return self._column(e)
        if cls == "CONSTANT":
            return self._constant(e)
        if cls == "CONJUNCTION" and typ in ("CONJUNCTION_AND", "CONJUNCTION_OR"):
            return self._conjunction(typ == "CONJUNCTION_AND", [self._boolean(c) for c in e["children"]])
        if cls == "OPERATOR" and typ == "OPERATOR_NOT" and len(e["children"]) == 1:
            f = self._boolean(e["children"][0]).fn
            return _Node("bool", lambda r: None if (v := f(r)) is None else not v)
        if cls == "OPERATOR" and typ in ("OPERATOR_IS_NULL", "OPERATOR_IS_NOT_NULL") and len(e["children"]) == 1:
            f = self.compile(e["children"][0]).fn
            if typ == "OPERATOR_IS_NULL":
                return _Node("bool", lambda r: f(r) is None)
            return _Node("bool", lambda r: f(r) is not None)
        if cls == "COMPARISON" and (typ in _OPS or typ in ("COMPARE_DISTINCT_FROM", "COMPARE_NOT_DISTINCT_FROM")):
            a, b = self.compile(e["left"]), self.compile(e["right"])
            return self._compare(typ, a, b, self._unify([a, b]))
        if cls == "BETWEEN" and typ == "COMPARE_BETWEEN":
            x, lo, hi = self.compile(e["input"]), self.compile(e["lower"]), self.compile(e["upper"])
            kind = self._unify([x, lo, hi])  # DuckDB binds the three to one type
            return self._conjunction(True, [self._compare("COMPARE_LESSTHANOREQUALTO", lo, x, kind),
                                            self._compare("COMPARE_LESSTHANOREQUALTO", x, hi, kind)])
        if cls == "OPERATOR" and typ == "COMPARE_IN" and len(e["children"]) >= 2:
            ops = [self.compile(c) for c in e["children"]]
            kind = self._unify(ops)
            return self._conjunction(False, [self._compare("COMPARE_EQUAL", ops[0], o, kind) for o in ops[1:]])
        raise _Refused

    def _boolean(self, e: dict) -> _Node:
        node = self.compile(e)
        if node.kind not in ("bool", "null"):
            raise _Refused  # DuckDB would cast it to BOOLEAN
        return node

    def _column(self, e: dict) -> _Node:
        names = e["column_names"]
        if len(names) != 1 or not names[0].startswith("__c") or not names[0][3:].isdigit():
            raise _Refused
        i = int(names[0][3:])
        if i >= len(self.types):
            raise _Refused
        t = self.types[i]
        # Unsigned and other types: only IS [NOT] NULL may read them (kind "other").
        kind = _KINDS.get(t.duck, "other")
        return _Node(kind, lambda r: r[i], col=i)

    def _constant(self, e: dict) -> _Node:
        duck, value = self.constant(e)
        kind = _KINDS.get(duck)
        if kind is None:
            raise _Refused
        if kind in _FLOATS:
            value = float(value)
        return _Node(kind, lambda r: value, is_const=True, value=value)

    def _unify(self, ops: list[_Node]) -> str:
        """The kind the operands are compared as, or ``_Refused`` when DuckDB would convert one in a
        way Python does not reproduce."""
        kinds = {o.kind for o in ops if o.kind != "null"}
        if not kinds:
            return "null"
        if "other" in kinds:
            raise _Refused
        if len(kinds) == 1:
            k = kinds.pop()
            return "float64" if k == "float32" else k  # REAL against REAL: exact as Python floats
        if not kinds <= {"int", "float32", "float64"} or not kinds & set(_FLOATS):
            raise _Refused
        narrow = "float32" if "float32" in kinds else "float64"
        for o in ops:
            if o.kind == "int" and not o.is_const:
                raise _Refused  # DuckDB would round the column's integers to floats
            # A REAL beside a DOUBLE column widens exactly; a constant is checked, for DuckDB may
            # cast it to REAL instead.
            if o.is_const and (o.kind == "int" or o.kind == "float64" and narrow == "float32"):
                if not _exact_in(o.value, narrow):
                    raise _Refused
                if o.kind == "int":  # compared as the float it converts to (the same number)
                    o.value = v = float(o.value)
                    o.fn = lambda r: v
        return "float64"

    def _compare(self, typ: str, a: _Node, b: _Node, kind: str) -> _Node:
        if typ in ("COMPARE_DISTINCT_FROM", "COMPARE_NOT_DISTINCT_FROM"):
            eq = _FLOAT_OPS["COMPARE_EQUAL"] if kind in _FLOATS else operator.eq
            fa, fb, distinct = a.fn, b.fn, typ == "COMPARE_DISTINCT_FROM"

            def same(r):
                x, y = fa(r), fb(r)
                if x is None or y is None:
                    return x is None and y is None
                return eq(x, y)
            return _Node("bool", (lambda r: not same(r)) if distinct else same)
        if kind == "null" or (a.is_const and a.value is None) or (b.is_const and b.value is None):
            return _Node("null", lambda r: None)
        if a.is_const and not b.is_const:
            a, b, typ = b, a, _MIRROR[typ]
        if a.col is not None and b.is_const:
            i, c = a.col, b.value
            if kind in _FLOATS and c == c:
                return _Node("bool", _float_col_const(typ, i, c))
            f = _FLOAT_OPS[typ] if kind in _FLOATS else _OPS[typ]
            return _Node("bool", lambda r: None if (x := r[i]) is None else f(x, c))
        f = _FLOAT_OPS[typ] if kind in _FLOATS else _OPS[typ]
        fa, fb = a.fn, b.fn

        def cmp(r):
            x = fa(r)
            if x is None:
                return None
            y = fb(r)
            return None if y is None else f(x, y)
        return _Node("bool", cmp)

    @staticmethod
    def _conjunction(is_and: bool, nodes: list[_Node]) -> _Node:
        fns, stop = [n.fn for n in nodes], not is_and  # AND stops at a FALSE, OR at a TRUE

        def f(r):  # ``stop`` if any gives it, else NULL if any is NULL, else ``is_and``
            out = is_and
            for g in fns:
                v = g(r)
                if v is None:
                    out = None
                elif v == stop:
                    return stop
            return out
        return _Node("bool", f)


__all__ = ["ROWS_MAX", "compile_filter"]
