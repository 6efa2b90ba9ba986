"""The whole benchmark suite in one command: ingress, live latency, fan-out, isolation, browser rendering and the
incremental views' workload.

    python benchmarks/run.py [--smoke] [--json benchmarks/results/run.json] [--parts ingress,latency,...]

Each part starts its own engine and dashboard processes on ephemeral ports and runs its load generators in
processes of their own; the CPU seconds of each process are reported, since everything shares the machine.
Prints each part's table, then a summary (figure, measured, target, met), and writes everything as JSON.
``--smoke`` runs every part for a moment (seconds in all), to check that the suite still works: its
figures mean nothing. A part that cannot run here (no Chromium; the dashboard upload benchmark not written
yet) is reported as "not available"; a part that fails is reported with its error, and the exit status is 1.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import bench_ingress  # noqa: E402
import bench_live  # noqa: E402
import bench_render  # noqa: E402
import bench_workload  # noqa: E402

from webapp.dashboard.testing import DashboardProcess  # noqa: E402
from webapp.engine.testing import EngineProcess  # noqa: E402

PARTS = ["ingress", "upload", "latency", "fanout", "isolation", "browser", "workload"]
UPLOAD_MB = 50  # the upload part's file size in the full run
WORKLOAD_ROWS = 100_000  # the workload part's orders in the full run (10^6 with bench_workload.py alone)


class NotAvailable(Exception):
    """Raised by a part that cannot run on this machine (reported, not a failure)."""


def _num(x):
    return None if x is None else round(float(x), 3)


def part_ingress(ctx) -> tuple[dict, list]:
    r = bench_ingress.run(seconds=2.0, smoke=ctx["smoke"], engine=ctx["engine"])
    bench_ingress.print_table(r)
    rows = []
    for d in r["results"]:
        target = ">= 0.25x ref" if d["shape"] in ("json x10000", "json array x10000") else ""
        met = d["x_reference"] >= 0.25 if target else None
        rows.append(("ingress", f"{d['shape']} records/s (x ref)",
                     f"{d['records_per_s']:,.0f} ({d['x_reference']:.2f}x)", target, met, _num(d["records_per_s"])))
    rows.append(("ingress", "DuckDB read_json records/s (reference)", f"{r['reference_records_per_s']:,.0f}", "", None,
                 _num(r["reference_records_per_s"])))
    return r, rows


def start_upload(ctx) -> subprocess.Popen | None:
    """``bench_upload.py`` through its command line (its own engine and dashboard); None if it is missing."""
    script = HERE / "bench_upload.py"
    if not script.exists():
        return None
    size = ["--smoke"] if ctx["smoke"] else ["--mb", str(UPLOAD_MB)]
    return subprocess.Popen([sys.executable, str(script), *size, "--json", str(Path(ctx["tmp"]) / "upload.json")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def part_upload(ctx) -> tuple[dict, list]:
    """The dashboard's upload path against direct ingress (started early in a smoke run, to save time)."""
    p = ctx.pop("upload", None) or start_upload(ctx)
    if p is None:
        raise NotAvailable("benchmarks/bench_upload.py does not exist yet")
    out = Path(ctx["tmp"]) / "upload.json"
    stdout, stderr = p.communicate(timeout=600)
    print(stdout[-3000:])
    if p.returncode != 0:
        raise RuntimeError(f"bench_upload.py exited with {p.returncode}: {(stderr or stdout)[-500:]}")
    r = json.loads(out.read_text())
    best = {}  # fastest run per path (bench_upload may run several rounds)
    for d in r["results"]:
        best[d["path"]] = min(best.get(d["path"], d["seconds"]), d["seconds"])
    rows = [("upload", f"{r['bytes'] / 1e6:,.0f} MB file, {path} records/s (best)", f"{r['records'] / secs:,.0f}", "",
             None, _num(r["records"] / secs)) for path, secs in best.items()]
    ratio = best["direct"] / best["dashboard"]
    rows.append(("upload", "dashboard / direct throughput", f"{ratio:.2f}", ">= 0.9", ratio >= 0.9, _num(ratio)))
    return r, rows


def _live(ctx, name: str) -> dict:
    return bench_live.run([name], smoke=ctx["smoke"], seconds=5.0, engine=ctx["engine"],
                          dashboard=ctx.get("dashboard"))[name]


def part_latency(ctx) -> tuple[dict, list]:
    r = _live(ctx, "latency")
    bench_live.print_table({"latency": r})
    return r, [("latency", f"change to {r['clients']} clients, p50 / p99 ms",
                f"{r['latency_ms_p50']:.1f} / {r['latency_ms_p99']:.1f}", "p99 <= 50 ms", r["met"],
                _num(r["latency_ms_p99"]))]


