"""Which output columns of a view can be NULL, by Feldera's (Calcite's) typing rules.

DuckDB keeps no nullability in a query's result types, so the view body is read here instead, on the typed and
qualified copy of the user's query (``translate``), before the rewrites into DuckDB's forms:

- a column is as nullable as the column it reads, unless an outer join puts its relation on the side that can
  be missing (LEFT: the right side, RIGHT: the left side, FULL: both);
- a literal is NOT NULL, ``NULL`` is not; arithmetic, comparisons, ``AND``/``OR``/``NOT``, ``||``, ``LIKE``,
  ``BETWEEN``, ``IN (list)`` and the strict functions below are NULL only when an argument can be (a zero
  divisor is a runtime error in Feldera and in DuckDB, not a NULL);
- ``IS [NOT] NULL``, ``IS [NOT] DISTINCT FROM``, ``EXISTS``, an ``ARRAY[...]`` are never NULL; ``COALESCE`` is
  NULL only when every argument can be; ``CASE`` without ``ELSE`` can be;
- a ``CAST`` keeps its argument's nullability, except where Feldera's cast gives NULL for a value: a string
  to DATE, TIME or TIMESTAMP, and a VARIANT to anything (``TRY_CAST`` always may);
- ``COUNT`` is never NULL; ``SUM``/``MIN``/``MAX``/``AVG`` are as nullable as their argument in a query with
  ``GROUP BY`` keys (each group has a row) but NULL-able in a global aggregate (an empty input gives one row of
  NULLs), with a ``FILTER``, or under ``GROUPING SETS``/``ROLLUP``/``CUBE`` (whose keys become NULL-able too);
- ``ROW_NUMBER``, ``RANK``, ``DENSE_RANK`` and ``COUNT`` over a window are never NULL;
- the columns of a ``UNION``/``INTERSECT``/``EXCEPT`` are NULL-able when either side's is.

Anything else (other functions, scalar subqueries, indexing, table functions) is NULL-able: reporting
NOT NULL for a column that can hold NULL would break readers that trust the schema, so an unknown shape
errs towards nullable.
"""

from __future__ import annotations

from sqlglot import exp

T = exp.DataType.Type

_STRICT = (exp.Add, exp.Sub, exp.Mul, exp.Div, exp.IntDiv, exp.Mod, exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT,
           exp.LTE, exp.And, exp.Or, exp.DPipe, exp.Like, exp.ILike, exp.BitwiseAnd, exp.BitwiseOr, exp.BitwiseXor,
           exp.Not, exp.Neg, exp.BitwiseNot, exp.Between, exp.Upper, exp.Lower, exp.Abs, exp.Length, exp.Trim,
           exp.Floor, exp.Ceil, exp.Substring, exp.Interval)
_NEVER_NULL = (exp.Is, exp.NullSafeEQ, exp.NullSafeNEQ, exp.Exists, exp.Array, exp.Boolean)
_RANKS = (exp.RowNumber, exp.Rank, exp.DenseRank, exp.Count)
_KEEPS_ARG = (exp.Sum, exp.Min, exp.Max, exp.Avg)
_TEXT = {T.VARCHAR, T.NVARCHAR, T.CHAR, T.NCHAR, T.TEXT}
_DATETIME = {T.DATE, T.TIME, T.TIMESTAMP}


class _Unknown(Exception):
    """Raised for a query shape whose output columns cannot be followed (every column is then NULL-able)."""


def outputs(typed: exp.Expr, relations: dict[str, dict[str, bool]]) -> list[bool] | None:
    """Per output column of ``typed`` (a qualified, type-annotated view body), whether it can be NULL;
    ``relations`` holds each earlier relation's columns (internal names) and their nullability. ``None``
    when the query's shape is not followed."""
    try:
        return [n for _, n in _query(typed, relations, {})]
    except _Unknown:
        return None


Columns = list[tuple[str, bool]]


def _query(q: exp.Expr, rels: dict, ctes: dict[str, Columns]) -> Columns:
    if isinstance(q, exp.Subquery):
        return _query(q.this, rels, ctes)
    with_ = q.args.get("with_")
    if with_ is not None:
        ctes = dict(ctes)
        for cte in with_.expressions:
            ctes[cte.alias] = _renamed(_query(cte.this, rels, ctes), cte.args.get("alias"))
    if isinstance(q, exp.SetOperation):
        left, right = _query(q.this, rels, ctes), _query(q.expression, rels, ctes)
        if len(left) != len(right):
            raise _Unknown
        return [(name, a or b) for (name, a), (_, b) in zip(left, right)]
    if not isinstance(q, exp.Select):
        raise _Unknown
    return _Select(q, rels, ctes).outputs()


def _renamed(cols: Columns, alias: exp.TableAlias | None) -> Columns:
    names = [c.name for c in alias.columns] if alias is not None and alias.columns else []
    if not names:
        return cols
    if len(names) != len(cols):
        raise _Unknown
    return [(n, c[1]) for n, c in zip(names, cols)]


