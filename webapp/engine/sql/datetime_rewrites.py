"""Feldera's date, time and interval forms as DuckDB expressions (the reference's "Date- and Time-Related
Operations" page): argument orders, day-of-week numbering, ``FLOOR``/``CEIL ... TO unit``, interval literals
with ``X TO Y`` qualifiers, and the strftime-style parse and format functions.

``date + interval`` and ``date - interval`` are a ``DATE`` ("Arithmetic between a DATE and an INTERVAL first
converts the interval to a whole number days (rounding down) and then performs the computation on whole
days"); DuckDB's result is a TIMESTAMP that keeps the hours. A long interval (months) moves the date by its
months as DuckDB does. The operand types come from translate's typing pass (``note_types``)."""

from __future__ import annotations

import re

from sqlglot import exp

from ._template import fill, template

T = exp.DataType.Type

UNITS = {"MILLENNIUM", "CENTURY", "DECADE", "YEAR", "QUARTER", "MONTH", "WEEK", "DAY", "HOUR", "MINUTE", "SECOND",
         "MILLISECOND", "MICROSECOND"}


class IntervalDiff(exp.Expression):
    """``(a - b) UNIT`` or ``(a - b) UNIT TO UNIT``: the difference of two dates, times or timestamps as an
    interval (the reference's "(timestamp - timestamp) shortInterval" rows). ``this`` is what the parentheses
    hold, ``unit`` and ``to`` the qualifier's words."""

    arg_types = {"this": True, "unit": True, "to": False}


# The words of an interval qualifier after a parenthesized difference, as Calcite reads them.
QUALIFIER_UNITS = {"YEAR", "MONTH", "DAY", "HOUR", "MINUTE", "SECOND"}
_LONG = {"YEAR", "MONTH"}


def unit_name(node: exp.Expr) -> str:
    """A time unit as DuckDB spells it, from a bare word (`MONTH`, `SQL_TSI_MONTH`, `DAYS`) or a string."""
    word = node.name if isinstance(node, (exp.Column, exp.Var, exp.Identifier, exp.Literal)) else node.sql()
    word = word.upper().removeprefix("SQL_TSI_")
    if word not in UNITS and word.endswith("S") and word[:-1] in UNITS:
        word = word[:-1]
    return word.lower()


def _fn(name: str, *args: exp.Expr) -> exp.Anonymous:
    return exp.Anonymous(this=name, expressions=list(args))


def _cast(node: exp.Expr, to: str) -> exp.Cast:
    return exp.Cast(this=node, to=exp.DataType.build(to))


TYPED = (exp.Add, exp.Sub)
# The interval's months move the date (DuckDB's month arithmetic); its days and time, truncated to whole days,
# are added as days.
_MONTHS_OF = "to_months(CAST(datepart('year', __i) * 12 + datepart('month', __i) AS INTEGER))"
_DATE_ARITHMETIC = {op: template(f"""
    CAST(__d {op} {_MONTHS_OF} AS DATE) {op} CAST(trunc(epoch(__i - {_MONTHS_OF}) / 86400) AS INTEGER)""")
    for op in "+-"}


def note_types(node: exp.Expr, typed: exp.Expr) -> None:
    """Keep on ``node`` the types of its two operands, read from ``typed`` (its typed copy)."""
    node.meta["operand_types"] = tuple(s.type.this if s is not None and s.type is not None else None
                                       for s in (typed.this, typed.expression))


def _date_arithmetic(node: exp.Expr) -> exp.Expr | None:
    types = node.meta.pop("operand_types", None)
    if types == (T.DATE, T.INTERVAL):
        date, interval = node.this, node.expression
    elif types == (T.INTERVAL, T.DATE) and isinstance(node, exp.Add):
        date, interval = node.expression, node.this
    else:
        return None
    return exp.Paren(this=fill(_DATE_ARITHMETIC["-" if isinstance(node, exp.Sub) else "+"], d=date, i=interval))


