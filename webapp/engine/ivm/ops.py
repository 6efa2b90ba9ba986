"""Operators of an incrementally maintained view: each turns its inputs' changes into its own.

A change (a Z-set delta) is a list of ``(row, weight)`` pairs: ``row`` a tuple in the operator's
column order, ``weight`` a non-zero int (+n: n copies appear, -n: n copies go). Every operator has
``step(con, deltas)``, where ``deltas`` maps a relation name to its ``(deleted rows, inserted rows)``
in this step, and returns its own change. Scalar SQL (filters, projections, group keys, aggregate
arguments) is evaluated by DuckDB on the changed rows only, so values and types are exactly
what DuckDB gives when it evaluates the view (a filter in ``pyfilter``'s exact subset over a small
change is the one thing Python evaluates); Python only moves rows and keeps the state: indexes
for joins (``join``) and per-group accumulators (``agg``). This module holds the operator model
and the operators other than joins and aggregates.

Every operator can also say what its full current contents are, as SQL over the relations the view
reads (``sql()``, columns ``__c0, __c1, ...``). State is built from that SQL when a pipeline starts
(``init``), so start-up is DuckDB's vectorized work plus loading what must be held, and GROUP BY
uses it to recompute the groups a large change touches (see ``agg``).

NaN is one value in DuckDB (``NaN = NaN``, one group); Python's ``float('nan')`` objects are all
unequal, so every float that enters Python state is canonicalised to one NaN object first.
"""

from __future__ import annotations

from dataclasses import dataclass
from operator import itemgetter
from typing import Any, Callable

import numpy
import pyarrow as pa
import pyarrow.compute as pc

from ..arrowrows import inserted_arrow, plain
from ..params import PARAM_ROWS_MAX, PARAM_TYPES, flat
from .pyfilter import ROWS_MAX as PYFILTER_ROWS_MAX

NAN = float("nan")


@dataclass(frozen=True)
class TypeInfo:
    """A DuckDB column type, how its values travel through Arrow, and its comparison family."""

    duck: str  # DuckDB spelling, e.g. INTEGER, DECIMAL(38,2), HUGEINT
    arrow: Any  # pyarrow DataType DuckDB exports it as
    cast: bool  # Arrow read back by DuckDB needs CAST(... AS duck)
    kind: str  # int | float | decimal | str | bool | date | time | timestamp
    scale: int = 0

    def __deepcopy__(self, memo):
        return self


def canonizer(types: list[TypeInfo]) -> Callable[[tuple], tuple] | None:
    """A function replacing every NaN in a row by the one ``NAN`` object, or None (no float column)."""
    fl = tuple(i for i, t in enumerate(types) if t.kind == "float")
    if not fl:
        return None

    def canon(row: tuple) -> tuple:
        for i in fl:
            v = row[i]
            if v != v and v is not NAN and v is not None:
                return tuple(NAN if (j in fl and x is not None and x != x) else x for j, x in enumerate(row))
        return row

    canon.float_positions = fl
    return canon


def canon_pairs(canon, pairs: list) -> list:
    """``pairs`` with ``canon`` applied to each row, copied only when some row holds a NaN."""
    if canon is None:
        return pairs
    fl = canon.float_positions
    # Only a NaN differs from itself: most changes hold none and are returned as they are.
    if len(fl) == 1:
        p = fl[0]
        if not any(r[p] != r[p] for r, _ in pairs):
            return pairs
    elif not any(r[i] != r[i] for r, _ in pairs for i in fl):
        return pairs
    return [(canon(r), w) for r, w in pairs]


def consolidate(pairs) -> list[tuple[tuple, int]]:
    """Sum the weights of equal rows; drop rows whose weights cancel. Keeps first-seen order."""
    c: dict = {}
    for r, w in pairs:
        c[r] = c.get(r, 0) + w
    return [(r, w) for r, w in c.items() if w]


def from_changes(d) -> list[tuple[tuple, int]]:
    dels, ins = d
    return [(r, -1) for r in dels] + [(r, 1) for r in ins]


