"""GROUP BY: per group, a row count and one accumulator per aggregate (``acc``).

Groups are loaded lazily. When the pipeline starts, and for a step whose change is large next to
the aggregate's input, DuckDB computes the groups' values itself (one vectorized GROUP BY over the
input, ``Node.sql()``) and the touched groups are left *unloaded*: only their current output row
is held. The first small step that touches an unloaded group loads it from DuckDB, after the
step's input is in place: from its input rows when they are few (exact, complete state), else
from a summary (counts, exact sums, each MIN/MAX's ``acc.TOPK`` most extreme values; DISTINCT
aggregates are then recomputed whenever the group changes). From then on the group is maintained
row by row. At start-up, inputs up to ``COMPLETE_MAX_ROWS`` rows are loaded completely at once;
during a step only DISTINCT aggregates are loaded with a count per value. A DOUBLE sum loaded
from a summary is exact: DuckDB adds the values as scaled HUGEINTs per exponent bucket.

A large change (``BULK_MIN_ROWS`` rows or more) to an aggregate without DISTINCT is summed per group
over the change alone, by numpy where the shapes allow (``npsummary``) or by DuckDB (``premerge``),
and merged into the accumulators (``premerge``); only a change at
least as big as the input so far is recomputed over the whole input as above. Inserts that numpy
summed, into groups that are new or were made the same way, are merged into state held in columns
(``colstate``: one array per field, no Python call per group), as a load's batches are; a group
touched any other way is made accumulator objects first.
"""

from __future__ import annotations

import numpy
import pyarrow as pa

from .acc import AGG_KINDS, ORDERABLE, AggSpec, Reload, exact_sum_units
from . import colstate, npsummary, premerge
from .colstate import IN_COLUMNS
from .join import PROBE_IN_LIST_MAX
from .ops import NAN, Node, TypeInfo, arrow_columns, canonizer, consolidate, inserted_batch

# A step takes the DuckDB path when Python would touch more row-aggregates than DuckDB scans rows
# of input, weighted by these relative costs, and is not small.
BULK_MIN_ROWS = 1000
ROW_AGG_COST = 5  # a row x aggregate in Python costs about this many scanned input rows in DuckDB
# Groups loaded together with at most this many input rows get complete MIN/MAX/DISTINCT state
# (a count per value); bigger loads keep only the most extreme values of each (``acc._TopK``), and fetch
# again when deletes have taken them.
COMPLETE_MAX_ROWS = 4_000_000
# Groups loaded during a step with at most this many input rows in all are loaded from their rows
# (one query; exact, complete state), bigger ones from a DuckDB summary.
RAW_LOAD_MAX_ROWS = 50_000


