"""Accumulators of GROUP BY aggregates, and ``AggSpec``: one aggregate of a view.

An accumulator takes weighted values (a delete is weight -1) and gives the aggregate's value in
the type DuckDB gives it: COUNT -> int, SUM of integers -> int (HUGEINT), SUM of DECIMAL(p,s) ->
Decimal with scale s, SUM/AVG of floats and every AVG -> float. Sums are kept exactly (integers,
scaled integers for DECIMAL, and for DOUBLE/REAL integers in units of 2**-1074, the smallest
double), so deleting a value leaves no rounding residue. A DOUBLE sum loaded from DuckDB is exact
too: DuckDB sums each value as a HUGEINT scaled to its exponent bucket (``_exact_sum_sql``), and
Python adds the few bucket sums (``exact_sum_units``). MIN/MAX keep a count per distinct value
and a heap with lazy deletion; ``_TopK`` (the ``TOPK`` most extreme values) and ``_Stale`` stand in
for groups loaded from a DuckDB summary and raise ``Reload`` when a change needs the whole group
again.
"""

from __future__ import annotations

import heapq
import operator
import math
from bisect import bisect_left, bisect_right
from decimal import Context, Decimal

from .ops import NAN, TypeInfo

_CTX = Context(prec=120)


class Reload(Exception):
    """Raised by an accumulator that cannot take a change without seeing the whole group."""
_SCALE = 1 << 1074
_INF = float("inf")


# A finite double x = M * 2**(E-52) (|M| < 2**53) goes to bucket B = 32 * floor(E / 32) and is
# summed as the integer x * 2**(53 - B): exact for every E in [B - 1, B + 32] (so log2 may be off by
# one), below 2**86, so a HUGEINT sum of up to 2**41 rows cannot overflow. The power is applied in
# two halves, each a power of two that is a normal double, so neither rounds nor overflows.
_BUCKET = 32
_SHIFT = 53


def _exact_sum_sql(x: str) -> tuple[str, str]:
    """SQL for a finite DOUBLE ``x``: its bucket (INTEGER) and its scaled integer value (HUGEINT)."""
    b = f"CASE WHEN {x} = 0 THEN 0 ELSE (floor(log2(abs({x})) / {_BUCKET}) * {_BUCKET})::INTEGER END"
    return b, f"({x} * pow(2.0, ({_SHIFT} - __b) // 2) * pow(2.0, ({_SHIFT} - __b) - ({_SHIFT} - __b) // 2))::HUGEINT"


def exact_sum_units(bucket: int, m: int) -> int:
    """A bucket's sum from ``_exact_sum_sql`` in units of 2**-1074 (exact: the lowest buckets hold
    multiples of the shifted-out power of two)."""
    sh = bucket - _SHIFT + 1074
    return m << sh if sh >= 0 else m >> -sh


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


def _max_float_key(v):
    """MAX's order of a double: NaN first (DuckDB holds it above every number), then descending;
    -0.0 and 0.0 stay equal."""
    return (-1, 0.0) if v != v else (0, -v)


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


# A MIN/MAX whose group was loaded from a DuckDB summary or merged from a bulk change keeps this
# many of its most extreme values, not only the extreme: the group is read again (a scan of the
# input) only when deletes have gone through all of them. DuckDB's ``max(x, TOPK)`` gives them in
# the same aggregate pass at the cost of ``max(x)``; 8 makes a reload rare under spread deletes (an
# upsert of a random row of a 1,000-row group reaches its top 8 about once in 125) while a group's
# list stays small (its memory grows with it: below).
TOPK = 8


