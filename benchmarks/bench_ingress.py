"""Ingress throughput straight to the engine, against the parse limit, side by side in one run.

    python benchmarks/bench_ingress.py [--seconds 3] [--json out.json] [--smoke]

For each shape (JSON NDJSON and JSON arrays at 1, 100 and 10,000 records per request; CSV at 10,000), a
load generator in a process of its own posts for a fixed time with 4 connections, then waits for the last
token to complete, so the figure counts records *processed* (write-ahead log on, as by default). The
reference is DuckDB's ``read_json`` parsing the same NDJSON bytes from a file in this process: the
rate at which a C parser turns these bytes into a table. CPU seconds of the engine and the generator
are reported, since everything shares two cores.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import orjson
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from webapp.engine.testing import EngineProcess  # noqa: E402

# DECIMAL(18, 2): SUM keeps its argument's type, as in Feldera, and a whole run's sum per kind passes
# DECIMAL(10, 2)'s 10^8 (the pipeline then stops on the overflow, as it should, and the run with it).
SQL = """
CREATE TABLE events (id BIGINT NOT NULL, user_id INT, kind VARCHAR, amount DECIMAL(18, 2), at TIMESTAMP);
CREATE MATERIALIZED VIEW per_kind AS SELECT kind, COUNT(*) AS n, SUM(amount) AS total FROM events GROUP BY kind;
"""

LOADER = r"""
import sys, threading, time, httpx, orjson, resource
url, fmt, array, per_req, seconds, conns = sys.argv[1], sys.argv[2], sys.argv[3] == "1", int(sys.argv[4]), float(sys.argv[5]), int(sys.argv[6])
def body(base):
    if fmt == "csv":
        return b"".join(b"%d,%d,k%d,%d.25,2026-12-01 10:00:00\n" % (base + i, i % 1000, i % 10, i % 500) for i in range(per_req))
    rows = [{"id": base + i, "user_id": i % 1000, "kind": "k%d" % (i % 10), "amount": "%d.25" % (i % 500), "at": "2026-12-01 10:00:00"} for i in range(per_req)]
    return orjson.dumps(rows) if array else b"\n".join(orjson.dumps(r) for r in rows)
bodies = [body(k * 10**12) for k in range(conns)]  # made before the clock starts
params = {"format": fmt, "update_format": "raw"}
if fmt == "json":
    params["array"] = "true" if array else "false"
stop = time.monotonic() + seconds
sent = [0] * conns; last = [None] * conns
def run(k):
    with httpx.Client(timeout=120) as c:
        while time.monotonic() < stop:
            r = c.post(url, params=params, content=bodies[k]); r.raise_for_status()
            last[k] = r.json()["token"]; sent[k] += per_req
t0 = time.monotonic()
ts = [threading.Thread(target=run, args=(k,)) for k in range(conns)]
[t.start() for t in ts]; [t.join() for t in ts]
status = url.replace("/ingress/events", "/completion_status")
with httpx.Client(timeout=120) as c:
    for tok in last:
        while tok:
            r = c.get(status, params={"token": tok}); r.raise_for_status()  # a stopped pipeline says why
            if r.json()["status"] == "complete":
                break
            time.sleep(0.002)
el = time.monotonic() - t0
ru = resource.getrusage(resource.RUSAGE_SELF)
print(orjson.dumps({"records": sum(sent), "seconds": el, "cpu": ru.ru_utime + ru.ru_stime}).decode())
"""

SHAPES = [("json", False, 1), ("json", False, 100), ("json", False, 10_000),
          ("json", True, 1), ("json", True, 100), ("json", True, 10_000), ("csv", False, 10_000)]


def reference_rate(records: int = 200_000) -> float:
    import duckdb
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        for i in range(records):
            f.write(orjson.dumps({"id": i, "user_id": i % 1000, "kind": "k%d" % (i % 10), "amount": "%d.25" % (i % 500),
                                  "at": "2026-12-01 10:00:00"}) + b"\n")
        path = f.name
    con = duckdb.connect(config={"threads": 1})
    cols = "{'id': 'BIGINT', 'user_id': 'INTEGER', 'kind': 'VARCHAR', 'amount': 'DECIMAL(18,2)', 'at': 'TIMESTAMP'}"
    best = 0.0
    for _ in range(3):
        t0 = time.perf_counter()
        con.execute(f"CREATE OR REPLACE TABLE r AS SELECT * FROM read_json('{path}', format='newline_delimited', "
                    f"columns={cols})")
        best = max(best, records / (time.perf_counter() - t0))
    os.unlink(path)
    return best


def run(seconds: float = 3.0, connections: int = 4, smoke: bool = False, engine: EngineProcess | None = None) -> dict:
    """Every shape, then the reference: ``{"reference_records_per_s", "results": [...]}``. On a pipeline
    of its own in ``engine``, else in an engine of its own."""
    shapes = SHAPES[:1] + SHAPES[2:3] if smoke else SHAPES
    seconds = 0.5 if smoke else seconds
    results = []
    with contextlib.ExitStack() as stack:
        if engine is None:
            tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="sluice-bench-"))
            engine = stack.enter_context(EngineProcess(Path(tmp)))
        eng = engine
        c = httpx.Client(base_url=eng.url + "/v0", timeout=60)
        c.put("/pipelines/bench", json={"program_code": SQL}).raise_for_status()
        c.post("/pipelines/bench/start").raise_for_status()
        while c.get("/pipelines/bench?selector=status").json()["deployment_status"] != "Running":
            time.sleep(0.05)
        worker = psutil.Process(eng.proc.pid).children()[0]
        url = f"{eng.url}/v0/pipelines/bench/ingress/events"
        for fmt, array, per_req in shapes:
            cpu0 = sum(worker.cpu_times()[:2])
            out = subprocess.run([sys.executable, "-c", LOADER, url, fmt, "1" if array else "0", str(per_req),
                                  str(seconds), str(connections)], capture_output=True, text=True)
            if out.returncode:
                raise RuntimeError(f"the load generator of {fmt} x{per_req} failed:\n{out.stderr[-3000:]}")
            d = json.loads(out.stdout.strip().splitlines()[-1])
            d.update(shape=f"{fmt}{' array' if array else ''} x{per_req}", records_per_s=d["records"] / d["seconds"],
                     engine_cpu=sum(worker.cpu_times()[:2]) - cpu0)
            results.append(d)
    ref = reference_rate(20_000 if smoke else 200_000)
    for d in results:
        d["x_reference"] = d["records_per_s"] / ref
    return {"reference_records_per_s": ref, "results": results}


def print_table(res: dict) -> None:
    ref = res["reference_records_per_s"]
    results = res["results"]
    print()
    print(f"{'shape':<22}{'records/s':>12}{'x ref':>8}{'engine cpu s':>14}{'loader cpu s':>14}{'wall s':>8}")
    print("-" * 78)
    for d in results:
        print(f"{d['shape']:<22}{d['records_per_s']:>12,.0f}{d['records_per_s'] / ref:>8.2f}{d['engine_cpu']:>14.2f}"
              f"{d['cpu']:>14.2f}{d['seconds']:>8.2f}")
    print(f"{'DuckDB read_json (ref)':<22}{ref:>12,.0f}{1:>8.2f}")
    print("\ntarget: json x10000 >= 0.25 x ref (aim 0.5)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--connections", type=int, default=4)
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--smoke", action="store_true", help="a few seconds in all: check the suite still runs")
    a = ap.parse_args()
    res = run(a.seconds, a.connections, a.smoke)
    print_table(res)
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
