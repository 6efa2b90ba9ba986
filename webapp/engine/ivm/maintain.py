"""Incremental view maintenance: a step costs what the change costs, not what the data costs.

``analyze_program(program)`` plans every view once, when the program compiles: an ``Analysis`` when
every construct of the view body is maintained (see ``ivm.plan``), else None and the view is
recomputed. Each run of the pipeline builds an ``IncrementalView`` from the analysis (fresh operator
state, shared plan). An incremental view
turns the step's changes of the relations it reads into its own change by running them through a
tree of operators (``ops``, ``agg``): DuckDB evaluates the view's expressions on the changed
rows only; joins probe the other side by key (an ART index on a stored table, or an in-memory
index of an earlier view); GROUP BY keeps per-group accumulators, and hands changes too large for
Python to DuckDB; DISTINCT keeps row counts. See docs/incremental.md.

What a snapshot reads (``contents_sql``): a view whose values are exactly DuckDB's (everything but
floating-point SUM/AVG) is read through its DuckDB view, which gives the same rows as the state.
A view with floating-point aggregates keeps its rows in a log table ``__sluice_out_<view>`` (each
step appends its deleted rows with count -1 and inserted rows with +1; compacted when it has grown
to twice the view) so that a snapshot shows the very values later deletes refer to; views reading
it read that table, and so does its DuckDB view while the pipeline runs (ad-hoc queries read the
maintained values). A view nothing else reads (``defer_log``) keeps its changes in memory and appends
them in batches; whoever reads its snapshot or queries it calls ``flush`` first (under the step lock).

A view's plan needs the plans of the views it reads: they are made in declaration order, with one
scratch DuckDB (``expr.Ctx``) for the whole program, closed when planning ends.
"""

from __future__ import annotations

import copy
import logging
from collections import Counter

import pyarrow as pa

from ..arrowrows import ArrowRows
from ..catalog import Relation
from ..sql import quote
from ..view import RecomputeView
from .agg import Aggregate
from .expr import Ctx, Unsupported
from .ops import Node, Select, Source, consolidate
from .plan import plan_query

log = logging.getLogger("sluice.engine")

# A view that is one Select over one relation maps a change at least this big as two plain
# batches (deleted rows, inserted rows) instead of weighted pairs: less Python per row, one more query.
MAPPED_MIN_ROWS = 1000
# The log table of a view with floating-point aggregates is compacted when it holds more than
# twice the view's rows plus this many.
LOG_SLACK_ROWS = 10_000
# A view that no other view reads appends its changes to its log table in batches of about this
# many rows (or sooner, when a snapshot is read): one append per many steps instead of one per step.
LOG_BATCH_ROWS = 20_000

class Analysis:
    """What planning found out about one view; shared by every IncrementalView built for it."""

    def __init__(self, view: Relation, root: Node, keys: list[tuple[int, ...]], exact: bool, contents_sql: str,
                 sources: dict[str, str]):
        self.view, self.root, self.keys, self.exact = view, root, keys, exact
        self.contents_sql, self.sources = contents_sql, sources

    def unique_keys(self) -> list[list[str]]:
        """The column sets the plan proves unique in the view's rows, by name."""
        names = self.view.column_names
        return [[names[i] for i in k] for k in self.keys]


def analyze_program(program) -> dict[str, Analysis | None]:
    """Every view's analysis (None: recomputed), in declaration order: a view only reads earlier ones."""
    views: dict[str, Analysis | None] = {}
    ctx = Ctx(program, views)
    try:
        for v in program.views:
            try:
                views[v.name] = _analyze(ctx, v, program)
            except Exception:  # planning must never stop a pipeline: recompute is always correct
                log.exception("planning view %s failed; it is recomputed", v.name)
                views[v.name] = None
    finally:
        ctx.close()
    return views