class _TopK:
    """MIN/MAX of a group whose values are not all known: up to ``TOPK`` distinct values sorted
    from the extreme, each with its count.

    Invariant: every value of the group at or beyond the last entry is held, with its exact count,
    except that the last entry's count is only a lower bound while ``exact`` is False. ``whole``:
    the entries are every value of the group (they came from fewer than ``TOPK`` values, or all
    were counted since): a value short of the last entry is then tracked too, and an empty list
    means the group holds no value (MIN/MAX is NULL). An empty list is always ``whole``: when
    deletes empty a list that is not, ``Reload`` fetches the group again. Deleting every counted
    copy of an inexact last entry drops it (the list stays valid down to the entry before), so a
    reload needs deletes of every value held. Inserts never reload. Values are ordered by their
    ``keyf`` keys, kept beside them (NaN above every number, reversed for MAX: the smallest key is
    the extreme). Keeping the keys costs memory (about 1.2 KB a group for 8 doubles under MAX,
    0.4 KB without them), and spares a ``keyf`` call at each comparison: merging a bulk step's
    list into a group costs about 3 us (2.3 us with one extreme), where computing keys as needed
    cost 14 us."""

    __slots__ = ("keyf", "keys", "vals", "cnts", "exact", "whole")

    def __init__(self, keyf, keys=None, vals=None, cnts=None, exact=True, whole=True):
        self.keyf = keyf
        self.keys, self.vals, self.cnts = keys or [], vals or [], cnts or []
        self.exact, self.whole = exact, whole

    @classmethod
    def of_list(cls, keyf, lst) -> "_TopK":
        """From DuckDB's ``max(x, TOPK)`` / ``min(x, TOPK)`` of a group (NULL when it has no value):
        up to ``TOPK`` values, the most extreme first, duplicates included. A full list may have
        left out copies of its last value (and everything short of it)."""
        tk = cls(keyf)
        for v in lst or ():
            tk._add(v, keyf(v), 1)
        tk.exact = tk.whole = len(lst or ()) < TOPK
        return tk

    @classmethod
    def of_counts(cls, keyf, cnt: dict) -> "_TopK":
        """From a complete count per value (``_MinMax.cnt``): its ``TOPK`` most extreme, exact."""
        top = heapq.nsmallest(TOPK, cnt.items(), key=lambda e: keyf(e[0]))
        return cls(keyf, [keyf(v) for v, _ in top], [v for v, _ in top], [n for _, n in top],
                   True, len(cnt) <= TOPK)

    def add(self, v, w):
        if v is not None:
            self._add(v, self.keyf(v), w)

    def _add(self, v, k, w):
        keys, cnts = self.keys, self.cnts
        n = len(keys)
        i = n if not n or keys[-1] < k else bisect_left(keys, k)  # most values are short of the last
        hit = i < n and keys[i] == k
        if w > 0:
            if hit:
                cnts[i] += w
            elif i < n or self.whole:  # beyond the last entry, or every value is held
                keys.insert(i, k)
                self.vals.insert(i, v)
                cnts.insert(i, w)
                if n == TOPK:  # the least extreme goes; every entry left is exact
                    self._cut(TOPK)
            return  # else short of the last entry of a partial list: not tracked
        if not hit:
            if i == n and not self.whole:
                return  # short of the last entry: not tracked
            raise RuntimeError("min/max: a value was deleted more often than it was inserted")
        c = cnts[i] + w
        last = i == n - 1
        if c > 0:
            cnts[i] = c
            return
        if c < 0 and (self.exact or not last):
            raise RuntimeError("min/max: a value was deleted more often than it was inserted")
        # An inexact last entry goes too, though copies may be left: the entries before it are
        # exact, and the list is valid down to the new last one.
        del keys[i], self.vals[i], cnts[i]
        if last:
            self.exact = True
        if not keys and not self.whole:
            raise Reload

    def _cut(self, n: int) -> None:
        """Keep the ``n`` most extreme entries, when there are more: the list stops being whole,
        and its new last entry is exact (it was not the last)."""
        if len(self.keys) > n:
            del self.keys[n:], self.vals[n:], self.cnts[n:]
            self.exact, self.whole = True, False

    # DuckDB's ``max(x, n)`` / ``min(x, n)`` lists hold the most extreme value first and the least
    # extreme last, in the order ``keyf`` gives (NaN first for MAX, last for MIN; NULLs left out):
    # only the values up to the first one short of the last entry can change a partial list.
    def _tracked(self, lst) -> tuple[list, bool]:
        """(value, key) of the values of ``lst`` that can change the entries, and whether the
        rest of ``lst`` (its last value too) is short of the last entry."""
        keyf = self.keyf
        lk = None if self.whole else self.keys[-1]
        out = []
        for v in lst:
            k = keyf(v)
            if lk is not None and lk < k:
                return out, True
            out.append((v, k))
        return out, False

    def insert_list(self, lst) -> None:
        """A change's inserted values as DuckDB's ``max(x, TOPK)`` gives them (see ``of_list``).

        When the list is full it knows the change only down to its last value b (copies of b and
        values short of it may be left out), and this state knows the group down to its own last
        entry: the merge is known down to the more extreme of the two, and no further. So after
        adding the list's values as counted, entries short of b are dropped and b's count, if b is
        held, becomes a lower bound. If b is short of this list's last entry, b was not tracked and
        nothing changes there. A list of fewer than ``TOPK`` values is the whole change: its values
        are added exactly."""
        if not lst:
            return
        take, short = self._tracked(lst)
        i, n = 0, len(take)
        while i < n:  # copies of a value (they are adjacent) added at once: one search, not one each
            v, k = take[i]
            j = i + 1
            while j < n and take[j][1] == k:
                j += 1
            self._add(v, k, j - i)
            i = j
        if short or len(lst) < TOPK:
            return  # b is short of the last entry (which no add moved away from the extreme)
        keys = self.keys
        b = take[-1][1]
        j = bisect_right(keys, b)  # entries at or beyond b
        if j < len(keys):
            del keys[j:], self.vals[j:], self.cnts[j:]
            self.exact = True
        if j and keys[j - 1] == b:
            self.exact = False
        self.whole = False

    def delete_list(self, lst) -> None:
        """A change's deleted values as DuckDB's ``max(x, TOPK)`` gives them, applied after its
        inserts. A full list knows the deletes only strictly beyond its last value b (more copies
        of b, and values short of it, may be deleted too): those are applied, and entries at b or
        short of it are dropped; the new last entry keeps the exactness it had (an entry strictly
        beyond b was not cut, or had entries after it and so was exact)."""
        if not lst:
            return
        take, short = self._tracked(lst)
        if short or len(lst) < TOPK:  # every value known is beyond b: all are applied
            for v, k in take:
                self._add(v, k, -1)
            return
        b = take[-1][1]
        for v, k in take:
            if k < b:
                self._add(v, k, -1)
        keys = self.keys
        j = bisect_left(keys, b)
        if j < len(keys):
            del keys[j:], self.vals[j:], self.cnts[j:]
            self.exact = True
        self.whole = False
        if not keys:
            raise Reload

    def value(self):
        return self.vals[0] if self.vals else None