def arrow_columns(rows: list[tuple], positions, types: list[TypeInfo]) -> dict[str, pa.Array]:
    """Arrow arrays ``__c{i}`` for the given positions of ``rows`` (a list of tuples)."""
    if not rows:
        return {f"__c{i}": pa.array([], type=types[i].arrow) for i in positions}
    cols = list(zip(*rows))
    return {f"__c{i}": pa.array(cols[i], type=types[i].arrow) for i in positions}


def plain_type(t: TypeInfo) -> bool:
    """Whether a column's Arrow values are the Python values the operators hold. HUGEINT travels as
    ``decimal128(38, 0)``, whose values are ``Decimal``: the operators' integers must stay ``int``
    (an exact sum of squares in a ``Decimal`` is rounded at 28 digits)."""
    return plain(t.arrow) and not (t.kind == "int" and pa.types.is_decimal(t.arrow))


def inserted_batch(tbl: pa.Table) -> pa.Table:
    """Inserted rows kept as Arrow as a change batch: columns ``__c<i>``, every weight ``__w`` 1."""
    cols = {f"__c{i}": c for i, c in enumerate(tbl.columns)}
    cols["__w"] = pa.array(numpy.ones(tbl.num_rows, dtype=numpy.int64))
    return pa.table(cols)


def fetch_pairs(con, sql: str, types: list[TypeInfo]) -> list[tuple[tuple, int]]:
    """The (row, weight) pairs of a query whose last column is the weight, every NaN canonical."""
    return _fetch(con, sql, types, True)


def fetch_rows(con, sql: str, types: list[TypeInfo]) -> list[tuple]:
    """The rows of a query, every NaN canonical."""
    return _fetch(con, sql, types, False)


def _fetch(con, sql, types, weighted):
    # Plain types come through Arrow, a column at a time, so a NaN is found without a Python loop.
    if not types or not all(plain_type(t) for t in types):
        res = con.execute(sql).fetchall()
        c = canonizer(types)
        if weighted:
            return [((c(r[:-1]) if c else r[:-1]), r[-1]) for r in res]
        return [c(r) for r in res] if c else res
    tbl = con.sql(sql).to_arrow_table()
    rows = arrow_tuples(tbl.select(list(range(len(types)))), types)
    return list(zip(rows, tbl.column(len(types)).to_pylist())) if weighted else rows


def arrow_tuples(tbl: pa.Table, types: list[TypeInfo]) -> list[tuple]:
    """The rows of an Arrow table of plain ``types`` as tuples, every NaN canonical."""
    if not tbl.num_columns:
        return [()] * tbl.num_rows
    rows = list(zip(*[c.to_pylist() for c in tbl.columns]))
    # numpy, not Arrow's aggregates, which wait for Arrow's thread pool (busy parsing requests).
    if any(t.kind == "float" and numpy.isnan(pc.fill_null(tbl.column(i), 0.0).to_numpy()).any()
           for i, t in enumerate(types)):
        c = canonizer(types)
        rows = [c(r) for r in rows]
    return rows


