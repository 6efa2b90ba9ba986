"""GROUP BY state: per group, a row count and one accumulator per aggregate.

Accumulators take weighted values (a delete is weight -1) and give the aggregate's value in the
type DuckDB gives it: COUNT -> int, SUM of integers -> int (HUGEINT), SUM of DECIMAL(p,s) -> Decimal
with scale s, SUM/AVG of floats and every AVG -> float. Sums are kept exactly (integers, scaled
integers for DECIMAL, and for DOUBLE/REAL integers in units of 2**-1074, the smallest double), so
deleting a value leaves no rounding residue behind: a DOUBLE sum is the correctly rounded exact
sum of what the group got since it was loaded, which can differ from DuckDB's left-to-right sum
in the last bits (tests compare DOUBLE within a relative tolerance).

Groups are loaded lazily. When the pipeline starts, and for a step whose change is large next to
the aggregate's input, DuckDB computes the touched groups' values itself (one vectorized GROUP BY
over the input, ``Node.sql()``) and the groups are left *unloaded*: only their current output row is
held. The first small step that touches an unloaded group loads a summary of it from DuckDB (counts,
exact sums, the extreme and how often it occurs), after the step's input is in place; from then on
the group is maintained row by row. MIN/MAX keep a count per distinct value plus a heap with lazy
deletion while a group is maintained from its first row; a loaded group keeps just its extreme and
that extreme's count, and is reloaded in the rare step that deletes the last copy of its extreme.
COUNT/SUM/AVG(DISTINCT) are recomputed for the groups a step touches. A loaded DOUBLE sum starts
from DuckDB's own sum of the group, so its rounding error stays with it.
"""

from __future__ import annotations

import heapq
import math
from decimal import Context, Decimal

import pyarrow as pa

from .ivm_ops import NAN, PROBE_IN_LIST_MAX, Node, TypeInfo, canonizer

_CTX = Context(prec=120)
# A step takes the DuckDB path when Python would touch more row-aggregates than DuckDB scans rows
# of input, weighted by these relative costs, and is not small.
BULK_MIN_ROWS = 1000
ROW_AGG_COST = 5  # a row x aggregate in Python costs about this many scanned input rows in DuckDB
# Groups loaded together with at most this many input rows get complete MIN/MAX/DISTINCT state
# (a count per value); bigger loads keep only each extreme, and fetch again when it goes.
COMPLETE_MAX_ROWS = 4_000_000


class _Reload(Exception):
    """Raised by an accumulator that cannot take a change without seeing the whole group."""
_SCALE = 1 << 1074
_INF = float("inf")


def _f2i(x: float) -> int:
    """A finite double as an exact integer count of 2**-1074."""
    m, e = math.frexp(x)
    mi = int(m * 9007199254740992.0)
    sh = e - 53 + 1074
    return mi << sh if sh >= 0 else mi >> -sh


class _Count:
    __slots__ = ("c",)

    def __init__(self, c=0):
        self.c = c

    def add(self, v, w):
        if v is not None:
            self.c += w

    def value(self):
        return self.c


class _CountStar(_Count):
    __slots__ = ()

    def add(self, v, w):
        self.c += w


class _SumInt:
    __slots__ = ("s", "c", "avg")

    def __init__(self, avg=False, s=0, c=0):
        self.s, self.c = s or 0, c
        self.avg = avg

    def add(self, v, w):
        if v is not None:
            self.s += v * w
            self.c += w

    def value(self):
        if not self.c:
            return None
        return self.s / self.c if self.avg else self.s


class _SumDec:
    __slots__ = ("s", "c", "scale", "avg")

    def __init__(self, scale, avg=False, s=None, c=0):
        self.s = int(s.scaleb(scale, _CTX)) if s is not None else 0
        self.c = c
        self.scale, self.avg = scale, avg

    def add(self, v, w):
        if v is not None:
            self.s += int(v.scaleb(self.scale, _CTX)) * w
            self.c += w

    def value(self):
        if not self.c:
            return None
        if self.avg:
            return self.s / (10 ** self.scale * self.c)
        return Decimal(self.s).scaleb(-self.scale, _CTX)


