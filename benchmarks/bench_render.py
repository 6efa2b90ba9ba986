"""How the live table copes with a big, busy view: 100,000 rows, 5,000 changes per second, in Chromium.

    python benchmarks/bench_render.py [--rows 100000] [--rate 5000] [--seconds 8] [--smoke] [--json out.json]

Real engine, real dashboard (gunicorn, gevent), Debian's Chromium (headless, through Playwright). Loads a
materialized view of ``--rows`` rows sorted by a numeric column, then a load generator in a process of its
own (``loadgen_http.py upsert``) upserts random keys at ``--rate`` changes per second (an upsert is a delete
and an insert: 2 changes). In the page, with the browser's own performance APIs, it measures an idle window
and then two busy ones back to back: the gaps between animation frames (``requestAnimationFrame``), main-
thread long tasks (``PerformanceObserver('longtask')``, tasks over 50 ms), the JS heap
(``performance.memory``, precise with ``--enable-precise-memory-info``; and after each window, the live heap
after a forced garbage collection, through the DevTools protocol) and the table rows in the DOM. Memory is
bounded when the live heap after the last busy window is within 10 MB of the one after the first (it moves
by a few MB from window to window: over six 6 s windows it stayed between 22 and 31 MB).
Target: p95 frame gap <= 33 ms while busy. CPU seconds of the engine, dashboard, Chromium and the generator
are reported.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import orjson
import psutil

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from webapp.dashboard.testing import DashboardProcess  # noqa: E402
from webapp.engine.testing import EngineProcess  # noqa: E402

CHROMIUM = os.environ.get("SLUICE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--enable-precise-memory-info"]
SQL = """
CREATE TABLE t (id INT NOT NULL PRIMARY KEY, name VARCHAR, n INT, amount DECIMAL(10, 2)) WITH ('materialized' = 'true');
CREATE MATERIALIZED VIEW v AS SELECT id, name, n, amount FROM t;
"""
# Installed before the page's own scripts, so long tasks are counted from the start.
LONGTASKS = """window.__longtasks = [];
try { new PerformanceObserver((l) => { for (const e of l.getEntries()) window.__longtasks.push([e.startTime, e.duration]); })
  .observe({ type: "longtask", buffered: true }); } catch (e) { window.__longtasks = null; }"""
PROBE = """(ms) => new Promise((done) => {
  const gaps = []; const t0 = performance.now(); let last = t0; const end = t0 + ms;
  function f(now) { gaps.push(now - last); last = now; if (now < end) requestAnimationFrame(f); else {
    gaps.sort((a, b) => a - b);
    const lt = window.__longtasks ? window.__longtasks.filter(([s]) => s >= t0 && s < now) : null;
    done({ frames: gaps.length, p50: gaps[Math.floor(gaps.length / 2)], p95: gaps[Math.floor(gaps.length * 0.95)],
      max: gaps[gaps.length - 1], long_tasks: lt ? lt.length : null,
      long_task_ms: lt ? lt.reduce((a, [, d]) => a + d, 0) : null,
      heap_mb: performance.memory ? performance.memory.usedJSHeapSize / 1048576 : null,
      dom_rows: document.querySelectorAll("tr.row").length }); } }
  requestAnimationFrame(f); })"""


def _cpu(procs: list[psutil.Process]) -> float:
    total = 0.0
    for p in procs:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


def _chromium() -> list[psutil.Process]:
    return [p for p in psutil.Process().children(recursive=True) if "chrom" in p.name().lower()]


def available() -> str | None:
    """None if the browser part can run, else why not."""
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "playwright is not installed"
    if not os.path.exists(CHROMIUM):
        return f"no Chromium at {CHROMIUM}"
    return None


def run(rows: int = 100_000, rate: int = 5000, seconds: float = 8.0, smoke: bool = False,
        engine: EngineProcess | None = None, dashboard: DashboardProcess | None = None, windows: int = 2) -> dict:
    """Measure; with ``engine``/``dashboard`` given, use those instead of starting its own."""
    warmup = 1.0
    if smoke:
        rows, rate, seconds, warmup = 2000, 500, 0.5, 0.3
    from playwright.sync_api import expect, sync_playwright
    own = engine is None
    eng = EngineProcess(None, "--keepalive", "3").start() if own else engine
    dash = None
    try:
        dash = DashboardProcess(eng.url, settings={"DEMO_PIPELINE": ""}).start() if dashboard is None else dashboard
        http = httpx.Client(base_url=eng.url + "/v0", timeout=120)
        http.put("/pipelines/big", json={"name": "big", "program_code": SQL}).raise_for_status()
        http.post("/pipelines/big/start", params={"initial": "running"}).raise_for_status()
        while http.get("/pipelines/big", params={"selector": "status"}).json()["deployment_status"] != "Running":
            time.sleep(0.05)
        rnd = random.Random(1)
        t0 = time.perf_counter()
        for start in range(0, rows, 10_000):
            body = b"\n".join(orjson.dumps({"id": i, "name": f"name {i}", "n": rnd.randint(0, 1000),
                                            "amount": f"{rnd.random() * 500:.2f}"})
                              for i in range(start, min(rows, start + 10_000)))
            r = http.post("/pipelines/big/ingress/t", params={"format": "json", "update_format": "raw"}, content=body)
            r.raise_for_status()
        token = r.json()["token"]
        while http.get("/pipelines/big/completion_status", params={"token": token}).json()["status"] != "complete":
            time.sleep(0.02)
        ingest_s = time.perf_counter() - t0
        eng_proc = psutil.Process(eng.proc.pid)
        servers = [*eng_proc.children(), psutil.Process(dash.worker_pids[0])]
        out: dict = {"rows": rows, "rate_target": rate, "ingest_s": ingest_s}
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page(viewport={"width": 1360, "height": 900})
            page.add_init_script(LONGTASKS)
            t0 = time.perf_counter()
            page.goto(dash.url + "/pipelines/big/views/v?v.sort=-n")
            expect(page.locator('.panel[data-view="v"]')).to_have_attribute("data-rows", str(rows), timeout=120_000)
            out["load_s"] = time.perf_counter() - t0
            ms = int(seconds * 1000)
            cdp = page.context.new_cdp_session(page)

            def live_heap_mb() -> float:
                """The JS heap after a full garbage collection (CDP), which tells growth from garbage."""
                cdp.send("HeapProfiler.collectGarbage")
                return cdp.send("Runtime.getHeapUsage")["usedSize"] / 1048576

            out["idle"] = page.evaluate(PROBE, ms)
            out["idle"]["live_heap_mb"] = live_heap_mb()
            chrome = _chromium()
            cpu0 = {"engine": _cpu(servers[:-1]), "dashboard": _cpu(servers[-1:]), "chromium": _cpu(chrome)}
            gen = subprocess.Popen([sys.executable, str(HERE / "loadgen_http.py"), "upsert",
                                    f"{eng.url}/v0/pipelines/big/ingress/t", str(rate), str(max(2, rate // 10)),
                                    str(warmup + windows * (seconds + 0.5) + 1.0), str(rows)], stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
            time.sleep(warmup)  # the first changes arrive
            for k in range(max(2, windows)):
                name = "busy" if k == 0 else f"busy_{k + 1}"
                out[name] = page.evaluate(PROBE, ms)
                out[name]["live_heap_mb"] = live_heap_mb()
            o, e = gen.communicate(timeout=windows * seconds + 60)
            if gen.returncode != 0:
                raise RuntimeError(f"upsert generator failed:\n{e}")
            fed = json.loads(o.strip().splitlines()[-1])
            out["changes_per_s"] = fed["changes_per_s"]
            out["applied_in_browser"] = page.evaluate("window.sluiceLive.panels[0].model.changes")
            out["cpu_s"] = {"engine": _cpu(servers[:-1]) - cpu0["engine"],
                            "dashboard": _cpu(servers[-1:]) - cpu0["dashboard"],
                            "chromium": _cpu(chrome) - cpu0["chromium"], "generator": fed["cpu"]}
            browser.close()
        busy = [m for k, m in out.items() if k.startswith("busy") and isinstance(m, dict)]
        out["heap_growth_mb"] = busy[-1]["live_heap_mb"] - busy[0]["live_heap_mb"]
        out["target"] = "p95 frame gap <= 33 ms at 5,000 changes/s on 100,000 rows; few long tasks; bounded heap"
        out["met"] = max(m["p95"] for m in busy) <= 33.4  # rAF gaps come in 16.7 ms steps: 33.3 is two frames
        return out
    finally:
        if dash is not None and dashboard is None:
            dash.stop()
        if own:
            eng.stop()


def print_table(r: dict) -> None:
    print(f"\n{r['rows']:,} rows loaded into the engine in {r['ingest_s']:.1f} s, "
          f"shown in the page in {r['load_s']:.1f} s; "
          f"{r['changes_per_s']:,.0f} changes/s pushed, {r['applied_in_browser']:,} applied in the browser")
    keys = ["frames", "p50", "p95", "max", "long_tasks", "long_task_ms", "heap_mb", "live_heap_mb", "dom_rows"]
    windows = [(k.replace("_", " "), m) for k, m in r.items() if k == "idle" or k.startswith("busy")]
    print(f"{'':<14}" + "".join(f"{w:>10}" for w, _ in windows))
    for k in keys:
        cells = [round(m[k], 1) if isinstance(m[k], float) else m[k] for _, m in windows]
        print(f"{k:<14}" + "".join(f"{c!s:>10}" for c in cells))
    print("cpu s while busy: " + ", ".join(f"{k} {v:.1f}" for k, v in r["cpu_s"].items()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--rate", type=int, default=5000, help="changes per second (an upsert is 2)")
    ap.add_argument("--seconds", type=float, default=8.0, help="length of each measuring window")
    ap.add_argument("--windows", type=int, default=2, help="busy windows in a row (memory over time)")
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--json")
    a = ap.parse_args()
    why = available()
    if why:
        raise SystemExit(f"cannot run: {why}")
    r = run(a.rows, a.rate, a.seconds, a.smoke, windows=a.windows)
    print_table(r)
    if a.json:
        Path(a.json).write_text(json.dumps(r, indent=2))


if __name__ == "__main__":
    main()