class Node:
    """Base of all operators: output ``types``, ``keys`` (unique keys as output positions)."""

    types: list[TypeInfo]
    keys: list[tuple[int, ...]]
    children: tuple = ()
    # Whether the operator can apply the Select right above it in its own DuckDB query
    # (``step_under``, ``arrow_change`` with ``sel``): a join does.
    fuses_select = False

    def stateful(self) -> bool:
        return any(c.stateful() for c in self.children)

    def skipped(self) -> None:
        """This step's change reached the operators below without their ``step`` (a parent computed its
        own change from their contents in DuckDB, which only a subtree that is not ``stateful`` allows):
        what they keep of a stored table for speed only (``join.TableSide.mem``) is dropped."""
        for c in self.children:
            c.skipped()

    def consolidated(self) -> bool:
        """Whether every change ``step`` returns is already consolidated (no row twice)."""
        return False

    def reset(self) -> None:
        for c in self.children:
            c.reset()

    def sources(self) -> set[str]:
        out: set[str] = set()
        for c in self.children:
            out |= c.sources()
        return out

    def table_indexes(self) -> set[tuple[str, str]]:
        out: set[tuple[str, str]] = set()
        for c in self.children:
            out |= c.table_indexes()
        return out

    def step(self, con, deltas) -> list[tuple[tuple, int]]:
        raise NotImplementedError

    def sql(self) -> str:
        """A query for the operator's full current contents, columns ``__c0 .. __c{n-1}``."""
        raise NotImplementedError

    def init(self, con) -> None:
        """Build this operator's state (and its inputs') from the current contents."""
        for c in self.children:
            c.init(con)

    def bind(self, sources: dict[str, str]) -> None:
        """Tell every Source the query giving its relation's current contents."""
        for c in self.children:
            c.bind(sources)

    def delta_bound(self, deltas) -> int:
        """How many changed rows of the relations read reach this operator in this step."""
        return sum(c.delta_bound(deltas) for c in self.children)

    def arrow_change(self, con, deltas) -> pa.Table | None:
        """This operator's change computed in DuckDB as an Arrow batch of inserted rows of plain
        types (``arrowrows``), when it can be; else None and ``step`` gives it."""
        return None

    def arrow_inserts(self, deltas) -> pa.Table | None:
        """This operator's change as an Arrow batch of inserted rows (columns in output order, of
        the ``types``' Arrow types), when the step's input is one (``arrowrows``); else None."""
        return None


def _cols(n: int) -> str:
    return ", ".join(f"__c{i}" for i in range(n))


class Source(Node):
    """The change of a table or of an earlier view, as the runtime hands it over. ``name`` is the user's (the
    runtime's deltas are keyed by it), ``internal`` the relation's name in DuckDB."""

    def __init__(self, name: str, types: list[TypeInfo], keys: list[tuple[int, ...]], is_table: bool):
        self.name, self.types, self.keys, self.is_table = name, types, keys, is_table
        self.internal = name
        self.canon = canonizer(types)

    def sources(self) -> set[str]:
        return {self.name}

    def bind(self, sources):
        self.src_sql = sources[self.name]

    def sql(self):
        return f"SELECT * FROM ({self.src_sql}) AS __s({_cols(len(self.types))})"

    def delta_bound(self, deltas):
        d = deltas.get(self.name)
        return len(d[0]) + len(d[1]) if d else 0

    def step(self, con, deltas):
        d = deltas.get(self.name)
        if not d:
            return []
        return canon_pairs(self.canon, from_changes(d))

    def arrow_inserts(self, deltas):
        tbl = inserted_arrow(deltas.get(self.name))
        if tbl is None or tbl.schema.types != [t.arrow for t in self.types]:
            return None
        return tbl