class _SumFloat:
    __slots__ = ("s", "c", "pinf", "ninf", "nan", "avg")

    def __init__(self, avg=False, s=None, c=0, pinf=0, ninf=0, nan=0):
        self.s = _f2i(s) if s is not None else 0
        self.c, self.pinf, self.ninf, self.nan = c, pinf, ninf, nan
        self.avg = avg

    def add(self, v, w):
        if v is None:
            return
        self.c += w
        if v - v == 0.0:
            self.s += _f2i(v) * w
        elif v != v:
            self.nan += w
        elif v > 0:
            self.pinf += w
        else:
            self.ninf += w

    def value(self):
        if not self.c:
            return None
        if self.nan or (self.pinf and self.ninf):
            return NAN
        if self.pinf:
            return _INF
        if self.ninf:
            return -_INF
        try:
            return self.s / (_SCALE * self.c) if self.avg else self.s / _SCALE
        except OverflowError:
            return _INF if self.s > 0 else -_INF


class _Rev:
    __slots__ = ("k",)

    def __init__(self, k):
        self.k = k

    def __lt__(self, o):
        return o.k < self.k

    def __eq__(self, o):
        return self.k == o.k


def _float_key(v):
    return (1, 0.0) if v != v else (0, v)


def _ident(v):
    return v


class _MinMax:
    __slots__ = ("cnt", "heap", "keyf")

    def __init__(self, keyf):
        self.cnt: dict = {}
        self.heap: list = []
        self.keyf = keyf

    def add(self, v, w):
        if v is None:
            return
        cnt = self.cnt
        old = cnt.get(v, 0)
        n = old + w
        if n > 0:
            cnt[v] = n
            if old == 0:
                heapq.heappush(self.heap, (self.keyf(v), v))
        elif n == 0:
            del cnt[v]
        else:
            raise RuntimeError("min/max: a value was deleted more often than it was inserted")

    def value(self):
        heap, cnt = self.heap, self.cnt
        while heap and heap[0][1] not in cnt:
            heapq.heappop(heap)
        if len(heap) > 2 * len(cnt) + 32:
            self.heap = heap = [(self.keyf(v), v) for v in cnt]
            heapq.heapify(heap)
        return heap[0][1] if heap else None


class _Extreme:
    """MIN/MAX of a loaded group: the extreme and how many rows hold it; deleting its last copy
    needs the group again."""

    __slots__ = ("ext", "n", "keyf")

    def __init__(self, keyf, ext, n):
        self.keyf, self.ext, self.n = keyf, ext, n

    def add(self, v, w):
        if v is None:
            return
        ext = self.ext
        if ext is None:
            if w < 0:
                raise _Reload
            self.ext, self.n = v, w
            return
        if v is ext or v == ext:
            self.n += w
            if self.n <= 0:
                raise _Reload
        elif self.keyf(v) < self.keyf(ext):
            if w < 0:
                raise _Reload
            self.ext, self.n = v, w

    def value(self):
        return self.ext


class _Stale:
    """A DISTINCT aggregate of a loaded group: its value, recomputed whenever the group changes."""

    __slots__ = ("v",)

    def __init__(self, v):
        self.v = v

    def add(self, v, w):
        if v is not None:
            raise _Reload

    def value(self):
        return self.v


class _Distinct:
    """Feeds each distinct non-NULL value to ``inner`` once, while it is present."""

    __slots__ = ("cnt", "inner")

    def __init__(self, inner):
        self.cnt: dict = {}
        self.inner = inner

    def add(self, v, w):
        if v is None:
            return
        cnt = self.cnt
        old = cnt.get(v, 0)
        n = old + w
        if n:
            cnt[v] = n
        else:
            del cnt[v]
        if old == 0 and n > 0:
            self.inner.add(v, 1)
        elif old > 0 and n == 0:
            self.inner.add(v, -1)

    def value(self):
        return self.inner.value()


AGG_KINDS = {"count_star", "count", "sum", "avg", "min", "max"}
ORDERABLE = {"int", "float", "decimal", "str", "bool", "date", "time", "timestamp"}