def rewrite(node: exp.Expr) -> exp.Expr | None:
    """The DuckDB form of a Feldera date/time node, or None when ``node`` is not one."""
    if isinstance(node, TYPED):
        return _date_arithmetic(node)
    if isinstance(node, exp.Anonymous):
        name, args = str(node.this).upper(), node.expressions
        if name == "TIMESTAMPDIFF" and len(args) == 3:
            unit, a, b = args
            months = _MONTHS_IN.get(unit_name(unit))
            if months is not None:
                return _months_between(a, b, months)
            return _fn("date_sub", exp.Literal.string(unit_name(unit)), a, b)
        if name == "TIMESTAMPADD" and len(args) == 3:
            unit, n, ts = args
            return exp.Add(this=ts, expression=exp.Interval(this=exp.Paren(this=n), unit=exp.var(unit_name(unit))))
        if name in ("DATE_TRUNC", "TIMESTAMP_TRUNC", "TIME_TRUNC") and len(args) == 2:
            value, unit = args
            u = exp.Literal.string(unit_name(unit))
            if name == "DATE_TRUNC":
                return _cast(_fn("date_trunc", u, _cast(value, "DATE")), "DATE")
            if name == "TIMESTAMP_TRUNC":
                return _fn("date_trunc", u, _cast(value, "TIMESTAMP"))
            day = exp.Add(this=_cast(exp.Literal.string("1970-01-01"), "DATE"), expression=_cast(value, "TIME"))
            return _cast(_fn("date_trunc", u, day), "TIME")
        if name == "FORMAT_DATE" and len(args) == 2:
            return _fn("strftime", args[1], args[0])
        if name in ("PARSE_DATE", "PARSE_TIME", "PARSE_TIMESTAMP") and len(args) == 2:
            # "the result is NULL if string cannot be parsed according to the format"
            parsed = _fn("try_strptime", args[1], args[0])
            return _cast(parsed, name.removeprefix("PARSE_"))
    if isinstance(node, exp.Extract) and unit_name(node.this) == "dow":
        # Feldera: Sunday is 1 and Saturday 7; DuckDB counts from 0.
        return exp.Paren(this=exp.Add(this=_fn("dayofweek", node.expression), expression=exp.Literal.number(1)))
    if isinstance(node, exp.DayOfWeek):
        return exp.Paren(this=exp.Add(this=_fn("dayofweek", node.this), expression=exp.Literal.number(1)))
    if isinstance(node, (exp.Floor, exp.Ceil)) and node.args.get("to") is not None:
        return _floor_ceil(node)
    if isinstance(node, exp.Cast) and isinstance(node.to.this, exp.Interval) \
            and isinstance(node.to.this.args.get("unit"), exp.IntervalSpan) and not isinstance(node.this, exp.Literal):
        return _text_to_span(node.this, node.to.this.args["unit"], node)
    if isinstance(node, exp.Interval) and isinstance(node.args.get("unit"), exp.IntervalSpan) \
            and node.this is not None:  # (without a value it is the type of a cast)
        return _interval_span(node)
    if isinstance(node, IntervalDiff):
        return _interval_diff(node)
    return None


def _floor_ceil(node: exp.Expr) -> exp.Expr:
    """``FLOOR``/``CEIL(x TO unit)`` keeps ``x``'s type (the reference lists them for DATE, TIME and TIMESTAMP);
    DuckDB's ``date_trunc`` gives a TIMESTAMP and takes no TIME, so a TIME is truncated on day 1970-01-01
    (``TIME_TRUNC``'s way; a CEIL past midnight wraps, as TIME arithmetic does)."""
    u = exp.Literal.string(unit_name(node.args["to"]))
    kind = (node.meta.get("call_types") or [None])[0]
    value = node.this
    if kind == T.TIME:
        value = exp.Add(this=_cast(exp.Literal.string("1970-01-01"), "DATE"), expression=_cast(value, "TIME"))
    down = _fn("date_trunc", u, value.copy())
    if isinstance(node, exp.Floor):
        out = down
    else:
        up = exp.Add(this=down.copy(), expression=exp.Interval(this=exp.Literal.string("1"), unit=exp.var(u.this)))
        out = exp.Case(ifs=[exp.If(this=exp.EQ(this=down, expression=value.copy()), true=value.copy())],
                       default=up)
    return _cast(out, {T.DATE: "DATE", T.TIME: "TIME"}[kind]) if kind in (T.DATE, T.TIME) else out


def _interval_diff(node: IntervalDiff) -> exp.Expr:
    """A long interval (YEAR, MONTH) counts whole months with TIMESTAMPDIFF's month rule (Feldera's
    ``minus_Timestamp_Timestamp_LongInterval``); a short one is the exact difference (Feldera subtracts the two
    instants, without rounding to the qualifier's last unit)."""
    diff, first, last = node.this, node.args["unit"], node.args.get("to") or node.args["unit"]
    if isinstance(diff, exp.Paren):
        diff = diff.this
    if not isinstance(diff, exp.Sub):
        raise IntervalError(f"an interval qualifier ({first}) needs a difference '(a - b)' before it", node)
    if (first in _LONG) != (last in _LONG):
        raise IntervalError(f"INTERVAL {first} TO {last} is not an interval type", node)
    a, b = diff.this, diff.expression
    if first in _LONG:
        # "Long intervals are represented with a precision of an integer number of months": a YEAR one too
        # holds every whole month (its text shows the years: interval_text).
        months = _months_between(b, a, 1)
        return _fn("to_months", exp.Cast(this=months, to=exp.DataType.build("INTEGER")))
    return _fn("to_microseconds", _fn("date_diff", exp.Literal.string("microsecond"), b, a))