class Select(Node):
    """Filter and compute expressions over each changed row, evaluated by DuckDB.

    ``sql`` reads the registered batch ``__sluice_raw`` (columns ``__c{i}`` and ``__w``). ``fast``,
    when set, is a list of input positions: the output is those columns and there is no filter,
    so Python picks them without a round trip. ``keep``, when set, is the filter as a Python
    function of an input row (``pyfilter``) and the output is plain input columns: a change of up
    to ``PYFILTER_ROWS_MAX`` rows is filtered and picked without DuckDB's fixed cost a query."""

    def __init__(self, child: Node, types: list[TypeInfo], keys, exprs: list[str], where: str | None,
                 refs: list[int], fast: list[int] | None, keep: Callable[[tuple], bool] | None = None):
        self.child, self.types, self.keys, self.refs, self.fast = child, types, keys, refs, fast
        self.keep = keep
        self.exprs, self.where = exprs, where
        self.batch_sql = select_sql(child.types, refs, exprs, where)
        self.rows_sql = select_sql(child.types, refs, exprs, where, weighted=False)
        self.children = (child,)
        self.canon = canonizer(types)
        self.plain = [int(e[3:]) if e.startswith("__c") and e[3:].isdigit() else None for e in exprs]
        picks = fast if fast is not None else self.plain if keep is not None else None
        self.pick = None if picks is None else _picker(picks, len(child.types))
        # Every input column, in order, unfiltered: rows pass through as they are. (Not the
        # planner's ``identity``, which marks a filter that keeps every column.)
        self.passthrough = fast is not None and list(fast) == list(range(len(child.types)))
        self.by_params = all(child.types[i].duck in PARAM_TYPES for i in refs)
        self.params_sql: dict[int, str] = {}  # by number of rows

    def consolidated(self):
        return self.passthrough and self.child.consolidated()

    def sql(self):
        sel = ", ".join(f"{e} AS __c{i}" for i, e in enumerate(self.exprs)) or "NULL AS __c0"
        out = f"SELECT {sel} FROM ({self.child.sql()}) AS __sluice_b"
        return out + (f" WHERE {self.where}" if self.where else "")

    def arrow_change(self, con, deltas):
        return self.child.arrow_change(con, deltas, self) if self.child.fuses_select else None

    def arrow_inserts(self, deltas):
        if self.fast is None:
            return None
        tbl = self.child.arrow_inserts(deltas)
        return None if tbl is None else tbl.select(list(self.fast))

    def step(self, con, deltas):
        if self.child.fuses_select:
            pairs, done = self.child.step_under(con, deltas, self)
            return pairs if done else self.eval(con, pairs)
        return self.eval(con, self.child.step(con, deltas))

    def eval(self, con, rows: list[tuple[tuple, int]]) -> list[tuple[tuple, int]]:
        if not rows:
            return []
        if self.passthrough:
            return rows
        pick = self.pick
        if self.fast is not None:
            return [(pick(r), w) for r, w in rows]
        if self.keep is not None and len(rows) <= PYFILTER_ROWS_MAX:
            keep = self.keep
            # One NaN object, as DuckDB's rows have: an input (an aggregate's, say) may hold another.
            return canon_pairs(self.canon, [(pick(r), w) for r, w in rows if keep(r)])
        if self.by_params and len(rows) <= PARAM_ROWS_MAX:
            return self._eval_params(con, rows)
        in_types = self.child.types
        cols = arrow_columns([r for r, _ in rows], self.refs, in_types)
        cols["__w"] = pa.array([w for _, w in rows], type=pa.int64())
        con.register("__sluice_raw", pa.table(cols))
        try:
            return fetch_pairs(con, self.batch_sql, self.types)
        finally:
            con.unregister("__sluice_raw")

    def eval_arrow(self, con, tbl: pa.Table) -> list[tuple]:
        """``eval_rows`` of inserted rows given as an Arrow batch (see ``arrow_inserts``)."""
        if self.fast is not None:
            return arrow_tuples(tbl.select(list(self.fast)), self.types)
        cols = {f"__c{i}": tbl.column(i) for i in self.refs}
        if not cols:
            cols["__one"] = pa.array(numpy.ones(tbl.num_rows, dtype=numpy.int8))
        con.register("__sluice_raw", pa.table(cols))
        try:
            return fetch_rows(con, self.rows_sql, self.types)
        finally:
            con.unregister("__sluice_raw")

    def _eval_params(self, con, rows: list[tuple[tuple, int]]) -> list[tuple[tuple, int]]:
        """``eval`` for a few rows, passed as query parameters (``params``)."""
        n = len(rows)
        sql = self.params_sql.get(n)
        if sql is None:
            sql = self.params_sql[n] = select_sql(self.child.types, self.refs, self.exprs, self.where, params=n)
        refs = self.refs
        res = con.execute(sql, flat((*(r[i] for i in refs), w) for r, w in rows)).fetchall()
        c = self.canon
        if c:
            return [(c(r[:-1]), r[-1]) for r in res]
        return [(r[:-1], r[-1]) for r in res]

    def eval_rows(self, con, rows: list[tuple]) -> list[tuple]:
        """The output rows for input ``rows`` (no weights): a view that is one Select over one
        relation maps the step's deleted and inserted rows separately."""
        if not rows:
            return []
        pick = self.pick
        if self.fast is not None:
            return [pick(r) for r in rows]
        if self.keep is not None and len(rows) <= PYFILTER_ROWS_MAX:  # a Source's rows: NaN canonical
            keep = self.keep
            return [pick(r) for r in rows if keep(r)]
        cols = arrow_columns(rows, self.refs, self.child.types)
        if not cols:
            cols["__one"] = pa.array([1] * len(rows), type=pa.int8())
        con.register("__sluice_raw", pa.table(cols))
        try:
            res = con.execute(self.rows_sql).fetchall()
        finally:
            con.unregister("__sluice_raw")
        return [self.canon(r) for r in res] if self.canon else res