class AggSpec:
    """One aggregate: ``kind`` (count_star|count|sum|avg|min|max), positions of its argument and of
    its FILTER flag in the pre-aggregation row, DISTINCT, and the argument and result types."""

    def __init__(self, kind: str, arg: int | None, filt: int | None, distinct: bool,
                 in_type: TypeInfo | None, out_type: TypeInfo):
        self.kind, self.arg, self.filt, self.distinct = kind, arg, filt, distinct
        self.in_type, self.out_type = in_type, out_type

    def supported(self) -> bool:
        k, t, o = self.kind, self.in_type, self.out_type
        if k == "count_star":
            return o.kind == "int"
        if k == "count":
            return o.kind == "int" and (not self.distinct or t.kind in ORDERABLE)
        if k in ("min", "max"):
            return t.kind in ORDERABLE and o.duck == t.duck
        if k == "sum":
            return (t.kind == "int" and o.kind == "int") or (t.kind == "decimal" and o.kind == "decimal"
                                                             and o.scale == t.scale) \
                or (t.kind == "float" and o.duck == "DOUBLE")
        if k == "avg":
            return t.kind in ("int", "decimal", "float") and o.duck == "DOUBLE"
        return False

    def exact(self) -> bool:
        """False when the value may differ from DuckDB's in the last bits (floating point)."""
        return not (self.kind == "avg" or (self.kind == "sum" and self.in_type.kind == "float"))

    def keyf(self):
        base = _float_key if self.in_type.kind == "float" else _ident
        return (lambda v: _Rev(base(v))) if self.kind == "max" else base

    def _filter(self, extra: str = "") -> str:
        conds = [c for c in (f"__c{self.filt}" if self.filt is not None else "", extra) if c]
        return f" FILTER (WHERE {' AND '.join(conds)})" if conds else ""

    def sql(self) -> str:
        """The aggregate as DuckDB computes it over the pre-aggregation columns."""
        x = f"__c{self.arg}"
        d = "DISTINCT " if self.distinct else ""
        body = "count(*)" if self.kind == "count_star" else f"{self.kind}({d}{x})"
        return body + self._filter()

    def summary_sql(self, i: int) -> list[str]:
        """Columns from which ``from_summary`` rebuilds the accumulator of a group."""
        k, x = self.kind, f"__c{self.arg}"
        if self.distinct and k not in ("min", "max"):
            return [self.sql()]
        if k == "count_star":
            return ["count(*)" + self._filter()]
        if k == "count":
            return [f"count({x})" + self._filter()]
        if k in ("min", "max"):
            return [f"{k}({x})" + self._filter(), f"count(*)" + self._filter(f"{x} = __e{i}")]
        if self.in_type.kind == "float":
            return [f"sum({x})" + self._filter(f"isfinite({x})"), f"count({x})" + self._filter(),
                    "count(*)" + self._filter(f"{x} = 'infinity'::DOUBLE"),
                    "count(*)" + self._filter(f"{x} = '-infinity'::DOUBLE"),
                    "count(*)" + self._filter(f"isnan({x})")]
        return [f"sum({x})" + self._filter(), f"count({x})" + self._filter()]

    def window_sql(self, i: int, partition: str) -> str | None:
        if self.kind not in ("min", "max"):
            return None
        return f"{self.kind}(__c{self.arg}){self._filter()} OVER ({partition}) AS __e{i}"

    def from_summary(self, vals: list):
        k, t = self.kind, self.in_type
        if self.distinct and k not in ("min", "max"):
            return _Stale(vals[0])
        if k == "count_star":
            return _CountStar(vals[0])
        if k == "count":
            return _Count(vals[0])
        if k in ("min", "max"):
            return _Extreme(self.keyf(), vals[0], vals[1])
        avg = k == "avg"
        if t.kind == "int":
            return _SumInt(avg, vals[0], vals[1])
        if t.kind == "decimal":
            return _SumDec(t.scale, avg, vals[0], vals[1])
        return _SumFloat(avg, vals[0], vals[1], vals[2], vals[3], vals[4])

    def needs_values(self) -> bool:
        return self.kind in ("min", "max") or self.distinct

    def values_sql(self) -> str:
        """Condition selecting the rows whose argument value counts toward this aggregate."""
        conds = [f"__c{self.arg} IS NOT NULL"] + ([f"__c{self.filt}"] if self.filt is not None else [])
        return " AND ".join(conds)

    def summary_width(self) -> int:
        if self.distinct and self.kind not in ("min", "max"):
            return 1
        if self.kind in ("count_star", "count"):
            return 1
        if self.kind in ("min", "max"):
            return 2
        return 5 if self.in_type.kind == "float" else 2

    def new(self):
        k, t = self.kind, self.in_type
        if k == "count_star":
            acc = _CountStar()
        elif k == "count":
            acc = _Count()
        elif k in ("min", "max"):
            return _MinMax(self.keyf())  # DISTINCT changes nothing for MIN/MAX
        else:
            avg = k == "avg"
            acc = _SumInt(avg) if t.kind == "int" else _SumDec(t.scale, avg) if t.kind == "decimal" \
                else _SumFloat(avg)
        return _Distinct(acc) if self.distinct else acc


class _Group:
    __slots__ = ("n", "accs", "out")

    def __init__(self, n, accs, out):
        self.n = n  # input rows of the group
        self.accs = accs  # accumulators, or None while the group is not loaded
        self.out = out  # the group's current output row (None: no row)


