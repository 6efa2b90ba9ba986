"""Incremental view maintenance against recomputation, side by side in one run.

    python benchmarks/bench_incremental.py [--sizes 10000,100000,1000000] [--skip-e2e] [--json out.json]

For a filter view, a join view and a group-by view over a table ``t`` of N rows (N = 10^4, 10^5,
10^6; the join's other table ``u`` has N/10 rows), the time of one step that updates 100 rows of ``t``
(upserts by primary key changing ``k``, ``v`` and ``s``):

* inside the engine: ``TableApplier`` applies the batch and the view object steps, in one
  transaction, exactly as ``Runtime._step`` does; the table is built directly in DuckDB. Reported:
  the view's step alone and the whole step (apply + view), median over the steps.
* end to end: a real ``sluice engine`` process (``EngineProcess``, default settings, so the
  write-ahead log as configured by default), one pipeline per view, loaded through ad-hoc
  ``INSERT ... SELECT`` (which goes through ingress); a step is POST /ingress with 100 JSON records
  (``update_format=insert_delete``), then /completion_status polled without sleeping until
  complete. ``recompute`` runs in a second engine started with ``SLUICE_INCREMENTAL=0``. For
  incremental, the steps right after the bulk load ("cold": aggregate groups left unloaded by the
  large change load on first touch) and after a restart (state built from the loaded tables).

A third table, "bulk", checks the 1.5x guard: one step inserting N fresh rows into a table of N
rows (the view's state doubles), incremental against recompute, inside the engine.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import duckdb  # noqa: E402
import httpx  # noqa: E402
import orjson  # noqa: E402

from webapp.engine.strategy import ViewPlans  # noqa: E402
from webapp.engine.duckconfig import DUCKDB_CONFIG  # noqa: E402
from webapp.engine.sql import compile_program  # noqa: E402
from webapp.engine.table import TableApplier  # noqa: E402
from webapp.engine.testing import EngineProcess, wait_status  # noqa: E402
from webapp.engine.view import RecomputeView  # noqa: E402

TABLES = """
CREATE TABLE t (id BIGINT NOT NULL PRIMARY KEY, k INT NOT NULL, v DOUBLE, s VARCHAR);
CREATE TABLE u (k INT NOT NULL PRIMARY KEY, name VARCHAR);
"""
VIEWS = {
    "filter": "CREATE VIEW f AS SELECT id, k, v * 2 AS v2, s FROM t WHERE v >= 50;",
    "join": "CREATE VIEW j AS SELECT t.id, t.v, u.name FROM t JOIN u ON t.k = u.k;",
    "group-by": "CREATE VIEW g AS SELECT k, COUNT(*) AS c, SUM(v) AS sv, AVG(v) AS av, MIN(v) AS lo, "
                "MAX(v) AS hi FROM t GROUP BY k;",
}
UPDATE_ROWS = 100


def _fill_sql(n: int) -> tuple[str, str]:
    groups = max(n // 10, 1)
    return (f"SELECT i::BIGINT, ((i * 7919) % {groups})::INT, (i % 100)::DOUBLE, 'x' || i FROM range({n}) r(i)",
            f"SELECT i::INT, 'name' || i FROM range({groups}) r(i)")


def _update_rows(rng: random.Random, n: int) -> list[tuple]:
    groups = max(n // 10, 1)
    return [(i, rng.randrange(groups), float(rng.randrange(100)), f"y{i}") for i in rng.sample(range(n), UPDATE_ROWS)]


def _median_ms(xs: list[float]) -> float:
    return statistics.median(xs) * 1000


# ---------------------------------------------------------------------------------------------
# Inside the engine

def inside(n: int, reps_inc: int, reps_rec: int) -> dict:
    prog = compile_program(TABLES + "\n".join(VIEWS.values()))
    con = duckdb.connect(":memory:", config=dict(DUCKDB_CONFIG))
    for t in prog.tables:
        con.execute(prog.table_ddl(t))
    fill_t, fill_u = _fill_sql(n)
    con.execute(f"INSERT INTO t {fill_t}")
    con.execute(f"INSERT INTO u {fill_u}")
    for v in prog.views:
        con.execute(prog.view_ddl(v))
    applier = TableApplier(prog.table("t"))
    rng = random.Random(n)
    out: dict = {}
    for kind, v in zip(VIEWS, prog.views):
        for strategy in ("incremental", "recompute"):
            obj = ViewPlans(prog).maintainer(v.name) if strategy == "incremental" else RecomputeView(v)
            assert obj is not None and obj.strategy == strategy
            t0 = time.perf_counter()
            obj.initialize(con)
            init = time.perf_counter() - t0
            gc.freeze()  # as Runtime does once the views' state is built
            view_t, step_t = [], []
            reps = reps_inc if strategy == "incremental" else reps_rec
            for _ in range(reps + 1):  # the first step creates the table's key index: not counted
                ops = [(1, r) for r in _update_rows(rng, n)]
                con.execute("BEGIN TRANSACTION")
                t0 = time.perf_counter()
                dels, ins = applier.apply(con, ops)
                t1 = time.perf_counter()
                vd, vi = obj.step(con, {"t": (dels, ins)})
                t2 = time.perf_counter()
                con.execute("COMMIT")
                view_t.append(t2 - t1)
                step_t.append(t2 - t0)
            out[(kind, strategy)] = {"view_ms": _median_ms(view_t[1:]), "step_ms": _median_ms(step_t[1:]),
                                     "init_ms": init * 1000}
            gc.unfreeze()
            if strategy == "recompute":
                con.execute(f'DROP TABLE IF EXISTS "__sluice_state_{v.name}"')
    con.close()
    return out


def bulk(n: int) -> dict:
    """One step inserting n new rows into a table that holds n rows: incremental / recompute."""
    prog = compile_program(TABLES + "\n".join(VIEWS.values()))
    out = {}
    for kind, v in zip(VIEWS, prog.views):
        for strategy in ("incremental", "recompute"):
            con = duckdb.connect(":memory:", config=dict(DUCKDB_CONFIG))
            for t in prog.tables:
                con.execute(prog.table_ddl(t))
            fill_t, fill_u = _fill_sql(2 * n)
            con.execute(f"INSERT INTO t {fill_t} LIMIT {n}")
            con.execute(f"INSERT INTO u {fill_u}")
            con.execute(prog.view_ddl(v))
            rows = con.execute(f"SELECT * FROM ({fill_t}) OFFSET {n}").fetchall()
            applier = TableApplier(prog.table("t"))
            obj = ViewPlans(prog).maintainer(v.name) if strategy == "incremental" else RecomputeView(v)
            obj.initialize(con)
            gc.freeze()  # as Runtime does once the views' state is built
            con.execute("BEGIN TRANSACTION")
            dels, ins = applier.apply(con, [(1, r) for r in rows])
            t0 = time.perf_counter()
            obj.step(con, {"t": (dels, ins)})
            out[(kind, strategy)] = (time.perf_counter() - t0) * 1000
            con.execute("COMMIT")
            gc.unfreeze()
            con.close()
    return out


# ---------------------------------------------------------------------------------------------
# End to end

def _wait(c: httpx.Client, name: str, token: str) -> None:
    while c.get(f"/pipelines/{name}/completion_status", params={"token": token}).json()["status"] != "complete":
        pass



def _steps(c: httpx.Client, name: str, n: int, reps: int, rng: random.Random) -> float:
    times = []
    for _ in range(reps + 1):
        body = b"\n".join(orjson.dumps({"insert": {"id": i, "k": k, "v": v, "s": s}})
                          for i, k, v, s in _update_rows(rng, n))
        t0 = time.perf_counter()
        r = c.post(f"/pipelines/{name}/ingress/t", params={"format": "json"}, content=body)
        r.raise_for_status()
        _wait(c, name, r.json()["token"])
        times.append(time.perf_counter() - t0)
    return _median_ms(times[1:])


def end_to_end(sizes: list[int], strategy: str, reps_inc: int, reps_rec: int) -> dict:
    """{(n, kind): ms} and, for incremental, also {(n, kind, "cold"): ms}: the steps right after
    the bulk load, before a restart rebuilt the views' state from the loaded tables."""
    env = {"SLUICE_INCREMENTAL": "0" if strategy == "recompute" else "1"}
    out = {}
    with EngineProcess(None, "--max-buffered-records", "10000000", env=env, ready_timeout=60) as eng, \
            httpx.Client(base_url=eng.url + "/v0", timeout=3600) as c:
        for n in sizes:
            fill_t, fill_u = _fill_sql(n)
            for kind, view in VIEWS.items():
                name = f"bench_{kind.replace('-', '')}_{n}"
                r = c.put(f"/pipelines/{name}", json={"name": name, "program_code": TABLES + view})
                r.raise_for_status()
                c.post(f"/pipelines/{name}/start").raise_for_status()
                wait_status(c, name, "Running", timeout=600)
                c.get(f"/pipelines/{name}/query", params={"sql": f"INSERT INTO u {fill_u}"}).raise_for_status()
                chunk = 250_000
                for lo in range(0, n, chunk):
                    sql = f"INSERT INTO t SELECT * FROM ({fill_t}) LIMIT {min(chunk, n - lo)} OFFSET {lo}"
                    c.get(f"/pipelines/{name}/query", params={"sql": sql}).raise_for_status()
                rng = random.Random(n)
                if strategy == "incremental":
                    out[(n, kind, "cold")] = _steps(c, name, n, reps_inc, rng)
                    c.post(f"/pipelines/{name}/stop").raise_for_status()
                    wait_status(c, name, "Stopped", timeout=600)
                    c.post(f"/pipelines/{name}/start").raise_for_status()
                    wait_status(c, name, "Running", timeout=600)
                out[(n, kind)] = _steps(c, name, n, reps_inc if strategy == "incremental" else reps_rec, rng)
                got = c.get(f"/pipelines/{name}").json()["program_info"]["sluice"]["views"]
                assert all(x["strategy"] == strategy for x in got.values()), got
                c.post(f"/pipelines/{name}/stop", params={"force": "true"})
                wait_status(c, name, "Stopped", timeout=600)
                c.post(f"/pipelines/{name}/clear")  # Feldera deletes only a pipeline whose storage is cleared
                c.delete(f"/pipelines/{name}")
    return out


