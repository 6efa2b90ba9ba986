"""GROUP BY state in columns: the accumulators of the groups a bulk load builds, one numpy array per
field, merged with a load's next batch by array operations instead of a Python call per group.

``Aggregate`` keeps a ``_Group`` per group (its row count and current output row); a group whose
accumulators live here has ``accs`` set to ``IN_COLUMNS`` and a ``slot``. A batch of inserts whose
summary numpy computes (``npsummary``) is merged here when each group it touches is new or already
here: the common case of a load, where the same groups grow step after step. Any other path that
touches such a group (a small step, a batch with deletes, a group mixed with loaded ones) first
turns it into accumulator objects (``materialize``); its slot is reused.

Fields, per aggregate (all exact, as the objects of ``acc``):
* COUNT, COUNT(*): the count (int64);
* SUM/AVG of integers: the sum as Python integers in an object array (HUGEINT), the count;
* SUM/AVG of DOUBLE/REAL: the finite values' exact sum as Python integers in an object array, the
  counts of values, NaN, +inf and -inf. ``acc._SumFloat`` counts units of 2**-1074, which makes a
  sum near 500 an integer of ~1,100 bits; here a column counts units of 2**(base - 1074), ``base``
  the smallest exponent bucket it has taken (``premerge.bucket_shift``), so such sums take ~70 bits.
  A smaller bucket later shifts the column's sums left (exact) and lowers ``base``;
* MIN/MAX of numbers: ``acc._TopK`` as a table: per slot up to ``TOPK`` values from the extreme,
  their counts, the list's length and its ``exact`` / ``whole`` flags.

The MIN/MAX merge is ``_TopK.insert_list`` for all groups at once: both lists are put in the
aggregate's order (NaN most extreme for MAX, least for MIN; -0.0 equal to 0.0, the value held first
kept), equal values joined, the ``TOPK`` most extreme kept, and a full batch list (``TOPK`` values)
cuts the state at its last value, whose count is then only a lower bound. Unlike a group merged
as objects, which keeps every value (``acc._MinMax``) while each batch brings fewer than ``TOPK``, a
group here always keeps only the ``TOPK`` most extreme: deleting all of them later reads the group
again from DuckDB where the objects would not have (the same results, one more query).
"""

from __future__ import annotations

import numpy

from . import acc as acc_mod
from . import npsummary, premerge
from .acc import AggSpec, _Count, _CountStar, _SumFloat, _SumInt, _TopK

# ``_Group.accs`` of a group whose accumulators are in a ``GroupColumns``.
IN_COLUMNS = object()


def supported(specs: list[AggSpec]) -> bool:
    """Whether every aggregate has a columnar form (``npsummary.supported`` decides the rest)."""
    for s in specs:
        if s.distinct:
            return False
        if s.kind in ("count_star", "count"):
            continue
        if s.in_type is None or s.in_type.kind not in ("int", "float"):
            return False
    return True


def _field_kind(s: AggSpec) -> str:
    if s.kind in ("count_star", "count"):
        return "count"
    if s.kind in ("min", "max"):
        return "top"
    return "fsum" if s.in_type.kind == "float" else "isum"


def _order(x: numpy.ndarray, largest: bool) -> tuple[numpy.ndarray, numpy.ndarray]:
    """(rank, key): ascending (rank, key) is the aggregate's order from its extreme. NaN is the most
    extreme value of MAX and the least of MIN (as DuckDB orders it); -0.0 and 0.0 stay equal."""
    if x.dtype.kind == "f":
        nan = numpy.isnan(x)
        rank = numpy.where(nan, 0 if largest else 2, 1)
        key = numpy.where(nan, 0.0, -x if largest else x)
        return rank, key
    return numpy.ones(x.shape, dtype=numpy.int64), (numpy.invert(x) if largest else x)  # ~x: no overflow