def _analyze(ctx: Ctx, view: Relation, program) -> Analysis | None:
    try:
        # MAP, ROW and VARIANT values come out of DuckDB as dicts, which the operators cannot hash.
        read = [view] + [program.relation(n) for n in sorted(view.depends_on)]
        if any(c.type.holds_json() for r in read if r is not None for c in r.columns):
            raise Unsupported("it reads or gives MAP, ROW or VARIANT values")
        node = ctx.parse(view.sql)
        root, _ = plan_query(ctx, node)
        want = ctx.describe(f"SELECT * FROM {quote(view.internal)}")
        if [t.duck for t in root.types] != [t for _, t in want]:
            raise Unsupported(f"planned types {[t.duck for t in root.types]} differ from DuckDB's {want}")
    except Unsupported as e:
        log.info("view %s is recomputed on every step: %s", view.name, e)
        return None
    exact = _own_exact(root)
    sources = {}
    for name in sorted(root.sources()):
        rel = program.relation(name)
        if rel.kind == "table":
            sources[name] = f"SELECT * FROM {quote(rel.internal)}"
        else:
            sources[name] = _contents_of(ctx, rel)
    # Views that are recomputed give exactly DuckDB's rows, like exact incremental ones.
    upstream_exact = all(ctx.views.get(n) is None or ctx.views[n].exact
                         for n in sources if program.relation(n).kind != "table")
    if not exact:
        contents, is_exact = _log_contents(view), False
    elif upstream_exact:
        contents, is_exact = f"SELECT * FROM {quote(view.internal)}", True
    else:
        contents, is_exact = _substituted(ctx, view, program), False
    return Analysis(view, root, root.keys, is_exact, contents, sources)


def _own_exact(node: Node) -> bool:
    if isinstance(node, Aggregate) and not all(s.exact() for s in node.specs):
        return False
    return all(_own_exact(c) for c in node.children)


def _contents_of(ctx: Ctx, rel: Relation) -> str:
    a = ctx.views.get(rel.name)
    if a is None:
        return RecomputeView(rel).contents_sql()
    return a.contents_sql


def _substituted(ctx: Ctx, view: Relation, program) -> str:
    """The view body reading each view it uses through that view's own contents query."""
    node = ctx.parse(view.sql)

    def rec(x):
        if isinstance(x, list):
            return [rec(y) for y in x]
        if not isinstance(x, dict):
            return x
        if x.get("type") == "BASE_TABLE":
            rel = program.by_internal(x["table_name"])
            if rel is not None and rel.kind != "table":
                sub = ctx.parse(_contents_of(ctx, rel))
                return {"type": "SUBQUERY", "alias": x.get("alias") or x["table_name"], "sample": None,
                        "query_location": 0, "query_location_length": 0,
                        "subquery": {"node": sub, "named_param_map": []},
                        "column_name_alias": x.get("column_name_alias") or []}
        return {k: rec(v) for k, v in x.items()}
    return ctx.statement(rec(node))


def _out_table(view: Relation) -> str:
    return f"__sluice_out_{view.internal}"


def _log_contents(view: Relation) -> str:
    """The rows of a view kept as a log of (row, +n/-n): each row as often as its net count."""
    cols = ", ".join(quote(c.internal) for c in view.columns)
    net = f"SELECT {cols}, sum(__sluice_n) AS __sluice_n FROM {quote(_out_table(view))} GROUP BY ALL " \
          "HAVING sum(__sluice_n) > 0"
    return f"SELECT {cols} FROM (SELECT {cols}, unnest(range(__sluice_n::BIGINT)) FROM ({net}))"