_MONTHS_IN = {"month": 1, "quarter": 3, "year": 12, "decade": 120, "century": 1200, "millennium": 12000}
# "One month is considered elapsed when the calendar month has increased and the calendar day and time is
# greater than or equal to the start" (DuckDB's date_sub counts 2020-01-31 to 2020-02-29 as a month).
_MONTHS_BETWEEN = template("""
    ((YEAR(__b) * 12 + MONTH(__b)) - (YEAR(__a) * 12 + MONTH(__a))
     + CASE WHEN (YEAR(__b) * 12 + MONTH(__b)) > (YEAR(__a) * 12 + MONTH(__a))
                 AND __b - DATE_TRUNC('month', __b) < __a - DATE_TRUNC('month', __a) THEN -1
            WHEN (YEAR(__b) * 12 + MONTH(__b)) < (YEAR(__a) * 12 + MONTH(__a))
                 AND __b - DATE_TRUNC('month', __b) > __a - DATE_TRUNC('month', __a) THEN 1
            ELSE 0 END) // __k""")


def _months_between(a: exp.Expr, b: exp.Expr, per: int) -> exp.Expr:
    return fill(_MONTHS_BETWEEN, a=_cast(a, "TIMESTAMP"), b=_cast(b, "TIMESTAMP"), k=exp.Literal.number(per))


# `INTERVAL 'text' A TO B`: the fields the text holds for each qualifier (Feldera's literal table).
_SPANS = {
    ("YEAR", "MONTH"): (r"(\d+)-(\d+)", ("years", "months")),
    ("DAY", "HOUR"): (r"(\d+) (\d+)", ("days", "hours")),
    ("DAY", "MINUTE"): (r"(\d+) (\d+):(\d+)", ("days", "hours", "minutes")),
    ("DAY", "SECOND"): (r"(\d+) (\d+):(\d+):(\d+(?:\.\d*)?)", ("days", "hours", "minutes", "seconds")),
    ("HOUR", "MINUTE"): (r"(\d+):(\d+)", ("hours", "minutes")),
    ("HOUR", "SECOND"): (r"(\d+):(\d+):(\d+(?:\.\d*)?)", ("hours", "minutes", "seconds")),
    ("MINUTE", "SECOND"): (r"(\d+):(\d+(?:\.\d*)?)", ("minutes", "seconds")),
}


class IntervalError(ValueError):
    """Raised for an interval literal whose text does not fit its qualifier; ``node`` locates it."""

    def __init__(self, message: str, node: exp.Expr):
        super().__init__(message)
        self.node = node


def _interval_span(node: exp.Interval) -> exp.Expr:
    span = node.args["unit"]
    key = (unit_name(span.this).upper(), unit_name(span.expression).upper())
    text = node.this.name.strip() if isinstance(node.this, exp.Literal) else None
    if key not in _SPANS or text is None:
        raise IntervalError(f"INTERVAL ... {key[0]} TO {key[1]} is not supported", node)
    pattern, names = _SPANS[key]
    sign = "-" if text.startswith("-") else ""
    m = re.fullmatch(pattern, text.lstrip("+-").strip())
    if not m:
        raise IntervalError(f"'{text}' is not an INTERVAL {key[0]} TO {key[1]}", node)
    # A leading sign applies to every field.
    parts = " ".join(f"{sign}{v} {n}" for v, n in zip(m.groups(), names))
    return exp.Interval(this=exp.Literal.string(parts))


_TO_INTERVAL = {"years": "to_years", "months": "to_months", "days": "to_days", "hours": "to_hours",
                "minutes": "to_minutes"}


def _text_to_span(text: exp.Expr, span: exp.IntervalSpan, node: exp.Expr) -> exp.Expr:
    """``CAST(s AS INTERVAL A TO B)`` of a string value: its fields read as the literal's are (a leading sign
    applies to all of them); text of another shape is a runtime error, as a bad number is."""
    key = (unit_name(span.this).upper(), unit_name(span.expression).upper())
    if key not in _SPANS:
        raise IntervalError(f"INTERVAL {key[0]} TO {key[1]} is not supported", node)
    pattern, names = _SPANS[key]
    full = exp.Literal.string(rf"^\s*([+-]?)\s*{pattern}\s*$")

    def group(k: int) -> exp.Expr:
        return _fn("regexp_extract", text.copy(), full.copy(), exp.Literal.number(k))
    parts = []
    for k, name in enumerate(names, start=2):
        if name == "seconds":
            micros = exp.Round(this=exp.Mul(this=_cast(group(k), "DOUBLE"), expression=exp.Literal.number(1000000)))
            parts.append(_fn("to_microseconds", _cast(micros, "BIGINT")))
        else:
            parts.append(_fn(_TO_INTERVAL[name], _cast(group(k), "BIGINT")))
    total = parts[0]
    for p in parts[1:]:
        total = exp.Add(this=total, expression=p)
    negative = exp.EQ(this=group(1), expression=exp.Literal.string("-"))
    return exp.Case(ifs=[exp.If(this=negative, true=exp.Neg(this=exp.Paren(this=total.copy())))], default=total)


__all__ = ["rewrite", "note_types", "TYPED", "unit_name", "IntervalError", "IntervalDiff", "QUALIFIER_UNITS"]
