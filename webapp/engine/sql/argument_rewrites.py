"""Arguments of a type a function has no form for, and aggregates called with the wrong number of arguments.

Feldera's compiler (Calcite) checks each call's argument types and refuses, at compile time, a call that none of
the function's forms takes: "Cannot apply 'ABS' to arguments of type 'ABS(<BOOLEAN>)'". DuckDB either says the
same thing in its own words ("No function matches the given name and argument types") or, worse, accepts the call
and fails only when a row arrives (``EVERY(int)`` becomes a cast to BOOLEAN; ``DATE_TRUNC(string, DAY)`` parses
the string at run time, which would stop the pipeline). So here:

- a numeric function (``ABS``, ``CEIL``, ``SQRT``, the trigonometric ones, ...) or a numeric aggregate (``AVG``,
  ``SUM``, ``STDDEV*``) given a BOOLEAN, a binary, a date or time, a UUID, an ARRAY, MAP or ROW; ``BIT_AND``,
  ``BIT_OR``, ``BIT_XOR`` given anything but an integer or a binary; ``EVERY``/``SOME`` given anything but a
  BOOLEAN; ``EXTRACT``, ``FLOOR``/``CEIL(... TO unit)`` and ``DATE_TRUNC``, ``TIMESTAMP_TRUNC``, ``TIME_TRUNC``
  given a value of no date or time type the function takes (a string literal is read as the date or time it
  spells): refused in Calcite's words;
- a string given to a numeric function is read as a number, as ``CAST(s AS DOUBLE)`` reads it (Calcite's
  implicit cast of a string argument): ``SQRT(s)`` of ``'16'`` is ``4.0``. DuckDB's numeric functions take
  no string;
- ``ARRAY_AGG(a, b)``, ``ARG_MAX(a)``, ``ARG_MIN(a, b, c)``, ``MAX(a, b)``, ``MIN(a, b)``, ``COUNTIF(a, b)``:
  "Invalid number of arguments to function 'ARRAY_AGG'. Was expecting 1 arguments". sqlglot keeps such a call
  with its extra arguments in slots of other meanings, which DuckDB would then silently ignore.

The argument types come from translate's typing pass (``note_types``); they stay on the node (``call_types``)
for the rewrites that follow (``FLOOR(time TO unit)`` is a TIME).
"""

from __future__ import annotations

from sqlglot import exp

from .charbin_rewrites import ArgumentTypeError
from .numeric_rewrites import text_to_float

T = exp.DataType.Type

_MATH = (exp.Abs, exp.Acos, exp.Acosh, exp.Asin, exp.Asinh, exp.Atan, exp.Atanh, exp.Atan2, exp.Cbrt, exp.Ceil,
         exp.Floor, exp.Cos, exp.Cosh, exp.Cot, exp.Coth, exp.Csc, exp.Csch, exp.Sec, exp.Sech, exp.Sin, exp.Sinh,
         exp.Tan, exp.Tanh, exp.Degrees, exp.Radians, exp.Exp, exp.Ln, exp.Sqrt, exp.Sign)
_NUMERIC_AGGREGATES = (exp.Avg, exp.Sum, exp.Stddev, exp.StddevSamp, exp.StddevPop)
_BOOLEAN_AGGREGATES = (exp.LogicalAnd, exp.LogicalOr)
TYPED = (*_MATH, *_NUMERIC_AGGREGATES, *_BOOLEAN_AGGREGATES, exp.Extract, exp.Anonymous)

_NUMBERS = set(exp.DataType.INTEGER_TYPES) | {T.FLOAT, T.DOUBLE, T.DECIMAL, T.BIGDECIMAL}
_TEXT = {T.VARCHAR, T.CHAR, T.TEXT, T.NVARCHAR, T.NCHAR}
_BYTES = {T.BINARY, T.VARBINARY, T.BLOB}
_TIMESTAMPS = {T.TIMESTAMP, T.TIMESTAMPNTZ, T.DATETIME}
# Types the typer cannot follow or that hold any value: left to DuckDB's own checks.
_OPEN = {None, T.UNKNOWN, T.NULL, T.VARIANT, T.JSON, T.INTERVAL}
# The date functions and the types each takes (the reference's date and time page).
_DATE_FUNCTIONS = {
    "DATE_TRUNC": {T.DATE} | _TIMESTAMPS, "TIMESTAMP_TRUNC": {T.DATE} | _TIMESTAMPS, "TIME_TRUNC": {T.TIME},
}
_DATE_TIME = {T.DATE, T.TIME} | _TIMESTAMPS
_BIT_AGGREGATES = {"BIT_AND", "BIT_OR", "BIT_XOR"}
# Calcite's names for the types the typer reports.
_SHOWN = {T.INT: "INTEGER", T.TEXT: "VARCHAR", T.TIMESTAMPNTZ: "TIMESTAMP", T.STRUCT: "ROW", T.LIST: "ARRAY",
          T.BLOB: "VARBINARY"}