class IncrementalView:
    """The maintenance object of one view in one running pipeline."""

    strategy = "incremental"

    def __init__(self, view: Relation, analysis: Analysis):
        self.view = view
        self.analysis = analysis
        self.root: Node = copy.deepcopy(analysis.root)
        self.root.bind(analysis.sources)
        self.unique_keys = analysis.unique_keys()
        self.sources = analysis.sources
        self.out_table = None if _own_exact(self.root) else quote(_out_table(view))
        self.types = self.root.types
        self.consolidated = self.root.consolidated()
        # The view is one GROUP BY (under plain projections of all its columns): its rows are the
        # aggregate's rows.
        agg = self.root
        while isinstance(agg, Select) and agg.passthrough:
            agg = agg.child
        self._whole_agg = agg if isinstance(agg, Aggregate) else None
        if self._whole_agg is not None:
            self._whole_agg.whole_view = True
        r = self.root
        self.mapped = r.child.name if isinstance(r, Select) and isinstance(r.child, Source) else None
        self._live = self._logged = 0  # rows of the view, rows in its log table
        self.defer_log = False  # set (by defer_unread_logs) when no other view reads this one's log
        self._pending: list[tuple[list, list]] = []  # changes not yet in the log table
        self._pending_rows = 0

    def initialize(self, con) -> None:
        """Build the operators' state (and the snapshot table, if any) from the current contents."""
        self.root.reset()
        self._pending, self._pending_rows = [], 0
        for table, col in sorted(self.root.table_indexes()):
            name = quote(f"__sluice_ix_{table}_{col}")
            try:
                con.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {quote(table)} ({quote(col)})")
            except Exception as e:  # an unindexable type: probes still work, by scanning
                log.info("no index on %s.%s: %s", table, col, e)
        self.root.init(con)
        if self.out_table:
            agg = self._whole_agg
            if agg is not None and agg.exact_start:  # its rows are the accumulators', not DuckDB's
                self._rebuild_log(con, [g.out for g in agg.state.values() if g.out is not None])
            else:
                self._rebuild_log(con)
            # From now on the view's DuckDB name reads the rows it maintains, not DuckDB's recomputation
            # of its body (whose DOUBLE sums are rounded at each addition): ad-hoc queries, and views
            # recomputed over this one, see the values egress sends. Whoever reads it flushes first.
            con.execute(f"CREATE OR REPLACE VIEW {quote(self.view.internal)} AS {_log_contents(self.view)}")

    def _rebuild_log(self, con, rows: list[tuple] | None = None) -> None:
        """The log table as the view's contents, one row each: ``rows``, or else the contents computed
        by DuckDB, right when every output row the operators hold is DuckDB's own (at start, and after
        ``_whole_agg`` rebuilt)."""
        self._pending, self._pending_rows = [], 0
        names = [quote(c.internal) for c in self.view.columns]
        if rows is not None:  # declared, not computed: DuckDB would run the view's GROUP BY for no row
            cols = ", ".join(f"{n} {t.duck}" for n, t in zip(names, self.types))
            con.execute(f"CREATE OR REPLACE TABLE {self.out_table} ({cols}, __sluice_n BIGINT)")
            self._live = self._logged = 0
            if rows:
                self._append([], rows, con)
            return
        sel = ", ".join(f"__c{i} AS {n}" for i, n in enumerate(names))
        con.execute(f"CREATE OR REPLACE TABLE {self.out_table} AS "
                    f"SELECT {sel}, 1::BIGINT AS __sluice_n FROM ({self.root.sql()})")
        self._live = self._logged = con.execute(f"SELECT count(*) FROM {self.out_table}").fetchall()[0][0]

    def step(self, con, deltas) -> tuple[list[tuple], list[tuple]]:
        if not any(n in deltas for n in self.sources):
            return [], []
        change = deltas.get(self.mapped) if self.mapped is not None else None
        if change is not None and len(change[0]) + len(change[1]) >= MAPPED_MIN_ROWS:
            tbl = self.root.child.arrow_inserts(deltas)
            if tbl is not None:  # a bulk load kept as Arrow: DuckDB filters the batch as it is
                dels, ins = [], self.root.eval_arrow(con, tbl)
            else:
                dels, ins = self._step_mapped(con, change)
        else:
            tbl = self.root.arrow_change(con, deltas) if self.out_table is None else None
            if tbl is not None:  # a bulk load joined in DuckDB: its rows stay Arrow (``arrowrows``)
                return [], ArrowRows(tbl)
            out = self.root.step(con, deltas)
            # Consolidation cancels a row's deletes against its inserts; a change of one sign
            # (a bulk insert, say) has nothing to cancel.
            if not self.consolidated and any(w < 0 for _, w in out) and any(w > 0 for _, w in out):
                out = consolidate(out)
            dels = [r for r, w in out if w == -1]
            ins = [r for r, w in out if w == 1]
            if len(dels) + len(ins) != len(out):  # weights other than +-1: a row more than once (or 0)
                dels = [r for r, w in out if w < 0 for _ in range(-w)]
                ins = [r for r, w in out if w > 0 for _ in range(w)]
        if self.out_table and (dels or ins):
            if self._whole_agg is not None and self._whole_agg.rebuilt:
                # Every group's row is DuckDB's again: rewriting the log table is cheaper than
                # appending a change to every group (and what it holds is the same).
                self._rebuild_log(con)
                return dels, ins
            self._pending.append((dels, ins))
            self._pending_rows += len(dels) + len(ins)
            if not self.defer_log or self._pending_rows >= LOG_BATCH_ROWS:
                self.flush(con)
        return dels, ins

    def flush(self, con) -> None:
        """Append the changes kept in memory to the log table (a no-op for exact views)."""
        if not self._pending:
            return
        pending = self._pending
        if len(pending) == 1:
            self._append(*pending[0], con)
        else:
            self._append([r for d, _ in pending for r in d], [r for _, i in pending for r in i], con)
        self._pending, self._pending_rows = [], 0  # only once they are in (an append is one statement)
        self._compact(con)

    def _step_mapped(self, con, change) -> tuple[list[tuple], list[tuple]]:
        """A view that is one Select over one relation: map its deleted and inserted rows."""
        src_dels, src_ins = change
        root = self.root
        canon = root.child.canon
        if canon:
            src_dels, src_ins = [canon(r) for r in src_dels], [canon(r) for r in src_ins]
        dels, ins = root.eval_rows(con, src_dels), root.eval_rows(con, src_ins)
        if dels and ins:  # an update that leaves the view's columns alone changes nothing
            c = Counter(ins)
            c.subtract(dels)
            dels = [r for r, n in c.items() if n < 0 for _ in range(-n)]
            ins = [r for r, n in c.items() if n > 0 for _ in range(n)]
        return dels, ins

    def contents_sql(self) -> str:
        return self.analysis.contents_sql

    # -- the snapshot table of views with floating-point aggregates ----------------------------
    def _append(self, dels, ins, con) -> None:
        """Append a change to the view's log table (no lookups)."""
        rows = dels + ins
        cols = list(zip(*rows))
        arrs = {f"c{i}": pa.array(cols[i], type=t.arrow) for i, t in enumerate(self.types)}
        arrs["n"] = pa.array([-1] * len(dels) + [1] * len(ins), type=pa.int64())
        sel = ", ".join(f"CAST(c{i} AS {t.duck})" if t.cast else f"c{i}" for i, t in enumerate(self.types))
        con.register("__sluice_outrows", pa.table(arrs))
        try:
            con.execute(f"INSERT INTO {self.out_table} SELECT {sel}, n FROM __sluice_outrows")
        finally:
            con.unregister("__sluice_outrows")
        self._logged += len(rows)
        self._live += len(ins) - len(dels)

    def _compact(self, con) -> None:
        """Net the log table's rows when it has grown to twice the view."""
        if self._logged > 2 * self._live + LOG_SLACK_ROWS:
            names = ", ".join(quote(c.internal) for c in self.view.columns)
            con.execute(f"CREATE OR REPLACE TABLE {self.out_table} AS SELECT {names}, "
                        f"sum(__sluice_n)::BIGINT AS __sluice_n FROM {self.out_table} GROUP BY ALL "
                        "HAVING sum(__sluice_n) <> 0")
            self._logged = self._live


def defer_unread_logs(views: dict, program) -> None:
    """Let each incremental view that no other view reads batch its log-table appends. What a view
    reads is taken from its plan (the relations it probes and loads from) as well as its body."""
    read = {d for v in program.views for d in v.depends_on}
    read |= {n for obj in views.values() if isinstance(obj, IncrementalView) for n in obj.sources}
    for name, obj in views.items():
        if isinstance(obj, IncrementalView):
            obj.defer_log = name not in read


__all__ = ["Analysis", "IncrementalView", "analyze_program", "defer_unread_logs"]