def part_fanout(ctx) -> tuple[dict, list]:
    r = _live(ctx, "fanout")
    bench_live.print_table({"fanout": r})
    m = r["met"]
    return r, [
        ("fanout", f"change to {r['clients']} clients, p50 / p99 ms",
         f"{r['latency_ms_p50']:.1f} / {r['latency_ms_p99']:.1f}", "p99 <= 250 ms", m["latency"],
         _num(r["latency_ms_p99"])),
        ("fanout", "upstream egress streams (hub / engine)",
         f"{r['hub_upstream_opens']} / {r['engine_egress_streams']}", "exactly 1", m["one_egress"],
         r["engine_egress_streams"]),
        ("fanout", "clients holding every change", f"{r['clients_complete']} / {r['clients']} "
         f"({r['resync_snapshots']} resync snapshots)", "all", m["complete"], r["clients_complete"]),
        ("fanout", "dashboard RSS per client, KiB", f"{r['rss_kib_per_client']:.1f}", "<= 50 KiB", m["rss"],
         _num(r["rss_kib_per_client"])),
        ("fanout", "page requests while open, p50 / p99 ms",
         f"{r['pages']['ms_p50']:.1f} / {r['pages']['ms_p99']:.1f}", "p99 <= 100 ms", m["pages"],
         _num(r["pages"]["ms_p99"])),
    ]


def part_isolation(ctx) -> tuple[dict, list]:
    r = _live(ctx, "isolation")
    bench_live.print_table({"isolation": r})
    b, s = r["baseline"], r["with_slow_client"]
    return r, [
        ("isolation", "others' p99 ms without / with a slow client",
         f"{b['latency_ms_p99']:.1f} / {s['latency_ms_p99']:.1f} ({r['p99_increase']:+.0%})", "<= +20%",
         r["p99_increase"] is not None and r["p99_increase"] <= 0.2, _num(r["p99_increase"])),
        ("isolation", "POST ack p99 ms / engine step p99 ms, without / with",
         f"{b['ack_ms_p99']:.1f} / {s['ack_ms_p99']:.1f}; {b['engine_step_ms']['p99']:.1f} / "
         f"{s['engine_step_ms']['p99']:.1f}", "pipeline never waits",
         r["hub_dropped_chunks"] == 0, _num(s["ack_ms_p99"])),
    ]


def part_browser(ctx) -> tuple[dict, list]:
    why = bench_render.available()
    if why:
        raise NotAvailable(why)
    r = bench_render.run(smoke=ctx["smoke"], engine=ctx["engine"], dashboard=ctx.get("dashboard"))
    bench_render.print_table(r)
    busy = max((r["busy"], r["busy_2"]), key=lambda m: m["p95"])
    lt = (r["busy"]["long_tasks"] or 0) + (r["busy_2"]["long_tasks"] or 0)
    lt_ms = (r["busy"]["long_task_ms"] or 0) + (r["busy_2"]["long_task_ms"] or 0)
    return r, [
        ("browser", f"frame gap p95 ms, {r['rows']:,} rows at {r['changes_per_s']:,.0f} changes/s",
         f"{busy['p95']:.1f} (p50 {busy['p50']:.1f}, max {busy['max']:.1f})", "p95 <= 33 ms", r["met"],
         _num(busy["p95"])),
        ("browser", "long tasks while busy (count, ms)", f"{lt}, {lt_ms:.0f} ms", "rare", None, lt),
        ("browser", "live JS heap MB after GC: idle / busy / busy 2",
         f"{r['idle']['live_heap_mb']:.1f} / {r['busy']['live_heap_mb']:.1f} / {r['busy_2']['live_heap_mb']:.1f}",
         "bounded (+10 MB at most)", r["heap_growth_mb"] <= 10, _num(r["busy_2"]["live_heap_mb"])),
    ]


def part_workload(ctx) -> tuple[dict, list]:
    """Issue 19's workload (``bench_workload.py``): ingest, update latency and memory of three views."""
    if ctx["smoke"]:
        r = bench_workload.run(5_000, steps=(3, 5), engine=ctx["engine"])
    else:
        r = bench_workload.run(WORKLOAD_ROWS, engine=ctx["engine"])
    bench_workload.print_table(r)
    rows = []
    for c in r["cases"]:
        views = "+".join(c["views"])
        target = 0.25 if len(c["views"]) > 1 else 0.5
        w1 = f"{c['w1_rows_per_s']:,.0f} ({c['x_reference']:.3f}x)"
        rows.append(("workload", f"W1 {views} rows/s (x DuckDB)", w1, f">= {target}x ref",
                     c["x_reference"] >= target, _num(c["w1_rows_per_s"])))
        if "w2_ms" in c:
            p50, p95 = bench_workload.percentile(c["w2_ms"], 50), bench_workload.percentile(c["w2_ms"], 95)
            rows.append(("workload", "W2 100 upserts, POST to egress p50 / p95 ms", f"{p50:.1f} / {p95:.1f}",
                         "<= 15 / 40 ms", p50 <= 15 and p95 <= 40, _num(p95)))
            p50, p99 = bench_workload.percentile(c["w3_ms"], 50), bench_workload.percentile(c["w3_ms"], 99)
            rows.append(("workload", "W3 one insert, POST to egress p50 / p99 ms", f"{p50:.1f} / {p99:.1f}",
                         "<= 5 / 20 ms", p50 <= 5 and p99 <= 20, _num(p99)))
        ratio = c["w4_rss_mib"] / max(c["reference"]["rss_mib"], 1)
        rows.append(("workload", f"W4 {views} engine RSS MiB (x DuckDB)", f"{c['w4_rss_mib']:.0f} ({ratio:.1f}x)",
                     "<= 2x DuckDB", ratio <= 2, _num(c["w4_rss_mib"])))
    return r, rows