class _Stale:
    """A DISTINCT aggregate of a loaded group: its value, recomputed whenever the group changes."""

    __slots__ = ("v",)

    def __init__(self, v):
        self.v = v

    def add(self, v, w):
        if v is not None:
            raise Reload

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
        k = self.in_type.kind
        if self.kind == "min":
            return _float_key if k == "float" else _ident
        # MAX orders from the largest: numbers by their negation (compared in C; a ``_Rev`` wrapper's
        # Python ``__lt__`` made a bulk step's MAX merge cost 36 us a group), other kinds reversed.
        if k == "float":
            return _max_float_key
        if k == "int":
            return operator.neg
        if k == "decimal":  # exact (``-d`` rounds to the context's 28 digits: DECIMAL(38) values would tie)
            return Decimal.copy_negate
        return _Rev

    def _filter(self, extra: str = "") -> str:
        conds = [c for c in (f"__c{self.filt}" if self.filt is not None else "", extra) if c]
        return f" FILTER (WHERE {' AND '.join(conds)})" if conds else ""

    def sql(self) -> str:
        """The aggregate as DuckDB computes it over the pre-aggregation columns."""
        x = f"__c{self.arg}"
        d = "DISTINCT " if self.distinct else ""
        body = "count(*)" if self.kind == "count_star" else f"{self.kind}({d}{x})"
        return body + self._filter()

    def summary_sql(self) -> list[str]:
        """Columns from which ``from_summary`` rebuilds the accumulator of a group."""
        k, x = self.kind, f"__c{self.arg}"
        if self.distinct and k not in ("min", "max"):
            return [self.sql()]
        if k == "count_star":
            return ["count(*)" + self._filter()]
        if k == "count":
            return [f"count({x})" + self._filter()]
        if k in ("min", "max"):  # the most extreme values, duplicates included: ``_TopK.of_list``
            return [f"{k}({x}, {TOPK})" + self._filter()]
        if self.in_type.kind == "float":  # the finite part comes exactly from ``_exact_sum_sql``
            return ["NULL", f"count({x})" + self._filter(),
                    "count(*)" + self._filter(f"{x} = 'infinity'::DOUBLE"),
                    "count(*)" + self._filter(f"{x} = '-infinity'::DOUBLE"),
                    "count(*)" + self._filter(f"isnan({x})")]
        return [f"sum({x})" + self._filter(), f"count({x})" + self._filter()]

    def from_summary(self, vals: list):
        k, t = self.kind, self.in_type
        if self.distinct and k not in ("min", "max"):
            return _Stale(vals[0])
        if k == "count_star":
            return _CountStar(vals[0])
        if k == "count":
            return _Count(vals[0])
        if k in ("min", "max"):
            return _TopK.of_list(self.keyf(), vals[0])
        avg = k == "avg"
        if t.kind == "int":
            return _SumInt(avg, vals[0], vals[1])
        if t.kind == "decimal":
            return _SumDec(t.scale, avg, vals[0], vals[1])
        return _SumFloat(avg, vals[0], vals[1], vals[2], vals[3], vals[4])

    def needs_values(self) -> bool:
        """Whether a complete load needs the argument's values (a count per value), not a summary:
        MIN/MAX and DISTINCT keep per-value counts."""
        return self.kind in ("min", "max") or self.distinct

    def float_sum(self) -> bool:
        """A SUM/AVG of DOUBLE/REAL loaded from a summary: its finite part comes from ``_exact_sum_sql``."""
        return self.kind in ("sum", "avg") and self.in_type.kind == "float" and not self.distinct

    def exact_sum_query(self, src: str, gsel: str) -> str:
        """Per group and bucket, the scaled integer sum of the finite values (``_exact_sum_sql``)."""
        x = f"__c{self.arg}"
        b, m = _exact_sum_sql(x)
        cond = " AND ".join([f"isfinite({x})"] + ([f"__c{self.filt}"] if self.filt is not None else []))
        return (f"SELECT {gsel}__b, sum({m}) FROM (SELECT *, {b} AS __b FROM {src}) AS __sluice_v "
                f"WHERE {cond} GROUP BY ALL")

    def values_sql(self) -> str:
        """Condition selecting the rows whose argument value counts toward this aggregate."""
        conds = [f"__c{self.arg} IS NOT NULL"] + ([f"__c{self.filt}"] if self.filt is not None else [])
        return " AND ".join(conds)

    def summary_width(self) -> int:
        if self.distinct and self.kind not in ("min", "max"):
            return 1
        if self.kind in ("count_star", "count", "min", "max"):
            return 1
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


__all__ = ["AggSpec", "AGG_KINDS", "ORDERABLE", "Reload", "TOPK", "exact_sum_units"]