class _Select:
    def __init__(self, q: exp.Select, rels: dict, ctes: dict[str, Columns]):
        self.q = q
        self.env: dict[str, dict[str, bool] | None] = {}  # source alias -> its columns (None: not known)
        from_ = q.args.get("from_")
        joins = q.args.get("joins") or []
        seen: list[str] = []
        sources = ([from_.this] if from_ is not None else []) + [j.this for j in joins]
        for i, src in enumerate(sources):
            alias = src.alias_or_name
            self.env[alias] = self._source(src, rels, ctes)
            if i:
                side = (joins[i - 1].side or "").upper()
                if side in ("LEFT", "FULL"):
                    self._null_side([alias])
                if side in ("RIGHT", "FULL"):
                    self._null_side(seen)
            seen.append(alias)
        group = q.args.get("group")
        keys = list(group.expressions) if group is not None else []
        self.sets = any(isinstance(k, (exp.GroupingSets, exp.Cube, exp.Rollup)) for k in keys) \
            or bool(group is not None and any(group.args.get(a) for a in ("grouping_sets", "cube", "rollup")))
        # GROUP BY () and a select of aggregates without GROUP BY both make one row from an empty input.
        self.grouped = any(not (isinstance(k, exp.Tuple) and not k.expressions) for k in keys) and not self.sets

    def _null_side(self, aliases: list[str]) -> None:
        for a in aliases:
            cols = self.env.get(a)
            self.env[a] = {c: True for c in cols} if cols is not None else None

    @staticmethod
    def _source(src: exp.Expr, rels: dict, ctes: dict[str, Columns]) -> dict[str, bool] | None:
        alias = src.args.get("alias")
        if isinstance(src, exp.Table) and not src.args.get("db"):
            if src.name in ctes:
                cols = ctes[src.name]
            elif src.name in rels:
                cols = list(rels[src.name].items())
            else:
                return None
        elif isinstance(src, exp.Subquery):
            cols = _query(src.this, rels, ctes)
        else:  # UNNEST, VALUES, table functions: columns not followed
            return None
        return dict(_renamed(cols, alias))

    def outputs(self) -> Columns:
        out = []
        for e in self.q.expressions:
            if isinstance(e, exp.Star) or (isinstance(e, exp.Column) and isinstance(e.this, exp.Star)):
                raise _Unknown  # not expanded: the qualifier could not follow the sources
            out.append((e.alias_or_name, self.nullable(e)))
        return out

    def nullable(self, e: exp.Expr) -> bool:
        if isinstance(e, (exp.Alias, exp.Paren)):
            return self.nullable(e.this)
        if isinstance(e, exp.Column):
            cols = self.env.get(e.table)
            return self.sets or cols is None or cols.get(e.name, True)
        if isinstance(e, exp.Null):
            return True
        if isinstance(e, exp.Literal) or isinstance(e, _NEVER_NULL):
            return False
        if isinstance(e, exp.Cast):
            return self._cast(e)
        if isinstance(e, exp.Coalesce):
            return all(self.nullable(a) for a in [e.this, *e.expressions])
        if isinstance(e, exp.Case):
            default = e.args.get("default")
            return default is None or any(self.nullable(x) for x in [*(i.args["true"] for i in e.args["ifs"]), default])
        if isinstance(e, exp.If):
            other = e.args.get("false")
            return other is None or self.nullable(e.args["true"]) or self.nullable(other)
        if isinstance(e, exp.In):
            if e.args.get("query") is not None or e.args.get("unnest") is not None:
                return True
            return any(self.nullable(a) for a in [e.this, *e.expressions])
        if isinstance(e, exp.Window):
            return not isinstance(e.this, _RANKS)
        if isinstance(e, exp.Filter):
            return not isinstance(e.this, exp.Count)  # the filter may leave a group without a row
        if isinstance(e, exp.Count):
            return False
        if isinstance(e, _KEEPS_ARG):
            arg = e.this.expressions[0] if isinstance(e.this, exp.Distinct) else e.this
            return not self.grouped or arg is None or self.nullable(arg)
        if isinstance(e, _STRICT):
            return any(self.nullable(a) for a in e.iter_expressions() if not isinstance(a, (exp.Var, exp.DataType)))
        return True

    def _cast(self, e: exp.Cast) -> bool:
        if isinstance(e, exp.TryCast):
            return True
        src = e.this.type.this if e.this.type is not None else T.UNKNOWN
        to = e.to.this
        if src in (T.UNKNOWN, T.VARIANT, T.JSON, T.NULL) or to in (T.VARIANT, T.JSON):
            return True  # a VARIANT whose value has another type casts to NULL
        if src in _TEXT and to in _DATETIME and not isinstance(e.this, exp.Literal):
            return True  # "produce the result NULL when the string does not have the correct format"
        return self.nullable(e.this)


__all__ = ["outputs"]