class GroupColumns:
    """The accumulators of groups held in columns, by slot."""

    def __init__(self, specs: list[AggSpec]):
        self.specs = specs
        self.kinds = [_field_kind(s) for s in specs]
        self.k = acc_mod.TOPK
        self.cap = 0
        self.used = 0  # slots handed out so far (some freed since)
        self.free: list[int] = []
        self.fields: list[dict] = [{} for _ in specs]
        self._grow(64)

    # -- slots ---------------------------------------------------------------------------------
    def _grow(self, need: int) -> None:
        # By half again, not double: at a million groups doubling left 60% of the rows unused.
        cap = max(need, self.cap + self.cap // 2)
        for s, kind, f in zip(self.specs, self.kinds, self.fields):
            def ext(name, dtype, shape=()):
                old = f.get(name)
                new = numpy.zeros((cap,) + shape, dtype=dtype)
                if old is not None:
                    new[:self.cap] = old
                f[name] = new
            ext("c", numpy.int64)
            if kind == "isum" or kind == "fsum":
                ext("s", object)  # zeros are Python ints
            if kind == "fsum":
                for name in ("nan", "pinf", "ninf"):
                    ext(name, numpy.int64)
                f.setdefault("base", None)  # the sums' unit: 2**(base - 1074); None before a finite value
            if kind == "top":
                # As wide as the longest list so far (at most TOPK): groups of one or two values
                # each, a GROUP BY on a key, do not pay for eight.
                width = f["v"].shape[1] if "v" in f else 1
                dtype = numpy.float64 if s.in_type.kind == "float" else numpy.int64
                ext("v", dtype, (width,))
                ext("n", numpy.int64, (width,))
                ext("len", numpy.int64)
                ext("exact", bool)
                ext("whole", bool)
        self.cap = cap

    def new_slots(self, count: int) -> numpy.ndarray:
        """Slots for ``count`` new groups, their accumulators empty."""
        reuse = [self.free.pop() for _ in range(min(count, len(self.free)))]
        fresh = count - len(reuse)
        if self.used + fresh > self.cap:
            self._grow(self.used + fresh)
        slots = numpy.array(reuse + list(range(self.used, self.used + fresh)), dtype=numpy.int64)
        self.used += fresh
        for kind, f in zip(self.kinds, self.fields):
            f["c"][slots] = 0
            if kind in ("isum", "fsum"):
                f["s"][slots] = 0
            if kind == "fsum":
                f["nan"][slots] = f["pinf"][slots] = f["ninf"][slots] = 0
            if kind == "top":
                f["len"][slots] = 0
                f["exact"][slots] = f["whole"][slots] = True
        return slots

    def materialize(self, slot: int) -> list:
        """The group's accumulators as ``acc`` objects; its slot is freed."""
        accs = []
        for s, kind, f in zip(self.specs, self.kinds, self.fields):
            c = int(f["c"][slot])
            if kind == "count":
                accs.append(_CountStar(c) if s.kind == "count_star" else _Count(c))
            elif kind == "isum":
                accs.append(_SumInt(s.kind == "avg", f["s"][slot], c))
            elif kind == "fsum":
                accs.append(_sum_float(s, f, slot))
            else:
                n = int(f["len"][slot])
                keyf = s.keyf()
                vals = f["v"][slot, :n].tolist()
                accs.append(_TopK(keyf, [keyf(v) for v in vals], vals, f["n"][slot, :n].tolist(),
                                  bool(f["exact"][slot]), bool(f["whole"][slot])))
        self.free.append(slot)
        return accs

    # -- merging a batch -----------------------------------------------------------------------
    def merge(self, slots: numpy.ndarray, b, key_spec: dict, keys_of: list) -> None:
        """Merge the inserts of ``b`` (``npsummary.prepare`` of a batch without deletes), whose
        group i is in slot ``slots[i]``."""
        for i, (s, kind, f) in enumerate(zip(self.specs, self.kinds, self.fields)):
            if kind == "top":
                x, lens = npsummary.extreme_table(b, s, f["v"].dtype)
                self._merge_top(f, slots, x, lens, s.kind == "max")
                continue
            m = b.mask(s, s.kind != "count_star")  # (a count of rows, else of non-NULL values)
            f["c"][slots] += b.signed_count(m)
            if kind == "isum":
                f["s"][slots] += numpy.array(b.int_sums(s), dtype=object)
        for keys in keys_of:
            pg, bucket, cols = npsummary.bucket_columns(b, keys, key_spec)
            for n, key in enumerate(keys):
                sums, counts = cols[2 * n], cols[2 * n + 1]
                has = numpy.array([c is not None for c in counts], dtype=bool)
                if not has.any():
                    continue
                at = slots[pg[has]]
                bk = bucket[has]
                cnt = numpy.array([c for c in counts if c is not None], dtype=numpy.int64)
                units = numpy.array([v for v, c in zip(sums, counts) if c is not None], dtype=object)
                for i, s in enumerate(self.specs):
                    if self.kinds[i] != "fsum" or (s.arg, s.filt) != key:
                        continue
                    f = self.fields[i]
                    for bv in numpy.unique(bk).tolist():
                        sel = bk == bv
                        if bv == premerge._NAN:
                            numpy.add.at(f["nan"], at[sel], cnt[sel])
                        elif bv == premerge._PINF:
                            numpy.add.at(f["pinf"], at[sel], cnt[sel])
                        elif bv == premerge._NINF:
                            numpy.add.at(f["ninf"], at[sel], cnt[sel])
                        else:
                            sh = premerge.bucket_shift(bv)
                            if f["base"] is None or sh < f["base"]:
                                if f["base"] is not None:
                                    f["s"] = numpy.left_shift(f["s"], f["base"] - sh)
                                f["base"] = sh
                            numpy.add.at(f["s"], at[sel], units[sel] << (sh - f["base"]))

    def _merge_top(self, f: dict, slots: numpy.ndarray, bx: numpy.ndarray, blen: numpy.ndarray,
                   largest: bool) -> None:
        """``_TopK.insert_list`` of each group's batch list (``bx[i, :blen[i]]``, from the extreme)."""
        k, g = self.k, len(slots)
        sx, sn, slen = f["v"][slots], f["n"][slots], f["len"][slots]
        width = sx.shape[1]
        exact, whole = f["exact"][slots], f["whole"][slots]
        s_ok = numpy.arange(width)[None, :] < slen[:, None]
        b_ok = numpy.arange(k)[None, :] < blen[:, None]
        s_rank, s_key = _order(sx, largest)
        b_rank, b_key = _order(bx, largest)
        # A partial list does not track values short of its last entry: they are left out, and
        # the batch list is then "short" (it does not cut the state at its last value).
        last = numpy.maximum(slen - 1, 0)
        l_rank = s_rank[numpy.arange(g), last][:, None]
        l_key = s_key[numpy.arange(g), last][:, None]
        beyond = (~whole)[:, None] & ((b_rank > l_rank) | ((b_rank == l_rank) & (b_key > l_key)))
        short = (beyond & b_ok).any(axis=1)
        b_ok &= ~beyond
        # Every candidate: the state's entries, then the batch's values (count 1 each).
        ok = numpy.concatenate([s_ok, b_ok], axis=1).ravel()
        rank = numpy.concatenate([s_rank, b_rank], axis=1).ravel()
        key = numpy.concatenate([s_key, b_key], axis=1).ravel()
        val = numpy.concatenate([sx, bx], axis=1).ravel()
        cnt = numpy.concatenate([sn, numpy.ones(bx.shape, dtype=numpy.int64)], axis=1).ravel()
        grp = numpy.repeat(numpy.arange(g), width + k)
        keep = numpy.flatnonzero(ok)
        rank, key, val, cnt, grp = rank[keep], key[keep], val[keep], cnt[keep], grp[keep]
        # lexsort is stable and each group's state entries come before its batch values: among
        # equal values (-0.0 and 0.0) the one the state holds comes first, and is the one kept.
        order = numpy.lexsort((key, rank, grp))
        rank, key, val, cnt, grp = rank[order], key[order], val[order], cnt[order], grp[order]
        n = len(grp)
        new_run = numpy.ones(n, dtype=bool)
        if n:
            new_run[1:] = (grp[1:] != grp[:-1]) | (rank[1:] != rank[:-1]) | (key[1:] != key[:-1])
        starts = numpy.flatnonzero(new_run)
        r_cnt = numpy.add.reduceat(cnt, starts) if n else cnt[:0]
        r_grp, r_rank, r_key, r_val = grp[starts], rank[starts], key[starts], val[starts]
        # A run's place in its group, from the extreme.
        g_first = numpy.flatnonzero(numpy.r_[True, r_grp[1:] != r_grp[:-1]]) if len(starts) else starts
        first_of = numpy.zeros(g, dtype=numpy.int64)
        first_of[r_grp[g_first]] = g_first
        place = numpy.arange(len(starts)) - first_of[r_grp]
        distinct = numpy.bincount(r_grp, minlength=g)
        cut = distinct > k
        keep_run = place < k
        # A full batch list was known only down to its last value b: entries short of b go, and
        # b's count, if b is held, becomes a lower bound.
        full = (blen == k) & ~short
        b_last = numpy.maximum(blen - 1, 0)
        bl_rank, bl_key = b_rank[numpy.arange(g), b_last], b_key[numpy.arange(g), b_last]
        past_b = full[r_grp] & ((r_rank > bl_rank[r_grp]) | ((r_rank == bl_rank[r_grp]) & (r_key > bl_key[r_grp])))
        dropped = numpy.bincount(r_grp[keep_run & past_b], minlength=g) > 0
        keep_run &= ~past_b
        new_len = numpy.bincount(r_grp[keep_run], minlength=g)
        at_b = numpy.zeros(g, dtype=bool)
        kept = numpy.flatnonzero(keep_run)
        lastk = kept[numpy.r_[r_grp[kept][1:] != r_grp[kept][:-1], True]] if len(kept) else kept
        at_b[r_grp[lastk]] = (r_rank[lastk] == bl_rank[r_grp[lastk]]) & (r_key[lastk] == bl_key[r_grp[lastk]])
        exact = numpy.where(cut | (full & dropped), True, exact)
        exact = numpy.where(full & at_b, False, exact)
        whole = whole & ~cut & ~full
        longest = int(new_len.max()) if g else 0
        if longest > width:  # every row gets the columns the longest list needs
            for name in ("v", "n"):
                wide = numpy.zeros((self.cap, longest), dtype=f[name].dtype)
                wide[:, :width] = f[name]
                f[name] = wide
            width = longest
        nx = numpy.zeros((g, width), dtype=sx.dtype)
        nn = numpy.zeros((g, width), dtype=numpy.int64)
        nx[r_grp[kept], place[kept]] = r_val[kept]
        nn[r_grp[kept], place[kept]] = r_cnt[kept]
        f["v"][slots], f["n"][slots], f["len"][slots] = nx, nn, new_len
        f["exact"][slots], f["whole"][slots] = exact, whole

    # -- values --------------------------------------------------------------------------------
    def values(self, slots: numpy.ndarray) -> list[list]:
        """Per aggregate, the value of each slot's group, as ``acc``'s ``value()`` gives it."""
        out = []
        for s, kind, f in zip(self.specs, self.kinds, self.fields):
            c = f["c"][slots]
            if kind == "count":
                out.append(c.tolist())
            elif kind == "isum":
                sums = f["s"][slots].tolist()
                if s.kind == "avg":
                    out.append([x / n if n else None for x, n in zip(sums, c.tolist())])
                else:
                    out.append([x if n else None for x, n in zip(sums, c.tolist())])
            elif kind == "fsum":
                out.append(self._float_values(s, f, slots, c))
            else:
                ln = f["len"][slots]
                top = f["v"][slots, 0].tolist()
                out.append([v if n else None for v, n in zip(top, ln.tolist())])
        return out

    @staticmethod
    def _float_values(s: AggSpec, f: dict, slots: numpy.ndarray, c: numpy.ndarray) -> list:
        """Sums of finite values only are divided all at once; NaN, infinities and a sum beyond the
        largest double go one at a time, as ``_SumFloat`` gives them."""
        plain = (c != 0) & (f["nan"][slots] == 0) & (f["pinf"][slots] == 0) & (f["ninf"][slots] == 0)
        slow = ~plain & (c != 0)
        out: list = [None] * len(slots)
        idx = numpy.flatnonzero(plain)
        if len(idx):
            sums = f["s"][slots[idx]]
            base = 1074 if f["base"] is None else f["base"]
            num = sums if base <= 1074 else numpy.left_shift(sums, base - 1074)
            unit = 1 << max(1074 - base, 0)
            div = (c[idx].astype(object) * unit) if s.kind == "avg" else unit
            try:
                vals = (num / div).tolist()
            except OverflowError:
                slow |= plain
            else:
                for j, v in zip(idx.tolist(), vals):
                    out[j] = v
        for j in numpy.flatnonzero(slow).tolist():
            out[j] = _sum_float(s, f, int(slots[j])).value()
        return out


def _sum_float(s: AggSpec, f: dict, slot: int) -> _SumFloat:
    """The float sum of ``slot`` as ``acc._SumFloat`` holds it."""
    a = _SumFloat(s.kind == "avg")
    a.s, a.c = _units(f, f["s"][slot]), int(f["c"][slot])
    a.nan, a.pinf, a.ninf = int(f["nan"][slot]), int(f["pinf"][slot]), int(f["ninf"][slot])
    return a


def _units(f: dict, s: int) -> int:
    """A float sum of the column ``f`` in ``acc._SumFloat``'s units of 2**-1074 (exact: a sum of
    doubles is a whole number of them)."""
    base = f["base"]
    if base is None:
        return s
    return s << base if base >= 0 else s >> -base


__all__ = ["GroupColumns", "IN_COLUMNS", "supported"]