# ---------------------------------------------------------------------------------------------

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--steps", type=int, default=30, help="incremental steps measured per case")
    ap.add_argument("--recompute-steps", type=int, default=5)
    ap.add_argument("--skip-e2e", action="store_true")
    ap.add_argument("--skip-bulk", action="store_true")
    ap.add_argument("--json", help="also write the numbers here")
    a = ap.parse_args()
    sizes = [int(x) for x in a.sizes.split(",")]
    res_in = {n: inside(n, a.steps, a.recompute_steps) for n in sizes}
    e2e = {}
    if not a.skip_e2e:
        for strategy in ("incremental", "recompute"):
            e2e[strategy] = end_to_end(sizes, strategy, a.steps, a.recompute_steps)
    print(f"\nPer-step time of a {UPDATE_ROWS}-row update (median, ms); view = the view's step alone, "
          "step = table apply + view, e2e = POST to completion (state built at start; cold = right after "
          "the bulk load, groups loaded on first touch)")
    hdr = f"{'view':9} {'rows':>9} | {'inc view':>9} {'rec view':>9} {'ratio':>6} | {'inc step':>9} {'rec step':>9} |"
    hdr += f" {'inc e2e':>8} {'rec e2e':>8} {'ratio':>6} {'cold e2e':>8}" if e2e else ""
    print(hdr)
    print("-" * len(hdr))
    for kind in VIEWS:
        for n in sizes:
            i, r = res_in[n][(kind, "incremental")], res_in[n][(kind, "recompute")]
            line = (f"{kind:9} {n:>9,} | {i['view_ms']:9.2f} {r['view_ms']:9.2f} {i['view_ms'] / r['view_ms']:6.3f} |"
                    f" {i['step_ms']:9.2f} {r['step_ms']:9.2f} |")
            if e2e:
                ie, re_ = e2e["incremental"][(n, kind)], e2e["recompute"][(n, kind)]
                line += f" {ie:8.2f} {re_:8.2f} {ie / re_:6.3f} {e2e['incremental'][(n, kind, 'cold')]:8.2f}"
            print(line)
    if len(sizes) > 1:
        lo, hi = sizes[0], sizes[-1]
        print(f"\nGrowth of the incremental step from {lo:,} to {hi:,} rows (target <= 2x):")
        for kind in VIEWS:
            g_view = res_in[hi][(kind, 'incremental')]['view_ms'] / res_in[lo][(kind, 'incremental')]['view_ms']
            g_step = res_in[hi][(kind, 'incremental')]['step_ms'] / res_in[lo][(kind, 'incremental')]['step_ms']
            line = f"  {kind:9} view {g_view:5.2f}x   step {g_step:5.2f}x"
            if e2e:
                line += f"   e2e {e2e['incremental'][(hi, kind)] / e2e['incremental'][(lo, kind)]:5.2f}x"
            print(line)
    bulk_res = {}
    if not a.skip_bulk:
        print("\nBulk step: insert N new rows into a table of N rows (view step, ms; target: incremental <= 1.5x)")
        print(f"{'view':9} {'N':>9} | {'incremental':>11} {'recompute':>10} {'ratio':>6}")
        for n in sizes:
            bulk_res[n] = bulk(n)
            for kind in VIEWS:
                i, r = bulk_res[n][(kind, "incremental")], bulk_res[n][(kind, "recompute")]
                print(f"{kind:9} {n:>9,} | {i:11.1f} {r:10.1f} {i / r:6.2f}")
    if a.json:
        Path(a.json).write_text(json.dumps({
            "inside": {str(n): {f"{k}/{s}": v for (k, s), v in d.items()} for n, d in res_in.items()},
            "e2e": {s: {"/".join(map(str, key)): v for key, v in d.items()} for s, d in e2e.items()},
            "bulk": {str(n): {f"{k}/{s}": v for (k, s), v in d.items()} for n, d in bulk_res.items()},
        }, indent=1))


if __name__ == "__main__":
    main()