class _Group:
    __slots__ = ("n", "accs", "out", "slot")

    def __init__(self, n, accs, out, slot=-1):
        self.n = n  # input rows of the group
        # accumulators, None while the group is not loaded, or ``IN_COLUMNS`` (in ``slot`` of the
        # aggregate's ``colstate.GroupColumns``)
        self.accs = accs
        self.out = out  # the group's current output row (None: no row)
        self.slot = slot


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
        self.rebuilt = False  # the last step recomputed every group in DuckDB (``_recompute``)
        self.exact_start = False  # ``init`` took the rows from exact accumulators, not from DuckDB
        # Set by the view when its rows are this aggregate's (it then builds its snapshot table from
        # them): only then may ``init`` hold rows other than DuckDB's, which operators above read.
        self.whole_view = False
        self.mergeable = premerge.mergeable(specs)  # large changes are pre-aggregated (``_merge``)
        # Bulk inserts merged in columns (``colstate``) where every aggregate has a columnar form.
        self.columnar = colstate.supported(specs)
        self.cols: colstate.GroupColumns | None = None
        # The output columns that may hold a NaN (made the one ``NAN`` object, as ``_row`` does).
        self.float_out = [i for i, s in enumerate(specs)
                          if s.kind in ("sum", "avg", "min", "max") and s.in_type.kind == "float"]

    def stateful(self):
        return True

    def consolidated(self):
        return True  # one row per group, an old row never equal to its new one

    def reset(self):
        self.state = {}
        self.cols = None
        self.total_n = 0
        super().reset()

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

    def _grouped(self, con, keys) -> list[tuple]:
        """DuckDB's rows (group values..., input rows, aggregate values...) for ``keys`` (None: all)."""
        m, g = self.ngroup, self._gcols()
        sel = ", ".join([g] * bool(m) + ["count(*)"] + [s.sql() for s in self.specs])
        return self._restricted(con, keys, lambda src: f"SELECT {sel} FROM {src}" + (f" GROUP BY {g}" if m else ""))

    def _values(self, con, keys) -> dict:
        """{group: (input rows, output row)} computed by DuckDB for ``keys`` (None: every group)."""
        m = self.ngroup
        rows = self._grouped(con, keys)
        out = {}
        for r in rows:
            row = r[:m] + r[m + 1:]
            if self.ocanon:
                row = self.ocanon(row)
            out[row[:m]] = (r[m], row)
        return out

    def _load(self, con, keys: list | None, complete: bool, extremes: bool = False) -> None:
        """Load the state of groups ``keys`` (None: all) as it is now, after this step's input.

        ``complete``: MIN/MAX/DISTINCT get a count per value; else just the most extreme values of each.
        ``extremes``: MIN/MAX keep just the most extreme values even so (a count per value costs a
        Python operation per distinct value; they are read again only when deletes take them all)."""
        m = self.ngroup
        g = self._gcols()
        specs = self.specs
        full = [complete and s.needs_values() and not (extremes and s.kind in ("min", "max")) for s in specs]
        cols = [c for i, s in enumerate(specs)
                for c in (["NULL"] * s.summary_width() if full[i] else s.summary_sql())]
        sel = ", ".join([g] * bool(m) + ["count(*)"] + cols)

        def query(src):
            return f"SELECT {sel} FROM {src}" + (f" GROUP BY {g}" if m else "")
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
        gsel = f"{g}, " if m else ""
        for i, s in enumerate(specs):
            if full[i] or not s.float_sum():
                continue
            for r in self._restricted(con, restrict, lambda src, s=s: s.exact_sum_query(src, gsel)):
                k = r[:m]
                if self.gcanon:
                    k = self.gcanon(k)
                grp = loaded.get(k)
                if grp is not None:
                    grp.accs[i].s += exact_sum_units(r[m], r[m + 1])
        for i, s in enumerate(specs):
            if not full[i]:
                continue
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

    def _load_rows(self, con, keys: list) -> None:
        """Load groups ``keys`` from their input rows as they are now (after this step's input)."""
        m, specs, feed = self.ngroup, self.specs, self.feed
        want = {k: self.state[k] for k in keys}
        for grp in want.values():
            grp.n, grp.accs = 0, [s.new() for s in specs]
        rows = self._restricted(con, keys if m else None, lambda src: f"SELECT * FROM {src}")
        canon = self.child.canon if hasattr(self.child, "canon") else canonizer(self.child.types)
        for r in rows:
            if canon:
                r = canon(r)
            grp = want.get(r[:m])
            if grp is None:
                continue
            grp.n += 1
            accs = grp.accs
            for i, a, f in feed:
                if f is not None and r[f] is not True:
                    continue
                accs[i].add(r[a] if a is not None else None, 1)

    # -- maintenance --------------------------------------------------------------------------
    def init(self, con):
        super().init(con)
        self.state = {}
        self.cols = None
        vals = self._values(con, None)
        for k, (n, row) in vals.items():
            self.state[k] = _Group(n, None, row)
        self.total_n = sum(g.n for g in self.state.values())
        self.exact_start = False
        if self.total_n <= COMPLETE_MAX_ROWS:
            self._load(con, None, True)
            if self.whole_view and not all(s.exact() for s in self.specs):
                # DuckDB's rows hold its DOUBLE sums, rounded at each addition; the accumulators just
                # loaded hold exact ones, which every later step emits: the rows start from them too,
                # so that a restart does not move a value in its last digits.
                for k, grp in self.state.items():
                    grp.out = self._row(k, grp)
                self.exact_start = True

    def step(self, con, deltas):
        self.rebuilt = False
        merge = self.mergeable
        if merge and not self.child.stateful():
            tbl = self.child.arrow_inserts(deltas)
            if tbl is not None and tbl.num_rows >= BULK_MIN_ROWS:
                # A bulk load kept as Arrow: DuckDB pre-aggregates the batch as it is. Merged even
                # when it is bigger than the input so far: a recompute would read the whole input
                # now and again when the next step's groups are loaded.
                self.total_n += tbl.num_rows
                self.child.skipped()
                return self._merge_batch(con, inserted_batch(tbl), False)
        if not self.child.stateful():
            # Whether the change is large can be told before Python touches a row of it.
            bound = self.child.delta_bound(deltas)
            if bound >= BULK_MIN_ROWS and (bound >= self.total_n if merge else
                                           bound * (1 + len(self.specs)) * ROW_AGG_COST >= self.total_n + bound):
                self.child.skipped()
                return self._recompute(con)
        # Consolidated, so that no row's weight dips below zero on the way (a join's change can
        # delete a row before inserting it again); a change without deletes has nothing to cancel.
        d = self.child.step(con, deltas)
        if any(w < 0 for _, w in d):
            d = consolidate(d)
        if not d:
            return []
        self.total_n += sum(w for _, w in d)
        if len(d) >= BULK_MIN_ROWS:
            if merge:
                return self._merge(con, d)
            if len(d) * (1 + len(self.specs)) * ROW_AGG_COST >= self.total_n:
                return self._bulk(con, d)
        m = self.ngroup
        feed = self.feed
        touched: dict = {}
        for r, w in d:
            grp = touched.get(r[:m]) or self._touch(touched, r[:m])
            accs = grp.accs
            if accs is None:
                continue  # loaded after the loop, as the group is after this step
            grp.n += w
            try:
                for i, a, f in feed:
                    if f is not None and r[f] is not True:
                        continue
                    accs[i].add(r[a] if a is not None else None, w)
            except Reload:
                grp.accs = None
        return self._emit(con, touched)

    def _touch(self, touched: dict, g: tuple) -> _Group:
        """Group ``g``'s state, created if new, recorded in ``touched``."""
        grp = self.state.get(g)
        if grp is None:
            grp = self.state[g] = _Group(0, [s.new() for s in self.specs], None)
        elif grp.accs is IN_COLUMNS:
            grp.accs = self.cols.materialize(grp.slot)
        touched[g] = grp
        return grp

    def _merge(self, con, d):
        """A large change, pre-aggregated per group by DuckDB and merged into the accumulators
        (``premerge``); groups it leaves without state are loaded after, as in a small step."""
        types = self.child.types
        ws = [w for _, w in d]
        if max(ws) > 1 or min(ws) < -1:
            d = [(r, 1 if w > 0 else -1) for r, w in d for _ in range(abs(w))]
            ws = [w for _, w in d]
        cols = arrow_columns([r for r, _ in d], range(len(types)), types)
        cols["__w"] = pa.array(ws, type=pa.int64())
        return self._merge_batch(con, pa.table(cols), min(ws) < 0)

    def _merge_batch(self, con, batch: pa.Table, deletes: bool):
        """``_merge`` of a change given as an Arrow batch: columns ``__c<i>`` of the input and
        ``__w`` (each -1 or 1); ``deletes``: whether a weight is -1. The change's summary comes
        from numpy where it applies (``npsummary``, a few times faster), else from DuckDB."""
        m, specs, types = self.ngroup, self.specs, self.child.types
        # Float sums also need the change's exact sums per group and exponent bucket, per argument
        # (SUM and AVG of it, with or without a filter, share them): one key per (argument, filter).
        fsum_of = {i: (s.arg, s.filt) for i, s in enumerate(specs) if s.float_sum()}
        key_spec = {key: specs[next(i for i in fsum_of if fsum_of[i] == key)]
                    for key in dict.fromkeys(fsum_of.values())}
        keys_of = [[key for key in key_spec if key[0] == a] for a in dict.fromkeys(a for a, _ in key_spec)]
        nb = npsummary.prepare(batch, m, types, specs)
        if nb is not None and not deletes and self.columnar:
            out = self._merge_columns(nb, key_spec, keys_of)
            if out is not None:
                return out
        rows, brows = (npsummary.summarize(nb, m, types, specs, deletes, keys_of, key_spec) if nb is not None
                       else premerge.summarize(con, batch, m, types, specs, deletes, keys_of, key_spec))
        buckets = [({key: m + 1 + 2 * n for n, key in enumerate(keys)}, b) for keys, b in zip(keys_of, brows)]
        return self._merge_rows(con, rows, buckets, fsum_of)

    def _merge_columns(self, nb, key_spec: dict, keys_of: list) -> list | None:
        """Merge inserts summarized by numpy into groups held in columns (``colstate``): when every
        group they touch is new or held there (else None, and the caller merges group by group).
        Returns the changed groups' old and new rows."""
        state, gcanon = self.state, self.gcanon
        gkeys = [gcanon(k) for k in nb.gvals] if gcanon else nb.gvals
        grps = [state.get(k) for k in gkeys]
        if any(grp is not None and grp.accs is not IN_COLUMNS for grp in grps):
            return None
        if self.cols is None:
            self.cols = colstate.GroupColumns(self.specs)
        new = [i for i, grp in enumerate(grps) if grp is None]
        if new:
            for i, slot in zip(new, self.cols.new_slots(len(new)).tolist()):
                grp = grps[i] = state[gkeys[i]] = _Group(0, IN_COLUMNS, None, slot)
        slots = numpy.array([grp.slot for grp in grps], dtype=numpy.int64)
        self.cols.merge(slots, nb, key_spec, keys_of)
        vals = self.cols.values(slots)
        for i in self.float_out:
            col = vals[i]
            if any(v != v for v in col if v is not None):
                vals[i] = [NAN if (v is not None and v != v) else v for v in col]
        out = []
        rows = zip(*vals) if vals else [()] * len(gkeys)  # (a GROUP BY without aggregates: keys only)
        for k, grp, d, row in zip(gkeys, grps, nb.signed_count(None).tolist(), rows):
            grp.n += d
            new_row = k + row
            old = grp.out
            if old == new_row:
                continue
            grp.out = new_row
            if old is not None:
                out.append((old, -1))
            out.append((new_row, 1))
        return out

    def _merge_rows(self, con, rows: list[tuple], buckets: list, fsum_of: dict):
        """Merge a change's summary into the groups: ``rows`` (group values..., signed rows, each
        aggregate's ``premerge.columns``...) and, per float argument, (the position of each of its
        (argument, filter) keys' two sums in a row, the rows (group values..., bucket, sums...)).

        One pass over the groups, with what each aggregate needs decided before it: counts (and a
        float sum's count) are added in place, the other merges called (``premerge.merger``)."""
        m = self.ngroup
        gcanon = self.gcanon
        counts, merges = premerge.mergers(self.specs, m + 1)
        touched: dict = {}
        for r in rows:
            k = r[:m]
            if gcanon:
                k = gcanon(k)
            grp = self._touch(touched, k)
            accs = grp.accs
            if accs is None:
                continue  # loaded after, as the group is after this step
            grp.n += r[m]
            for i, j in counts:
                accs[i].c += r[j]
            try:
                for i, f, j in merges:
                    accs[i] = f(accs[i], r, j)
            except Reload:
                grp.accs = None
        for at, brows in buckets:
            # The float sums fed by each pair of columns: SUM and AVG of one argument share them, and
            # a bucket's sum is made an integer of units once for both.
            by_pos: dict = {}
            for i, key in fsum_of.items():
                if key in at:
                    by_pos.setdefault(at[key], []).append(i)
            sums = list(by_pos.items())
            for r in brows:
                k = r[:m]
                if gcanon:
                    k = gcanon(k)
                grp = touched.get(k)
                if grp is None or grp.accs is None:
                    continue
                accs = grp.accs
                for p, idx in sums:
                    if r[p + 1] is not None:  # else no value of this sum in the bucket (NULLs, a filter)
                        premerge.add_bucket_to(accs, idx, r[m], r[p], r[p + 1])
        # Groups to load are loaded from a summary: a complete load (a count per MIN/MAX value, from
        # the rows) would make Python objects per input row, which this path avoids.
        return self._emit(con, touched, summary=True)

    @staticmethod
    def _row(g: tuple, grp: _Group) -> tuple:
        """Group ``g``'s output row from its accumulators (every NaN the one ``NAN``)."""
        vals = []
        for a in grp.accs:
            v = a.value()
            vals.append(NAN if (v is not None and v != v) else v)
        return g + tuple(vals)

    def _emit(self, con, touched: dict, summary: bool = False) -> list:
        """Load the touched groups left without state, then each changed group's old and new row."""
        m, state = self.ngroup, self.state
        need = [g for g, grp in touched.items() if grp.accs is None]
        if need:
            rows = sum(state[g].n for g in need)
            if rows <= RAW_LOAD_MAX_ROWS and not summary:
                self._load_rows(con, need)
            else:
                self._load(con, need, rows <= COMPLETE_MAX_ROWS, extremes=True)
        out = []
        for g, grp in touched.items():
            old = grp.out
            if grp.n < 0:
                raise RuntimeError("aggregate: a row was deleted more often than it was inserted")
            if grp.n == 0 and m:
                del state[g]
                new = None
            else:
                new = self._row(g, grp)
            if old == new:
                continue
            grp.out = new
            if old is not None:
                out.append((old, -1))
            if new is not None:
                out.append((new, 1))
        return out

    def _recompute(self, con):
        """A large change to a stateless input: DuckDB computes every group; all are left unloaded
        (their accumulators may have changed even where their output did not)."""
        m = self.ngroup
        rows = self._grouped(con, None)
        ocanon = self.ocanon
        if ocanon:  # rows hold the count at position m: output position i >= m is at i + 1
            fl = [i + (i >= m) for i in ocanon.float_positions]
            if not any(r[i] != r[i] for r in rows for i in fl):  # only a NaN differs from itself
                ocanon = None
        out = []
        state = self.state  # updated in place: most groups are there already
        before, matched, total = len(state), 0, 0
        for r in rows:  # one pass: the group's new row, its state and the change (as _values + a diff)
            n = r[m]
            row = r[:m] + r[m + 1:]
            if ocanon:
                row = ocanon(row)
            k = row[:m]
            grp = state.get(k)
            total += n
            if grp is None:
                state[k] = _Group(n, None, row)
                out.append((row, 1))
                continue
            matched += 1
            old = grp.out
            grp.n, grp.accs, grp.out = n, None, row
            if old != row:
                if old is not None:
                    out.append((old, -1))
                out.append((row, 1))
        if matched < before:  # groups left without rows
            present = {k for k in (r[:m] for r in rows)}
            if self.gcanon:
                present = {self.gcanon(k) for k in present}
            for k in [k for k in state if k not in present]:
                grp = state.pop(k)
                if grp.out is not None:
                    out.append((grp.out, -1))
        self.state = state
        self.cols = None  # every group is unloaded now
        self.total_n = total
        self.rebuilt = True
        return out

    def _bulk(self, con, d):
        """A large change: DuckDB recomputes the touched groups; they are left unloaded."""
        m = self.ngroup
        keys = list(dict.fromkeys(r[:m] for r, _ in d))
        # Touching most groups: one plain GROUP BY is cheaper than restricting it to them.
        vals = self._values(con, None if 2 * len(keys) >= len(self.state) else keys)
        out = []
        state = self.state
        for g in keys:
            grp = state.get(g)
            old = grp.out if grp is not None else None
            if grp is not None and grp.accs is IN_COLUMNS:
                self.cols.free.append(grp.slot)
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