def select_sql(in_types: list[TypeInfo], refs: list[int], exprs: list[str], where: str | None,
               weighted: bool = True, params: int = 0) -> str:
    """The Select over the registered batch ``__sluice_raw``, or (``params`` > 0) over that many rows
    of parameters, each cast to its column's type (a parameter's type is its Python value's)."""
    w = ["__w"] if weighted else []
    if params:
        names = ", ".join([f"__c{i}" for i in refs] + w)
        row = "(" + ", ".join([f"CAST(? AS {in_types[i].duck})" for i in refs] + ["?"] * len(w)) + ")"
        sql = f"SELECT {', '.join(exprs + w)} FROM (VALUES {', '.join([row] * params)}) AS __sluice_b({names})"
        return sql + (f" WHERE {where}" if where else "")
    casts = [f"CAST(__c{i} AS {in_types[i].duck}) AS __c{i}" if in_types[i].cast else f"__c{i}" for i in refs]
    inner = ", ".join(casts + w) or "1 AS __one"
    sql = f"WITH __sluice_b AS (SELECT {inner} FROM __sluice_raw) SELECT {', '.join(exprs + w)} FROM __sluice_b"
    if where:
        sql += f" WHERE {where}"
    return sql


def _picker(pos: list[int], width: int) -> Callable[[tuple], tuple]:
    """A function giving the columns ``pos`` of a row (of ``width`` columns) as a tuple."""
    if list(pos) == list(range(width)):
        return lambda r: r
    if len(pos) == 1:
        p = pos[0]
        return lambda r: (r[p],)
    return itemgetter(*pos) if pos else (lambda r: ())


class Distinct(Node):
    def __init__(self, child: Node, types, keys):
        self.child, self.types, self.keys = child, types, keys
        self.children = (child,)
        self.counts: dict = {}

    def stateful(self):
        return True

    def reset(self):
        self.counts = {}
        super().reset()

    def sql(self):
        return f"SELECT DISTINCT * FROM ({self.child.sql()})"

    def init(self, con):
        super().init(con)
        n = len(self.types)
        rows = con.execute(f"SELECT {_cols(n)}, count(*) FROM ({self.child.sql()}) GROUP BY ALL").fetchall()
        canon = canonizer(self.types)
        self.counts = {(canon(r[:n]) if canon else r[:n]): r[n] for r in rows}

    def step(self, con, deltas):
        out = []
        counts = self.counts
        for r, w in consolidate(self.child.step(con, deltas)):
            old = counts.get(r, 0)
            new = old + w
            if new < 0:
                raise RuntimeError("distinct: a row was deleted more often than it was inserted")
            if new:
                counts[r] = new
            else:
                counts.pop(r, None)
            if old == 0 and new:
                out.append((r, 1))
            elif old and new == 0:
                out.append((r, -1))
        return out


class UnionAll(Node):
    def __init__(self, children: list[Node], types, keys):
        self.children, self.types, self.keys = tuple(children), types, keys

    def sql(self):
        return " UNION ALL ".join(f"SELECT * FROM ({c.sql()})" for c in self.children)

    def step(self, con, deltas):
        out = []
        for c in self.children:
            out.extend(c.step(con, deltas))
        return out


__all__ = ["TypeInfo", "Node", "Source", "Select", "Distinct", "UnionAll", "consolidate", "canonizer", "select_sql",
           "NAN", "arrow_columns", "fetch_pairs", "fetch_rows", "inserted_batch", "plain_type"]
