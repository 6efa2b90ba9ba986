"""An interval written as text the way Feldera writes it: in the fields of its type's qualifier.

``CAST((a - b) SECOND AS VARCHAR)`` is ``+20733.000000``, ``(a - b) HOUR TO MINUTE`` is ``+5:45`` and
``(a - b) YEAR TO MONTH`` is ``+5-00`` (a sign, the leading field whole, the others zero-padded; seconds with
six digits where SECOND is the only or the last field after HOUR or MINUTE). DuckDB has one INTERVAL type
without a qualifier and writes ``05:45:33``. So the qualifier is followed from where an interval is made, a
``(a - b) unit [TO unit]``, through the views whose columns hold one (``outputs``), to the casts to text that
read it (``mark_casts``); ``text`` then writes the DuckDB interval in those fields. A cast of an interval whose
qualifier is not known this way keeps DuckDB's text.
"""

from __future__ import annotations

from sqlglot import exp

from ._template import fill, template
from .datetime_rewrites import IntervalDiff

T = exp.DataType.Type
Qualifier = tuple[str, str]  # (first field, last field), e.g. ("HOUR", "SECOND"); ("DAY", "DAY") for DAY

_TEXT = (T.VARCHAR, T.TEXT, T.CHAR, T.NVARCHAR, T.NCHAR)
_MONTHS = "(datepart('year', __i) * 12 + datepart('month', __i))"
_MICROS = "CAST(round(epoch(__i) * 1000000) AS BIGINT)"
_SIGN = "CASE WHEN {n} < 0 THEN '-' ELSE '+' END"
_PAD2 = "lpad(CAST({x} AS VARCHAR), 2, '0')"
_SECONDS = ("lpad(CAST(abs({n}) // 1000000 % 60 AS VARCHAR), 2, '0') || '.' "
            "|| lpad(CAST(abs({n}) % 1000000 AS VARCHAR), 6, '0')")
_DAY, _HOUR, _MINUTE = 86_400_000_000, 3_600_000_000, 60_000_000


def _short(first: str, last: str) -> str:
    """The text of a day-time interval ``__i``, in the fields first..last."""
    n = _MICROS
    a = f"abs({n})"
    lead = {"DAY": f"{a} // {_DAY}", "HOUR": f"{a} // {_HOUR}", "MINUTE": f"{a} // {_MINUTE}",
            "SECOND": f"{a} // 1000000"}[first]
    parts = [f"CAST({lead} AS VARCHAR)"]
    fields = ["DAY", "HOUR", "MINUTE", "SECOND"]
    for f in fields[fields.index(first) + 1: fields.index(last) + 1]:
        if f == "HOUR":
            parts.append("' ' || " + _PAD2.format(x=f"{a} // {_HOUR} % 24"))
        elif f == "MINUTE":
            parts.append("':' || " + _PAD2.format(x=f"{a} // {_MINUTE} % 60"))
        elif first == "DAY":  # DAY TO SECOND: whole seconds
            parts.append("':' || " + _PAD2.format(x=f"{a} // 1000000 % 60"))
        else:
            parts.append("':' || " + _SECONDS.format(n=n))
    if first == last == "SECOND":
        parts = [f"CAST({a} // 1000000 AS VARCHAR) || '.' || lpad(CAST({a} % 1000000 AS VARCHAR), 6, '0')"]
    return "(" + " || ".join([_SIGN.format(n=n), *parts]) + ")"


def _long(first: str, last: str) -> str:
    m = f"abs({_MONTHS})"
    if first == "MONTH":
        body = f"CAST({m} AS VARCHAR)"
    elif last == "YEAR":
        body = f"CAST({m} // 12 AS VARCHAR)"
    else:
        body = f"CAST({m} // 12 AS VARCHAR) || '-' || " + _PAD2.format(x=f"{m} % 12")
    return f"({_SIGN.format(n=_MONTHS)} || {body})"


def text(interval: exp.Expr, q: Qualifier) -> exp.Expr:
    """``interval`` (a DuckDB INTERVAL) as Feldera's text for an interval of qualifier ``q``."""
    first, last = q
    sql = _long(first, last) if first in ("YEAR", "MONTH") else _short(first, last)
    return fill(template(sql), i=interval)


# Aggregates whose result is one of the values of their (first) argument, so of its qualifier.
_PICKS = (exp.Max, exp.Min, exp.ArgMax, exp.ArgMin)


def qualifier_of(node: exp.Expr, known: dict[str, Qualifier]) -> Qualifier | None:
    """The qualifier of an interval expression: a ``(a - b) unit``, its negation, a column of a relation
    ``known`` names (by column name, when the relations read hold only one interval column by that name), or an
    aggregate whose result is one of its argument's values (``MAX``, ``MIN``, ``ARG_MAX``/``ARG_MIN``'s value)."""
    while isinstance(node, (exp.Paren, exp.Neg, exp.Filter, exp.Distinct, *_PICKS)):
        node = node.expressions[0] if isinstance(node, exp.Distinct) else node.this
    if isinstance(node, IntervalDiff):
        return node.args["unit"], node.args.get("to") or node.args["unit"]
    if isinstance(node, exp.Column):
        return known.get(node.name)
    return None


def known_columns(q: exp.Expr, intervals: dict[str, dict[str, Qualifier]]) -> dict[str, Qualifier]:
    """The interval columns of the relations ``q`` reads, by column name; a name two of them use with different
    qualifiers is left out (which column it is would need the query's scopes)."""
    out: dict[str, Qualifier] = {}
    clash: set[str] = set()
    for t in q.find_all(exp.Table):
        for col, qual in intervals.get(t.name, {}).items():
            if out.get(col, qual) != qual:
                clash.add(col)
            out[col] = qual
    return {c: v for c, v in out.items() if c not in clash}


def mark_casts(q: exp.Expr, known: dict[str, Qualifier]) -> None:
    """Marks each cast of an interval of known qualifier to text (``meta["interval_text"]``), before the
    rewrites replace the ``(a - b) unit`` forms it reads."""
    for cast in q.find_all(exp.Cast):
        if cast.to.this in _TEXT and not cast.to.expressions:
            qual = qualifier_of(cast.this, known)
            if qual is not None:
                cast.meta["interval_text"] = qual


def outputs(q: exp.Expr, known: dict[str, Qualifier]) -> dict[str, Qualifier]:
    """The output columns of a view body that hold an interval of known qualifier, by (internal) name."""
    select = q
    while isinstance(select, exp.SetOperation):
        select = select.this
    if not isinstance(select, exp.Select):
        return {}
    out = {}
    for e in select.expressions:
        qual = qualifier_of(e.this if isinstance(e, exp.Alias) else e, known)
        if qual is not None and e.output_name:
            out[e.output_name] = qual
    return out


__all__ = ["Qualifier", "text", "qualifier_of", "known_columns", "mark_casts", "outputs"]