class CallTypeError(ArgumentTypeError):
    """A call none of whose forms takes its argument types; ``supported`` is Calcite's list of forms, if short."""

    def __init__(self, node: exp.Expr, types: list, supported: str | None = None):
        super().__init__(node, types)
        self.supported = supported

    def message(self, name: str) -> str:
        shown = ", ".join(f"<{_SHOWN.get(t, t.name)}>" for t in self.types)
        text = f"Cannot apply '{name.upper()}' to arguments of type '{name.upper()}({shown})'"
        if self.supported:
            text += f". Supported form(s): '{name.upper()}({self.supported})'"
        return text


class AggregateArityError(ValueError):
    """An aggregate called with the wrong number of arguments; ``node`` locates the call."""

    def __init__(self, name: str, expected: int, node: exp.Expr):
        super().__init__(f"Invalid number of arguments to function '{name}'. Was expecting {expected} arguments")
        self.node = node


def _arguments(node: exp.Expr) -> list[exp.Expr | None]:
    if isinstance(node, exp.Anonymous):
        return list(node.expressions)
    if isinstance(node, exp.Extract):
        return [node.expression]
    if isinstance(node, exp.Atan2):
        return [node.this, node.expression]
    return [node.this.expressions[0] if isinstance(node.this, exp.Distinct) and node.this.expressions
            else node.this]


def note_types(node: exp.Expr, typed: exp.Expr) -> None:
    """Keep on ``node`` the types of its arguments, read from ``typed`` (its typed copy)."""
    node.meta["call_types"] = [a.type.this if a is not None and a.type is not None else None
                               for a in _arguments(typed)]


# The aggregates sqlglot parses with a slot for a further argument: (name, that slot, arguments they take);
# the one-argument ones the dialect builds count theirs (``arg_count``).
_ARITY = {exp.Max: ("MAX", "expressions", 1), exp.Min: ("MIN", "expressions", 1),
          exp.ArgMax: ("ARG_MAX", "count", 2), exp.ArgMin: ("ARG_MIN", "count", 2)}


def check_arity(node: exp.Expr) -> None:
    """Raises ``AggregateArityError`` for an aggregate call holding more (or fewer) arguments than it takes."""
    count = node.meta.get("arg_count")
    if count is not None and count != 1:
        raise AggregateArityError(str(node.meta.get("feldera_name") or node.key).upper(), 1, node)
    extra = _ARITY.get(type(node))
    if extra is None:
        return
    name, key, expected = extra
    held = node.args.get(key)
    if isinstance(held, exp.Expr) or (isinstance(held, list) and held) \
            or (isinstance(node, (exp.ArgMax, exp.ArgMin)) and node.expression is None):
        raise AggregateArityError(name, expected, node)


def _is_text_literal(arg: exp.Expr | None) -> bool:
    # A string literal is read as the date or time it spells (the reference's own examples:
    # ``DATE_TRUNC('2020-01-10', MONTH)``); a string column is refused.
    return isinstance(arg, exp.Literal) and arg.is_string


def rewrite(node: exp.Expr) -> exp.Expr | None:
    """Refuses a call whose argument types no form of the function takes; reads a string given to a numeric
    function as a number (in place). None: ``node`` is left to the other rewrites."""
    check_arity(node)
    types = node.meta.get("call_types") if isinstance(node, TYPED) else None
    if not types or all(t in _OPEN for t in types):
        return None
    if isinstance(node, (exp.Floor, exp.Ceil)) and node.args.get("to") is not None or isinstance(node, exp.Extract):
        if types[0] not in _DATE_TIME | _OPEN and not _is_text_literal(_arguments(node)[0]):
            raise CallTypeError(node, types)
        return None
    if isinstance(node, exp.Anonymous):
        name = node.name.upper()
        if name in _DATE_FUNCTIONS and types[0] not in _DATE_FUNCTIONS[name] | _OPEN \
                and not _is_text_literal(node.expressions[0]):
            raise CallTypeError(node, types[:1])
        if name in _BIT_AGGREGATES and types[0] not in set(exp.DataType.INTEGER_TYPES) | _BYTES | _OPEN:
            raise CallTypeError(node, types)
        return None
    if isinstance(node, _BOOLEAN_AGGREGATES):
        if types[0] not in {T.BOOLEAN} | _OPEN:
            raise CallTypeError(node, types, "<BOOLEAN>")
        return None
    if any(t not in _NUMBERS | _TEXT | _OPEN for t in types):
        raise CallTypeError(node, types)
    if isinstance(node, _MATH):
        for key, t in zip(("this", "expression") if isinstance(node, exp.Atan2) else ("this",), types):
            if t in _TEXT:
                node.args[key].replace(text_to_float(node.args[key].copy()))
    return None


__all__ = ["rewrite", "note_types", "check_arity", "TYPED", "CallTypeError", "AggregateArityError"]
