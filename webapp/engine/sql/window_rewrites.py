"""Feldera's window table functions (the reference's "Table Functions" page) as DuckDB subqueries.

``TABLE(TUMBLE(TABLE t, DESCRIPTOR(ts), size [, offset]))`` is every row of ``t`` with ``window_start`` and
``window_end`` added: the window of length ``size`` (aligned at ``offset`` from the Unix epoch) that holds ``ts``; a
row whose ``ts`` is NULL is in no window and left out (Feldera's ``illarg_tests/test_grammar_tbl_fn.py``).
``TABLE(HOP(TABLE t, DESCRIPTOR(ts), slide, size [, offset]))`` is every row once per window holding ``ts``, the
windows starting every ``slide``; "a NULL timestamp produces no rows". Arguments may be named (``DATA =>``,
``TIMECOL =>``, ``SLIDE =>``, ``SIZE =>``, ``OFFSET =>``), the data argument first. Windows are
``[window_start, window_end)``.

``parse_arguments`` is the parser's side (``TABLE t`` and ``name => value`` are not expressions); ``rewrite``
turns the call into a subquery over DuckDB's ``time_bucket`` (which floors, so times before the epoch and before
the offset fall into the right window).
"""

from __future__ import annotations

from sqlglot import exp
from sqlglot.tokens import TokenType

from ._template import fill, template

PARAMETERS = {"TUMBLE": ("DATA", "TIMECOL", "SIZE", "OFFSET"), "HOP": ("DATA", "TIMECOL", "SLIDE", "SIZE", "OFFSET")}


class WindowError(ValueError):
    """Raised for a window table function call that does not fit the reference's signature; ``node`` locates it."""

    def __init__(self, message: str, node: exp.Expr):
        super().__init__(message)
        self.node = node


def parse_arguments(name: str):
    """A sqlglot function parser for ``TUMBLE``/``HOP``: positional or named arguments, ``TABLE t`` for data."""
    def run(p) -> exp.Expr:
        token = p._tokens[p._index - 2]
        named: dict[str, exp.Expr] = {}
        positional: list[exp.Expr] = []
        while p._curr and p._curr.token_type != TokenType.R_PAREN:
            key = None
            if p._next and p._next.token_type == TokenType.FARROW:
                key = p._curr.text.upper()
                p._advance(2)
            value = p._parse_table_parts() if p._match(TokenType.TABLE) else p._parse_assignment()
            if key is None:
                positional.append(value)
            else:
                named[key] = value
            if not p._match(TokenType.COMMA):
                break
        params = PARAMETERS[name]
        args = positional + [named.pop(k) for k in params[len(positional):] if k in named]
        node = exp.Anonymous(this=name, expressions=args)
        if named:
            node.meta["unknown"] = sorted(named)
        return node.update_positions(token)
    return run


_TUMBLE = template("SELECT __t.*, __start AS window_start, __start + __size AS window_end FROM __t WHERE __ts IS NOT NULL")
_HOP = template("""
    SELECT __t.*, __w.window_start, __w.window_start + __size AS window_end
    FROM __t, LATERAL (SELECT __last - __j.__k * __slide AS window_start
                       FROM range(0, CAST(ceil(epoch(__size) / epoch(__slide)) AS BIGINT)) AS __j(__k)) AS __w
    WHERE __ts IS NOT NULL AND __w.window_start + __size > __ts""")


def rewrite(node: exp.Expr) -> exp.Expr | None:
    """A subquery for ``TABLE(TUMBLE(...))``/``TABLE(HOP(...))`` in a FROM clause, or None."""
    call = _window_call(node)
    if call is None:
        return None
    name = call.name.upper()
    params = PARAMETERS[name]
    args = call.expressions
    if call.meta.get("unknown") or not len(params) - 1 <= len(args) <= len(params):
        raise WindowError(f"{name} takes ({', '.join(params)}), the last optional", call)
    data, timecol = args[0], args[1]
    if not isinstance(data, exp.Table):
        raise WindowError(f"the first argument of {name} is a table: TABLE name", call)
    if not (isinstance(timecol, exp.Anonymous) and timecol.name.upper() == "DESCRIPTOR"
            and len(timecol.expressions) == 1):
        raise WindowError(f"the second argument of {name} is DESCRIPTOR(column)", call)
    ts = exp.column(timecol.expressions[0].name, table=data.alias_or_name, quoted=True)
    offset = args[len(params) - 1] if len(args) == len(params) else exp.Interval(this=exp.Literal.string("0"),
                                                                                 unit=exp.var("SECOND"))
    origin = exp.Add(this=exp.Cast(this=exp.Literal.string("1970-01-01 00:00:00"), to=exp.DataType.build("TIMESTAMP")),
                     expression=offset)
    source = exp.Table(this=data.this.copy(), db=data.args.get("db"))
    # The window of length `step` holding `ts` (the last one starting at or before it, for HOP).
    step = args[2]
    last = exp.Anonymous(this="time_bucket", expressions=[step.copy(), ts.copy(), origin])
    if name == "TUMBLE":
        query = _fill_query(_TUMBLE, t=source, ts=ts, start=last, size=step)
    else:
        query = _fill_query(_HOP, t=source, ts=ts, slide=step, size=args[3], last=last)
    alias = node.args.get("alias")
    return exp.Subquery(this=query, alias=alias.copy() if alias else None)


def check_time_columns(q: exp.Expr, schema: dict[str, dict[str, str]]) -> None:
    """Raises ``WindowError`` in Calcite's words for a TUMBLE or HOP whose DESCRIPTOR names a column of a known
    table that holds no TIMESTAMP or DATE (DuckDB's ``time_bucket`` refuses it in its own words)."""
    for node in q.find_all(exp.Table):
        call = _window_call(node)
        if call is None or len(call.expressions) < 2:
            continue
        data, timecol = call.expressions[0], call.expressions[1]
        if not (isinstance(data, exp.Table) and isinstance(timecol, exp.Anonymous) and len(timecol.expressions) == 1):
            continue
        found = schema.get(data.name, {}).get(timecol.expressions[0].name)
        if found is not None and found.split("(")[0] not in ("TIMESTAMP", "DATE"):
            name = call.name.upper()
            raise WindowError(f"Cannot apply '{name}' to arguments of type '{name}(<{found}>)'", call)


def _window_call(node: exp.Expr) -> exp.Anonymous | None:
    if not isinstance(node, exp.Table) or not isinstance(node.this, exp.Anonymous) \
            or node.this.name.upper() != "TABLE" or len(node.this.expressions) != 1:
        return None
    call = node.this.expressions[0]
    return call if isinstance(call, exp.Anonymous) and call.name.upper() in PARAMETERS else None


def _fill_query(tree: exp.Expr, **holes: exp.Expr) -> exp.Expr:
    """``fill`` for a whole query: tables and the ``__w``/``__j`` names are taken as they are written."""
    q = fill(tree, **{k: v for k, v in holes.items() if k != "t"}).this
    table = holes["t"]
    for t in q.find_all(exp.Table):
        if t.name == "__t":
            t.replace(table.copy())
    for col in q.find_all(exp.Column):
        if col.table == "__t":
            col.set("table", exp.to_identifier(table.name, quoted=True))
    return q


__all__ = ["PARAMETERS", "WindowError", "check_time_columns", "parse_arguments", "rewrite"]
