"""A profile of a running pipeline's steps: per relation, the time spent, the steps it took part in,
the rows it holds and the state the engine keeps for it; and the graph of which relation feeds which.

This is what Sluice can measure of its own "circuit" (one node per table and view, not Feldera's
operator-level DBSP graph): ``profile(rt)`` is the JSON answer of ``circuit_json_profile``, and
``dot(profile)`` draws it for ``circuit_profile``.
"""

from __future__ import annotations


from .sql import quote


def _count(cur, sql: str) -> int:
    return int(cur.execute(f"SELECT count(*) FROM ({sql})").fetchone()[0])


def _state_tables(cur) -> dict[str, int]:
    """Rows of each of the engine's own state tables (``__sluice_*``: view contents, logs, indexes)."""
    rows = cur.execute("SELECT table_name, estimated_size FROM duckdb_tables() "
                       "WHERE table_name LIKE '__sluice_%'").fetchall()
    return {name: int(n or 0) for name, n in rows}


def profile(rt) -> dict:
    """Counters since the pipeline started, and sizes now (read under the step lock, so between steps)."""
    program = rt.program
    with rt.step_lock:
        if not rt.failed:
            rt.tables_complete()
        cur = rt.db.cursor()
        try:
            state = _state_tables(cur)
            nodes = []
            for t in program.tables:
                nodes.append({"name": t.name, "kind": "table", "strategy": None,
                              "rows": _count(cur, f"SELECT * FROM {quote(t.internal)}"),
                              "time_msecs": None, "steps": None, "state_rows": 0,
                              "inputs": [], "materialized": True})
            for v in program.views:
                plan = rt.views.get(v.name)
                if plan is not None:
                    plan.flush(rt.db)
                mine = {k: n for k, n in state.items() if _owned_by(k, v.internal)}
                nodes.append({
                    "name": v.name, "kind": "local_view" if v.kind == "local_view" else "view",
                    "strategy": getattr(plan, "strategy", None),
                    "rows": _count(cur, plan.contents_sql()) if plan is not None else None,
                    "time_msecs": round(rt.view_times.get(v.name, 0.0) * 1000, 3),
                    "steps": rt.view_steps.get(v.name, 0),
                    "state_rows": sum(mine.values()), "state_tables": mine,
                    "inputs": sorted(v.depends_on), "materialized": v.materialized,
                })
            duck = cur.execute("SELECT tag, memory_usage_bytes FROM duckdb_memory() "
                               "WHERE memory_usage_bytes > 0").fetchall()
        finally:
            cur.close()
        steps = rt.step
    lat = sorted(rt.step_latencies)
    return {
        "pipeline_name": rt.pipeline.name,
        "incarnation_uuid": rt.incarnation,
        "total_completed_steps": steps,
        "step_time_msecs": round(sum(lat) * 1000, 3),
        # What the pipeline holds, not the process (stats' rss_bytes) nor the time of asking: a profile of
        # an idle pipeline reads the same each time, as Feldera's does.
        "memory": {"duckdb_bytes": {tag: int(n) for tag, n in duck}},
        "shared_state_rows": {k: n for k, n in state.items()
                              if not any(_owned_by(k, v.internal) for v in program.views)},
        "nodes": nodes,
    }


def _owned_by(table: str, view: str) -> bool:
    """Whether a state table holds ``view``'s contents (recompute) or its change log (incremental)."""
    return table in (f"__sluice_state_{view}", f"__sluice_out_{view}")


def dot(prof: dict) -> str:
    """The profile as a Graphviz graph: an edge from each relation to every view that reads it."""
    def label(n: dict) -> str:
        parts = [n["name"], n["kind"] if n["strategy"] is None else f'{n["kind"]} ({n["strategy"]})',
                 f'rows: {n["rows"]}']
        if n["time_msecs"] is not None:
            parts.append(f'time: {n["time_msecs"]} ms in {n["steps"]} steps')
        if n.get("state_rows"):
            parts.append(f'state rows: {n["state_rows"]}')
        return "\\n".join(p.replace('"', '\\"') for p in parts)

    lines = ["digraph circuit {", "  rankdir=LR;", "  node [shape=box];"]
    for n in prof["nodes"]:
        lines.append(f'  "{_esc(n["name"])}" [label="{label(n)}"];')
    for n in prof["nodes"]:
        for src in n["inputs"]:
            lines.append(f'  "{_esc(src)}" -> "{_esc(n["name"])}";')
    lines.append("}")
    return "\n".join(lines) + "\n"


def _esc(s: str) -> str:
    return s.replace("\\", "\\\\").replace('"', '\\"')


__all__ = ["profile", "dot"]
