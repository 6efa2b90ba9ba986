"""Joins of an incrementally maintained view (``ops`` has the operator model: changes as weighted rows).

``Join`` is an equi-join, inner or outer (``_pad`` pads the rows whose key has no match). Each side
is either kept in memory (``IndexSide``: join key -> {row: multiplicity}) or, when it is a stored
table, not copied at all (``TableSide``): it is probed through a DuckDB ART index on the join
column, so a step reads the matching rows only: an IN-list of up to ``PROBE_IN_LIST_MAX`` distinct
keys, one semi-join (a scan) above. A change with many distinct keys is joined with the other side
in one DuckDB query, the Select right above the join applied in the same query (``fuses_select``).
"""

from __future__ import annotations

from collections import Counter
from operator import itemgetter
from typing import Callable

import pyarrow as pa

from ..sql import quote
from .ops import (Node, Select, TypeInfo, arrow_columns, canonizer, fetch_pairs, inserted_batch,
                  plain_type)

# Above this many distinct keys a probe becomes one semi-join (a scan) instead of an IN-list
# (an ART lookup costs ~15 us per key, a scan of a million rows ~20 ms).
PROBE_IN_LIST_MAX = 1500
# A stored table side of at most this many rows is kept in memory too (``TableSide.mem``): a probe is
# then a dictionary lookup, not a DuckDB statement (~0.4 ms warm, over 1 ms after the step thread
# idled: most of a one-row step). 50,000 rows of a few columns are ~15 MiB of Python objects.
MEM_ROWS_MAX = 50_000


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
        self.forget()

    def forget(self):
        """Drop the in-memory copy: the table changed without ``apply`` (a bulk load joined in DuckDB)."""
        # ``mem``: while the table (as this side sees it) has at most MEM_ROWS_MAX rows, a copy kept as an
        # IndexSide (built at the first probe, from the table as the step left it; kept up to date by
        # ``apply``; a change that does not reach ``apply``, joined or recomputed in DuckDB, calls
        # ``forget``: ``Join._changed_in_duckdb``, ``Node.skipped``); None once it grew past the limit,
        # until the next ``forget``. ``sized``: whether the table was counted since the last ``forget``.
        self.mem: IndexSide | None = None
        self.mem_rows = 0
        self.sized = False

    def init(self, con):
        pass

    def apply(self, rows):
        # The table itself is the state (the runtime has already applied the step to it); the copy follows.
        if self.mem is not None:
            self.mem.apply(rows)
            self.mem_rows += sum(w for _, w in rows)
            if self.mem_rows > MEM_ROWS_MAX:
                self.mem = None

    def _sized(self, con) -> None:
        """Count the table once; keep a copy in memory when it is small."""
        self.sized = True
        n = con.execute(f"SELECT count(*) FROM {quote(self.table)}").fetchall()[0][0]
        if n <= MEM_ROWS_MAX:
            mem = IndexSide(self.child, self.keypos)
            mem.init(con)
            self.mem, self.mem_rows = mem, sum(len(b) for b in mem.index.values())

    def probe(self, con, keys) -> dict:
        keys = list(keys)
        if not keys:
            return {}
        if not self.sized:
            self._sized(con)
        if self.mem is not None:
            return self.mem.probe(con, keys)
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

    fuses_select = True

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

    def skipped(self):
        for side in (self.left, self.right):
            if isinstance(side, TableSide):
                side.forget()
        super().skipped()

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
            self._changed_in_duckdb(found[1])
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
        if not all(plain_type(t) for t in (_applied(sel) or self).types):
            return None
        found = self._arrow_delta(deltas)
        if found is None:
            return None
        self._changed_in_duckdb(found[1])
        sql, sel = self._query(found[1], sel)
        con.register("__sluice_delta", found[0])
        try:
            tbl = con.sql(sql).to_arrow_table()
        finally:
            con.unregister("__sluice_delta")
        return tbl.drop_columns(["__w"])  # every weight is 1: inserted rows joined with stored ones

    def _changed_in_duckdb(self, left_changed: bool) -> None:
        """A side's table took a bulk load that is joined in DuckDB and never reaches its ``apply``."""
        side = self.left if left_changed else self.right
        if isinstance(side, TableSide):
            side.forget()

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



__all__ = ["IndexSide", "Join", "TableSide", "PROBE_IN_LIST_MAX", "group_by_key"]
