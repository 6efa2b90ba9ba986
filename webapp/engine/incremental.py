"""Incremental view maintenance: a step costs what the change costs, not what the data costs.

``plan_incremental(view, program)`` returns an ``IncrementalView`` when every construct of the view
body is maintained (see ``ivm_plan``), else None and the view is recomputed. An incremental view
turns the step's changes of the relations it reads into its own change by running them through a
tree of operators (``ivm_ops``, ``ivm_agg``): DuckDB evaluates the view's expressions on the changed
rows only; joins probe the other side by key (an ART index on a stored table, or an in-memory
index of an earlier view); GROUP BY keeps per-group accumulators, and hands changes too large for
Python to DuckDB; DISTINCT keeps row counts. See docs/incremental.md.

What a snapshot reads (``contents_sql``): a view whose values are exactly DuckDB's (everything but
floating-point SUM/AVG) is read through its DuckDB view, which gives the same rows as the state.
A view with floating-point aggregates keeps its rows in a table ``__sluice_out_<view>`` so that a
snapshot shows the very values later deletes refer to; views reading it read that table.

Planning is cached per program (``analyze``): the runtime and the pipeline both ask, and a view's
plan needs the plans of the views it reads.
"""

from __future__ import annotations

import copy
import logging
import threading
import weakref

import pyarrow as pa

from .catalog import Relation
from .ivm_agg import Aggregate
from .ivm_ops import Node, canonizer, consolidate
from .ivm_plan import Ctx, Unsupported, plan_query
from .sql import quote

log = logging.getLogger("sluice.engine")

_lock = threading.RLock()  # re-entrant: a finalizer below may run inside a locked section (GC)
_programs: dict[int, tuple] = {}  # id(program) -> (weakref, Ctx, {view name: Analysis | None})


class Analysis:
    """What planning found out about one view; shared by every IncrementalView built for it."""

    def __init__(self, view: Relation, root: Node, keys: list[tuple[int, ...]], exact: bool, contents_sql: str,
                 sources: dict[str, str]):
        self.view, self.root, self.keys, self.exact = view, root, keys, exact
        self.contents_sql, self.sources = contents_sql, sources


def _program_state(program):
    key = id(program)
    with _lock:
        ent = _programs.get(key)
        if ent is not None and ent[0]() is program:
            return ent
        views: dict = {}
        ctx = Ctx(program, views)
        ent = (weakref.ref(program), ctx, views)
        _programs[key] = ent

    def _drop(k=key, c=ctx):
        with _lock:
            if _programs.get(k, (None, c))[1] is c:
                _programs.pop(k, None)
        c.close()
    weakref.finalize(program, _drop)
    return ent


def analyze(view: Relation, program) -> Analysis | None:
    """The cached analysis of ``view`` (planning each view it reads first), or None."""
    _, ctx, views = _program_state(program)
    with _lock:
        if view.name in views:
            return views[view.name]
        for v in program.views:  # declaration order: a view only reads earlier ones
            if v.name not in views:
                try:
                    views[v.name] = _analyze(ctx, v, program)
                except Exception:  # planning must never stop a pipeline: recompute is always correct
                    log.exception("planning view %s failed; it is recomputed", v.name)
                    views[v.name] = None
            if v.name == view.name:
                break
        return views.get(view.name)


def _analyze(ctx: Ctx, view: Relation, program) -> Analysis | None:
    try:
        node = ctx.parse(view.sql)
        root, _ = plan_query(ctx, node)
        want = ctx.describe(f"SELECT * FROM {quote(view.name)}")
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
            sources[name] = f"SELECT * FROM {quote(name)}"
        else:
            sources[name] = _contents_of(ctx, rel)
    # Views that are recomputed give exactly DuckDB's rows, like exact incremental ones.
    upstream_exact = all(ctx.views.get(n) is None or ctx.views[n].exact
                         for n in sources if program.relation(n).kind != "table")
    if not exact:
        cols = ", ".join(quote(c.name) for c in view.columns)
        contents, is_exact = f"SELECT {cols} FROM {quote(_out_table(view))}", False
    elif upstream_exact:
        contents, is_exact = f"SELECT * FROM {quote(view.name)}", True
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
        from .view import RecomputeView
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
            rel = program.relation(x["table_name"])
            if rel is not None and rel.kind != "table":
                sub = ctx.parse(_contents_of(ctx, rel))
                return {"type": "SUBQUERY", "alias": x.get("alias") or x["table_name"], "sample": None,
                        "query_location": 0, "query_location_length": 0,
                        "subquery": {"node": sub, "named_param_map": []},
                        "column_name_alias": x.get("column_name_alias") or []}
        return {k: rec(v) for k, v in x.items()}
    return ctx.statement(rec(node))