RUNNERS = {"ingress": part_ingress, "upload": part_upload, "latency": part_latency, "fanout": part_fanout,
           "isolation": part_isolation, "browser": part_browser,
           "workload": part_workload}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--smoke", action="store_true", help="every part for a moment: check the suite still runs")
    ap.add_argument("--json", default=str(HERE / "results" / "run.json"),
                    help="where to write the results (default benchmarks/results/run.json, ignored by git)")
    ap.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated subset of {','.join(PARTS)}")
    a = ap.parse_args()
    parts = [p for p in a.parts.split(",") if p]
    unknown = set(parts) - set(PARTS)
    if unknown:
        ap.error(f"unknown parts: {', '.join(sorted(unknown))}")
    bench_live.raise_fd_limit()  # 1,000 sockets need descriptors; the children inherit the limit
    t_all = time.monotonic()
    report = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "smoke": a.smoke, "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                            "loadavg_start": os.getloadavg()}, "parts": {}}
    summary: list = []
    failed = False
    needs_engine = any(p in parts for p in ("ingress", "latency", "fanout", "isolation", "browser", "workload"))
    engine = EngineProcess(None, "--keepalive", "3").start() if needs_engine else None
    tmp = tempfile.TemporaryDirectory(prefix="sluice-bench-run-")
    ctx = {"smoke": a.smoke, "engine": engine, "tmp": tmp.name}
    if a.smoke and "upload" in parts:  # its own processes: overlap it with the rest (figures mean nothing)
        ctx["upload"] = start_upload(ctx)
    if a.smoke and any(p in parts for p in ("latency", "fanout", "isolation", "browser")):
        ctx["dashboard"] = DashboardProcess(engine.url, settings=bench_live.DASHBOARD_SETTINGS).start()
    try:
        for name in parts:
            t0 = time.monotonic()
            load0 = os.getloadavg()[0]
            print(f"\n=== {name} ===", flush=True)
            entry: dict = {}
            try:
                data, rows = RUNNERS[name](ctx)
                entry.update(status="ok", data=data)
                summary += rows
            except NotAvailable as e:
                entry.update(status="not available", reason=str(e))
                summary.append((name, "not available", str(e), "", None, None))
                print(f"not available: {e}")
            except Exception as e:  # report it, go on with the other parts
                failed = True
                entry.update(status="error", error=f"{type(e).__name__}: {e}", traceback=traceback.format_exc())
                summary.append((name, "ERROR", f"{type(e).__name__}: {e}"[:70], "", False, None))
                traceback.print_exc()
            entry.update(seconds=round(time.monotonic() - t0, 1), loadavg_1min=[load0, os.getloadavg()[0]])
            report["parts"][name] = entry
    finally:
        if ctx.get("dashboard") is not None:
            ctx["dashboard"].stop()
        if engine is not None:
            engine.stop()
        tmp.cleanup()
    report["machine"]["loadavg_end"] = os.getloadavg()
    report["seconds"] = round(time.monotonic() - t_all, 1)
    report["summary"] = [dict(zip(("part", "figure", "measured", "target", "met", "value"), r)) for r in summary]

    print(f"\n=== summary ({'smoke: figures mean nothing' if a.smoke else 'full run'}; {report['seconds']:.0f} s; "
          f"load average {report['machine']['loadavg_start'][0]:.1f} -> {report['machine']['loadavg_end'][0]:.1f} "
          f"on {os.cpu_count()} CPUs) ===")
    w = [10, 56, 40, 26]
    print(f"{'part':<{w[0]}}{'figure':<{w[1]}}{'measured':<{w[2]}}{'target':<{w[3]}}met")
    for part, fig, measured, target, met, _ in summary:
        mark = "" if met is None else ("yes" if met else "NO")
        print(f"{part:<{w[0]}}{fig:<{w[1]}}{measured:<{w[2]}}{target:<{w[3]}}{mark}")
    for name, e in report["parts"].items():
        print(f"  {name}: {e['status']} in {e['seconds']} s")
    Path(a.json).parent.mkdir(parents=True, exist_ok=True)
    Path(a.json).write_text(json.dumps(report, indent=2, default=str))
    print(f"\nwritten to {a.json}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
