"""Operators of an incrementally maintained view: each turns its inputs' changes into its own.

A change (a Z-set delta) is a list of ``(row, weight)`` pairs: ``row`` a tuple in the operator's
column order, ``weight`` a non-zero int (+n: n copies appear, -n: n copies go). Every operator has
``step(con, deltas)``, where ``deltas`` maps a relation name to its ``(deleted rows, inserted rows)``
in this step, and returns its own change. Scalar SQL (filters, projections, group keys, aggregate
arguments) is evaluated by DuckDB on the changed rows only, so values and types are exactly
what DuckDB gives when it evaluates the view (a filter in ``pyfilter``'s exact subset over a small
change is the one thing Python evaluates); Python only moves rows and keeps the state: indexes
for joins (``IndexSide``) and per-group accumulators (``agg``). A join side that is a stored
table is not copied at all: it is probed through a DuckDB ART index on the join column
(``TableSide``), so a step reads the matching rows only.

Every operator can also say what its full current contents are, as SQL over the relations the view
reads (``sql()``, columns ``__c0, __c1, ...``). State is built from that SQL when a pipeline starts
(``init``), so start-up is DuckDB's vectorized work plus loading what must be held, and GROUP BY
uses it to recompute the groups a large change touches (see ``agg``).

NaN is one value in DuckDB (``NaN = NaN``, one group); Python's ``float('nan')`` objects are all
unequal, so every float that enters Python state is canonicalised to one NaN object first.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, Callable

import numpy
import pyarrow as pa
import pyarrow.compute as pc

from ..arrowrows import inserted_arrow, plain
from ..params import PARAM_ROWS_MAX, PARAM_TYPES, flat
from ..sql import quote
from .pyfilter import ROWS_MAX as PYFILTER_ROWS_MAX

NAN = float("nan")
# Above this many distinct keys a probe becomes one semi-join (a scan) instead of an IN-list
# (an ART lookup costs ~15 us per key, a scan of a million rows ~20 ms).
PROBE_IN_LIST_MAX = 1500


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


def _plain(t: TypeInfo) -> bool:
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
    if not types or not all(_plain(t) for t in types):
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

    def stateful(self) -> bool:
        return any(c.stateful() for c in self.children)

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
        return self.child.arrow_change(con, deltas, self) if isinstance(self.child, Join) else None

    def arrow_inserts(self, deltas):
        if self.fast is None:
            return None
        tbl = self.child.arrow_inserts(deltas)
        return None if tbl is None else tbl.select(list(self.fast))

    def step(self, con, deltas):
        if isinstance(self.child, Join):
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


def _keyfn(pos: tuple[int, ...]) -> Callable[[tuple], tuple]:
    if len(pos) == 1:
        p = pos[0]
        return lambda r: (r[p],)
    return itemgetter(*pos)


def group_by_key(rows, keypos: tuple[int, ...]):
    """({key: [(row, w), ...]}, [(row, w) with a NULL in the key])."""
    g: dict = {}
    nulls = []
    if len(keypos) == 1:
        p = keypos[0]
        for rw in rows:
            v = rw[0][p]
            if v is None:
                nulls.append(rw)
            else:
                k = (v,)
                b = g.get(k)
                if b is None:
                    g[k] = [rw]
                else:
                    b.append(rw)
        return g, nulls
    get = itemgetter(*keypos)
    for rw in rows:
        k = get(rw[0])
        if None in k:
            nulls.append(rw)
        else:
            b = g.get(k)
            if b is None:
                g[k] = [rw]
            else:
                b.append(rw)
    return g, nulls


class IndexSide:
    """A join input kept in memory: join key -> {row: multiplicity}."""

    def __init__(self, child: Node, keypos: tuple[int, ...]):
        self.child, self.keypos = child, keypos
        self.keyf = _keyfn(keypos)
        self.index: dict = {}

    def reset(self):
        self.index = {}

    def init(self, con):
        self.index = {}
        rows = con.execute(self.child.sql()).fetchall()
        canon = canonizer(self.child.types)
        self.apply([(canon(r) if canon else r, 1) for r in rows])

    def apply(self, rows):
        idx, keyf = self.index, self.keyf
        for r, w in rows:
            k = keyf(r)
            if None in k:
                continue
            b = idx.get(k)
            if b is None:
                b = idx[k] = {}
            n = b.get(r, 0) + w
            if n:
                b[r] = n
            else:
                del b[r]
                if not b:
                    del idx[k]

    def probe(self, con, keys) -> dict:
        idx = self.index
        out = {}
        for k in keys:
            b = idx.get(k)
            if b:
                out[k] = list(b.items())
        return out


# Join key kinds DuckDB builds an ART index for (a failed CREATE INDEX would abort the step).
_INDEXABLE = {"int", "float", "decimal", "str", "bool", "date", "time", "timestamp"}


class TableSide:
    """A join input that is a stored table (optionally filtered/projected by ``post``), probed by
    an ART index on its first join column, so a step reads only rows with the changed keys.

    The index is built by the first probe that looks keys up one by one, not when the view
    starts: every insert into the table pays for keeping it (a bulk load of ``orders`` about
    doubles its commits with an index on ``customer_id``, and the index costs memory), so a
    pipeline whose other side never changes never builds it; the first change of the other
    side pays for building it once (about a second at 10^6 rows)."""

    def __init__(self, child: Node, keypos: tuple[int, ...], table: str, raw_types: list[TypeInfo],
                 raw_keycols: list[str], raw_keypos: tuple[int, ...], post: Select | None):
        self.child, self.keypos, self.table, self.raw_types = child, keypos, table, raw_types
        self.raw_keycols, self.raw_keypos, self.post = raw_keycols, raw_keypos, post
        self.keyf = _keyfn(keypos)
        self.raw_keyf = _keyfn(raw_keypos)
        self.canon = canonizer(raw_types)
        col = quote(raw_keycols[0])
        self.in_sql = f"SELECT * FROM {quote(table)} WHERE {col} IN "
        self.semi_sql = f"SELECT * FROM {quote(table)} WHERE {col} IN (SELECT k FROM __sluice_keys)"
        self.index_sql = (f"CREATE INDEX IF NOT EXISTS {quote(f'__sluice_ix_{table}_{raw_keycols[0]}')} "
                          f"ON {quote(table)} ({col})")
        self.reset()

    def reset(self):
        self.indexed = self.raw_types[self.raw_keypos[0]].kind not in _INDEXABLE  # True: never to be built

    def init(self, con):
        pass

    def apply(self, rows):
        pass  # the table itself is the state; the runtime has already applied the step to it

    def probe(self, con, keys) -> dict:
        keys = list(keys)
        if not keys:
            return {}
        first = list(dict.fromkeys(k[0] for k in keys))
        if len(first) <= PROBE_IN_LIST_MAX:
            if not self.indexed:
                con.execute(self.index_sql)
                self.indexed = True
            rows = con.execute(self.in_sql + "(" + ", ".join("?" * len(first)) + ")", first).fetchall()
        else:
            kt = self.raw_types[self.raw_keypos[0]]
            con.register("__sluice_keys", pa.table({"k": pa.array(first, type=kt.arrow)}))
            try:
                rows = con.execute(self.semi_sql).fetchall()
            finally:
                con.unregister("__sluice_keys")
        if self.canon:
            rows = [self.canon(r) for r in rows]
        pairs = [(r, 1) for r in rows]
        if self.post is not None:
            pairs = self.post.eval(con, pairs)
        want = set(keys)
        out: dict = {}
        keyf = self.keyf
        for r, w in pairs:
            k = keyf(r)
            if k in want:
                out.setdefault(k, []).append((r, w))
        return out


class Join(Node):
    """Equi-join of two inputs; ``pad_left``/``pad_right`` make it a left/right/full outer join.

    Both sides are brought up to date first, then, with new contents ``L``, ``R`` and changes
    ``dL``, ``dR``:  d(L join R) = dL join R + L join dR - dL join dR. For a preserved left side, a
    key whose right match count goes from zero to non-zero takes away its padded rows (the left
    rows before the step), one going to zero brings them (the left rows after the step), and a key
    without right matches before and after pads just the left change."""

    def __init__(self, left, right, types, keys, pad_left: bool, pad_right: bool):
        self.left, self.right, self.types, self.keys = left, right, types, keys
        self.pad_left, self.pad_right = pad_left, pad_right  # pad_right: left rows kept, right padded
        self.children = (left.child, right.child)
        self.lw = len(left.child.types)
        self.rw = len(right.child.types)
        self._join_sql: dict[tuple, str] = {}  # built on first use: a Source learns its SQL in bind()

    def stateful(self):
        return isinstance(self.left, IndexSide) or isinstance(self.right, IndexSide) or super().stateful()

    def reset(self):
        self.left.reset()
        self.right.reset()
        super().reset()

    def init(self, con):
        super().init(con)
        self.left.init(con)
        self.right.init(con)

    def sql(self):
        jt = {(False, False): "INNER", (False, True): "LEFT", (True, False): "RIGHT", (True, True): "FULL"}[
            (self.pad_left, self.pad_right)]
        sel = ", ".join([f"l.__c{i} AS __c{i}" for i in range(self.lw)]
                        + [f"r.__c{i} AS __c{self.lw + i}" for i in range(self.rw)])
        on = " AND ".join(f"l.__c{a} = r.__c{b}" for a, b in zip(self.left.keypos, self.right.keypos))
        return (f"SELECT {sel} FROM ({self.left.child.sql()}) AS l {jt} JOIN ({self.right.child.sql()}) AS r "
                f"ON {on}")

    def bind(self, sources):
        super().bind(sources)
        self._join_sql = {}

    def step(self, con, deltas):
        return self.step_under(con, deltas, None)[0]

    def _probed(self, con, dl, dr) -> list:
        """The join's change, probing each side by the other's changed keys and joining in Python."""
        gl, nl = group_by_key(dl, self.left.keypos)
        gr, nr = group_by_key(dr, self.right.keypos)
        out: list = []
        rnull = (None,) * self.rw
        lnull = (None,) * self.lw
        rkeys = set(gl) | (set(gr) if self.pad_right else set())
        lkeys = set(gr) | (set(gl) if self.pad_left else set())
        rnew = self.right.probe(con, rkeys) if rkeys else {}
        lnew = self.left.probe(con, lkeys) if lkeys else {}
        for k, lrows in gl.items():
            for rr, rm in rnew.get(k, ()):
                out.extend((lr + rr, lw_ * rm) for lr, lw_ in lrows)
        for k, rrows in gr.items():
            for lr, lm in lnew.get(k, ()):
                out.extend((lr + rr, lm * rw_) for rr, rw_ in rrows)
            drows = gl.get(k)
            if drows:
                for rr, rw_ in rrows:
                    out.extend((lr + rr, -lw_ * rw_) for lr, lw_ in drows)
        if self.pad_right:
            _pad(out, gl, gr, lnew, rnew, nl, lambda r: r + rnull)
        if self.pad_left:
            _pad(out, gr, gl, rnew, lnew, nr, lambda r: lnull + r)
        return out  # consumers take unconsolidated changes; the view consolidates its output

    def step_under(self, con, deltas, sel: Select | None) -> tuple[list, bool]:
        """The join's change, or, when the join runs in DuckDB, the change of ``sel`` (the Select
        right above it) computed in the same query: (pairs, whether ``sel`` is applied)."""
        inner = not self.pad_left and not self.pad_right
        found = self._arrow_delta(deltas)
        if found is not None:
            return self._joined(con, *found, sel)
        dl = self.left.child.step(con, deltas)
        dr = self.right.child.step(con, deltas)
        if not dl and not dr:
            return [], True
        self.left.apply(dl)
        self.right.apply(dr)
        if inner:
            # One side's large change against a stored table: one hash join in DuckDB.
            for left_changed, mine, other, d, od in ((True, self.left, self.right, dl, dr),
                                                     (False, self.right, self.left, dr, dl)):
                if d and not od and isinstance(other, TableSide) and _many_keys(d, mine.keypos):
                    types = mine.child.types
                    cols = arrow_columns([r for r, _ in d], range(len(types)), types)
                    cols["__w"] = pa.array([w for _, w in d], type=pa.int64())
                    return self._joined(con, pa.table(cols), left_changed, sel)
        return self._probed(con, dl, dr), False

    def _arrow_delta(self, deltas) -> tuple[pa.Table, bool] | None:
        """(the change as a batch for ``_joined``, whether it is the left side's) when the step is a
        large bulk load of one table, kept as Arrow (``arrow_inserts``), joined with another stored
        table; else None."""
        if self.pad_left or self.pad_right or not isinstance(self.left, TableSide) or \
                not isinstance(self.right, TableSide):
            return None
        for left_changed, mine, other in ((True, self.left, self.right), (False, self.right, self.left)):
            tbl = mine.child.arrow_inserts(deltas) if other.child.delta_bound(deltas) == 0 else None
            if tbl is not None and _many(tbl.num_rows, lambda: tbl.column(mine.keypos[0]).to_pylist()):
                return inserted_batch(tbl), left_changed
        return None

    def arrow_change(self, con, deltas, sel: Select | None = None) -> pa.Table | None:
        """The change of the join (or of ``sel`` right above it) as an Arrow batch of inserted rows,
        when a bulk load kept as Arrow is joined in DuckDB (``_arrow_delta``) and the rows' types
        are plain; else None (``step`` then gives the change)."""
        # The types first: when they are not plain, ``step`` looks for the Arrow change itself.
        if not all(_plain(t) for t in (_applied(sel) or self).types):
            return None
        found = self._arrow_delta(deltas)
        if found is None:
            return None
        sql, sel = self._query(found[1], sel)
        con.register("__sluice_delta", found[0])
        try:
            tbl = con.sql(sql).to_arrow_table()
        finally:
            con.unregister("__sluice_delta")
        return tbl.drop_columns(["__w"])  # every weight is 1: inserted rows joined with stored ones

    def _joined(self, con, delta: pa.Table, left_changed: bool, sel) -> tuple[list, bool]:
        """An inner join of one side's change (``delta``: its columns ``__c<i>`` and weights ``__w``)
        with the other side, a stored table unchanged in this step, as one DuckDB query: what
        probing the table key by key and joining in Python gives."""
        sql, sel = self._query(left_changed, sel)
        con.register("__sluice_delta", delta)
        try:
            return fetch_pairs(con, sql, (sel or self).types), sel is not None
        finally:
            con.unregister("__sluice_delta")

    def _query(self, left_changed: bool, sel) -> tuple[str, Select | None]:
        """The query of ``_joined`` and the Select it applies (None: the join's own rows)."""
        mine, other = (self.left, self.right) if left_changed else (self.right, self.left)
        sel = _applied(sel)
        key = (left_changed, sel is not None)
        sql = self._join_sql.get(key)
        if sql is None:
            types = mine.child.types
            n = len(types)
            d = ", ".join([f"CAST(__c{i} AS {t.duck}) AS __c{i}" if t.cast else f"__c{i}"
                           for i, t in enumerate(types)] + ["__w"])
            dcols = [f"d.__c{i}" for i in range(n)]
            ocols = [f"o.__c{i}" for i in range(len(other.child.types))]
            on = " AND ".join(f"d.__c{a} = o.__c{b}" for a, b in zip(mine.keypos, other.keypos))
            cols = dcols + ocols if left_changed else ocols + dcols
            out = ", ".join(f"{c} AS __c{i}" for i, c in enumerate(cols))
            sql = (f"WITH d AS (SELECT {d} FROM __sluice_delta) SELECT {out}, d.__w AS __w "
                   f"FROM d JOIN ({other.child.sql()}) AS o ON {on}")
            if sel is not None:
                sql = f"SELECT {', '.join(sel.exprs)}, __w FROM ({sql}) AS __sluice_b"
                sql += f" WHERE {sel.where}" if sel.where else ""
            self._join_sql[key] = sql
        return sql, sel


def _applied(sel: Select | None) -> Select | None:
    """The Select above a join that a DuckDB join query applies: None when it has nothing to
    compute or no column to give."""
    return None if sel is None or sel.passthrough or not sel.exprs else sel


def _many_keys(delta, keypos) -> bool:
    """``_many`` of a change given as (row, weight) pairs."""
    p = keypos[0]
    return _many(len(delta), lambda: [r[p] for r, _ in delta])


def _many(rows: int, keys: Callable[[], list]) -> bool:
    """Whether a change of ``rows`` rows has more distinct first join keys (``keys()``, read only when
    the count allows it) than a probe looks up one by one: the probe would scan the other side
    anyway, so a hash join in DuckDB costs no more."""
    return rows > PROBE_IN_LIST_MAX and len(set(keys())) > PROBE_IN_LIST_MAX


def _pad(out, gk, go, knew, onew, nulls, pad):
    """Padded rows for the kept side K (change ``gk``, new contents ``knew``) against the other side
    O (change ``go``, new contents ``onew``)."""
    for k in set(gk) | set(go):
        cn = sum(m for _, m in onew.get(k, ()))
        co = cn - sum(w for _, w in go.get(k, ()))
        if cn == 0 and co == 0:
            out.extend((pad(r), w) for r, w in gk.get(k, ()))
        elif (cn == 0) != (co == 0):
            rows = knew.get(k, ())
            if co == 0:  # matches appeared: the rows padded before the step go
                old: Counter = Counter()
                for r, m in rows:
                    old[r] += m
                for r, w in gk.get(k, ()):
                    old[r] -= w
                out.extend((pad(r), -m) for r, m in old.items() if m)
            else:  # the last match went: every row of the key is padded now
                out.extend((pad(r), m) for r, m in rows)
    out.extend((pad(r), w) for r, w in nulls)


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


__all__ = ["TypeInfo", "Node", "Source", "Select", "Join", "IndexSide", "TableSide", "Distinct", "UnionAll",
           "consolidate", "canonizer", "select_sql", "NAN"]