class Aggregate(Node):
    """GROUP BY over a pre-aggregation input whose rows are (group values..., arguments...).

    Output rows are (group values..., aggregate values...); a group's row changes as a delete of
    its old row and an insert of its new one, and goes when the group's last row goes (a global
    aggregate, without GROUP BY, always has its one row)."""

    def __init__(self, child: Node, ngroup: int, specs: list[AggSpec], types: list[TypeInfo]):
        self.child, self.ngroup, self.specs, self.types = child, ngroup, specs, types
        self.children = (child,)
        self.keys = [tuple(range(ngroup))]
        self.state: dict = {}
        self.total_n = 0
        self.feed = [(i, s.arg, s.filt) for i, s in enumerate(specs)]
        self.gcanon = canonizer(child.types[:ngroup])
        self.ocanon = canonizer(types)

    def stateful(self):
        return True

    def reset(self):
        self.state = {}
        self.total_n = 0
        super().reset()

    def table_indexes(self):
        out = super().table_indexes()
        if self.ngroup:
            b = self.child.base_column(0)
            if b is not None:
                out.add(b)
        return out

    # -- SQL ----------------------------------------------------------------------------------
    def _gcols(self) -> str:
        return ", ".join(f"__c{i}" for i in range(self.ngroup))

    def sql(self):
        m = self.ngroup
        sel = [f"__c{i}" for i in range(m)] + [f"{s.sql()} AS __c{m + i}" for i, s in enumerate(self.specs)]
        out = f"SELECT {', '.join(sel) or 'count(*)'} FROM ({self.child.sql()}) AS __sluice_b"
        return out + (f" GROUP BY {self._gcols()}" if m else "")

    def _restricted(self, con, keys, query):
        """Run ``query(from_clause)`` over the input limited to groups ``keys`` (None: all)."""
        m = self.ngroup
        src = f"({self.child.sql()}) AS __sluice_b"
        if keys is None or not m:
            return con.execute(query(src)).fetchall()
        firsts = list(dict.fromkeys(k[0] for k in keys))
        if len(firsts) <= PROBE_IN_LIST_MAX:
            vals = [v for v in firsts if v is not None]
            conds = []
            if vals:
                conds.append(f"__c0 IN ({', '.join('?' * len(vals))})")
            if len(vals) < len(firsts):
                conds.append("__c0 IS NULL")
            return con.execute(query(f"{src} WHERE {' OR '.join(conds)}"), vals).fetchall()
        types = self.child.types
        cols = list(zip(*keys))
        con.register("__sluice_gk", pa.table({f"__c{i}": pa.array(cols[i], type=types[i].arrow)
                                               for i in range(m)}))
        try:
            on = " AND ".join(f"__sluice_b.__c{i} IS NOT DISTINCT FROM CAST(__sluice_k.__c{i} AS {types[i].duck})"
                              for i in range(m))
            return con.execute(query(f"{src} SEMI JOIN __sluice_gk AS __sluice_k ON {on}")).fetchall()
        finally:
            con.unregister("__sluice_gk")

    def _values(self, con, keys) -> dict:
        """{group: (input rows, output row)} computed by DuckDB for ``keys`` (None: every group)."""
        m, g = self.ngroup, self._gcols()
        sel = ", ".join([g] * bool(m) + ["count(*)"] + [s.sql() for s in self.specs])
        rows = self._restricted(con, keys, lambda src: f"SELECT {sel} FROM {src}" + (f" GROUP BY {g}" if m else ""))
        out = {}
        for r in rows:
            row = r[:m] + r[m + 1:]
            if self.ocanon:
                row = self.ocanon(row)
            out[row[:m]] = (r[m], row)
        return out

    def _load(self, con, keys: list | None, complete: bool) -> None:
        """Load the state of groups ``keys`` (None: all) as it is now, after this step's input.

        ``complete``: MIN/MAX/DISTINCT get a count per value; else just each extreme and its count."""
        m = self.ngroup
        g = self._gcols()
        part = f"PARTITION BY {g}" if m else ""
        specs = self.specs
        full = [complete and s.needs_values() for s in specs]
        wins = [w for i, s in enumerate(specs) if not full[i] and (w := s.window_sql(i, part))]
        cols = [c for i, s in enumerate(specs)
                for c in (["NULL"] * s.summary_width() if full[i] else s.summary_sql(i))]
        sel = ", ".join([g] * bool(m) + ["count(*)"] + cols)

        def query(src):
            inner = f"SELECT *{''.join(', ' + w for w in wins)} FROM {src}"
            return f"SELECT {sel} FROM ({inner}) AS __sluice_w" + (f" GROUP BY {g}" if m else "")
        restrict = keys if m else None
        rows = self._restricted(con, restrict, query)
        want = dict(self.state) if keys is None else {k: self.state[k] for k in keys}
        loaded = {}
        for r in rows:
            k = r[:m]
            if self.gcanon:
                k = self.gcanon(k)
            grp = want.pop(k, None)
            if grp is None:
                continue
            grp.n = r[m]
            accs, j = [], m + 1
            for i, s in enumerate(specs):
                w = s.summary_width()
                accs.append(s.new() if full[i] else s.from_summary(list(r[j:j + w])))
                j += w
            grp.accs = accs
            loaded[k] = grp
        for grp in want.values():  # no rows left in the group
            grp.n = 0
            grp.accs = [s.new() for s in specs]
        for i, s in enumerate(specs):
            if not full[i]:
                continue
            gsel = f"{g}, " if m else ""
            vcanon = canonizer([s.in_type])

            def vquery(src, s=s, gsel=gsel):
                return (f"SELECT {gsel}__c{s.arg}, count(*) FROM (SELECT * FROM {src}) AS __sluice_v "
                        f"WHERE {s.values_sql()} GROUP BY ALL")
            for r in self._restricted(con, restrict, vquery):
                k = r[:m]
                if self.gcanon:
                    k = self.gcanon(k)
                grp = loaded.get(k)
                if grp is not None:
                    v = r[m]
                    grp.accs[i].add(vcanon((v,))[0] if vcanon else v, r[m + 1])

    # -- maintenance --------------------------------------------------------------------------
    def init(self, con):
        super().init(con)
        self.state = {}
        vals = self._values(con, None)
        for k, (n, row) in vals.items():
            self.state[k] = _Group(n, None, row)
        self.total_n = sum(g.n for g in self.state.values())
        if self.total_n <= COMPLETE_MAX_ROWS:
            self._load(con, None, True)

    def step(self, con, deltas):
        d = self.child.step(con, deltas)
        if not d:
            return []
        self.total_n += sum(w for _, w in d)
        if len(d) >= BULK_MIN_ROWS and len(d) * (1 + len(self.specs)) * ROW_AGG_COST >= self.total_n:
            return self._bulk(con, d)
        m = self.ngroup
        state, feed, specs = self.state, self.feed, self.specs
        touched: dict = {}
        for r, w in d:
            g = r[:m]
            grp = touched.get(g)
            if grp is None:
                grp = state.get(g)
                if grp is None:
                    grp = state[g] = _Group(0, [s.new() for s in specs], None)
                touched[g] = grp
            accs = grp.accs
            if accs is None:
                continue  # loaded after the loop, as the group is after this step
            grp.n += w
            try:
                for i, a, f in feed:
                    if f is not None and r[f] is not True:
                        continue
                    accs[i].add(r[a] if a is not None else None, w)
            except _Reload:
                grp.accs = None
        need = [g for g, grp in touched.items() if grp.accs is None]
        if need:
            self._load(con, need, sum(state[g].n for g in need) <= COMPLETE_MAX_ROWS)
        out = []
        for g, grp in touched.items():
            old = grp.out
            if grp.n < 0:
                raise RuntimeError("aggregate: a row was deleted more often than it was inserted")
            if grp.n == 0 and m:
                del state[g]
                new = None
            else:
                vals = []
                for a in grp.accs:
                    v = a.value()
                    vals.append(NAN if (v is not None and v != v) else v)
                new = g + tuple(vals)
            if old == new:
                continue
            grp.out = new
            if old is not None:
                out.append((old, -1))
            if new is not None:
                out.append((new, 1))
        return out

    def _bulk(self, con, d):
        """A large change: DuckDB recomputes the touched groups; they are left unloaded."""
        m = self.ngroup
        keys = list(dict.fromkeys(r[:m] for r, _ in d))
        vals = self._values(con, keys)
        out = []
        state = self.state
        for g in keys:
            grp = state.get(g)
            old = grp.out if grp is not None else None
            n, new = vals.get(g, (0, None))
            if n == 0 and m:
                state.pop(g, None)
                new = None
            else:
                state[g] = _Group(n, None, new)
            if old != new:
                if old is not None:
                    out.append((old, -1))
                if new is not None:
                    out.append((new, 1))
        return out


__all__ = ["Aggregate", "AggSpec", "AGG_KINDS", "ORDERABLE"]