def _out_table(view: Relation) -> str:
    return f"__sluice_out_{view.name}"


class IncrementalView:
    """The maintenance object of one view in one running pipeline."""

    strategy = "incremental"

    def __init__(self, view: Relation, analysis: Analysis):
        self.view = view
        self.analysis = analysis
        self.root: Node = copy.deepcopy(analysis.root)
        self.root.bind(analysis.sources)
        names = view.column_names
        self.unique_keys = [[names[i] for i in k] for k in analysis.keys]
        self.sources = analysis.sources
        self.out_table = None if _own_exact(self.root) else quote(_out_table(view))
        self.types = self.root.types
        self._rids: dict = {}
        self._next_rid = 0

    def initialize(self, con) -> None:
        """Build the operators' state (and the snapshot table, if any) from the current contents."""
        self.root.reset()
        for table, col in sorted(self.root.table_indexes()):
            name = quote(f"__sluice_ix_{table}_{col}")
            try:
                con.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {quote(table)} ({quote(col)})")
            except Exception as e:  # an unindexable type: probes still work, by scanning
                log.info("no index on %s.%s: %s", table, col, e)
        self.root.init(con)
        if self.out_table:
            cols = ", ".join(f"{quote(c.name)} {t.duck}" for c, t in zip(self.view.columns, self.types))
            con.execute(f"CREATE OR REPLACE TABLE {self.out_table} ({cols}, __sluice_rid BIGINT)")
            rows = con.execute(self.root.sql()).fetchall()
            canon = canonizer(self.types)
            self._rids, self._next_rid = {}, 0
            self._write([], [canon(r) for r in rows] if canon else rows, con)
            con.execute(f"CREATE INDEX IF NOT EXISTS {quote('__sluice_ix_out_' + self.view.name)} "
                        f"ON {self.out_table} (__sluice_rid)")

    def step(self, con, deltas) -> tuple[list[tuple], list[tuple]]:
        if not any(n in deltas for n in self.sources):
            return [], []
        out = consolidate(self.root.step(con, deltas))
        dels = [r for r, w in out if w < 0 for _ in range(-w)]
        ins = [r for r, w in out if w > 0 for _ in range(w)]
        if self.out_table and (dels or ins):
            self._write(dels, ins, con)
        return dels, ins

    def contents_sql(self) -> str:
        return self.analysis.contents_sql

    # -- the snapshot table of views with floating-point aggregates ----------------------------
    def _write(self, dels, ins, con) -> None:
        gone = []
        for r in dels:
            lst = self._rids.get(r)
            if not lst:
                raise RuntimeError(f"view {self.view.name}: deleting a row it does not hold: {r!r}")
            gone.append(lst.pop())
            if not lst:
                del self._rids[r]
        if len(gone) <= 1000:
            if gone:
                con.execute(f"DELETE FROM {self.out_table} WHERE __sluice_rid IN ({', '.join(map(str, gone))})")
        else:
            con.register("__sluice_gone", pa.table({"rid": pa.array(gone, type=pa.int64())}))
            try:
                con.execute(f"DELETE FROM {self.out_table} WHERE __sluice_rid IN (SELECT rid FROM __sluice_gone)")
            finally:
                con.unregister("__sluice_gone")
        if ins:
            rids = list(range(self._next_rid, self._next_rid + len(ins)))
            self._next_rid += len(ins)
            for r, rid in zip(ins, rids):
                self._rids.setdefault(r, []).append(rid)
            cols = list(zip(*ins))
            arrs = {f"c{i}": pa.array(cols[i], type=t.arrow) for i, t in enumerate(self.types)}
            arrs["rid"] = pa.array(rids, type=pa.int64())
            sel = ", ".join(f"CAST(c{i} AS {t.duck})" if t.cast else f"c{i}" for i, t in enumerate(self.types))
            con.register("__sluice_outrows", pa.table(arrs))
            try:
                con.execute(f"INSERT INTO {self.out_table} SELECT {sel}, rid FROM __sluice_outrows")
            finally:
                con.unregister("__sluice_outrows")


def plan_incremental(view: Relation, program) -> IncrementalView | None:
    """An incremental maintenance object for ``view``, or None when it must be recomputed."""
    a = analyze(view, program)
    return IncrementalView(view, a) if a is not None else None


__all__ = ["plan_incremental", "IncrementalView", "analyze"]
