"""How the live table copes with a big, busy view: 100,000 rows, thousands of changes per second.

    .venv/bin/python tests/browser/bench_render.py [--rows 100000] [--rate 2000] [--seconds 10]

Real engine, real dashboard (gunicorn, gevent), Debian's Chromium. Loads a view of ``--rows`` rows,
then upserts random keys at ``--rate`` changes per second while it measures, in the page, the gaps
between animation frames, the JS heap and the number of table rows in the DOM. It prints a table;
nothing is asserted (the numbers go to docs/dashboard.md).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from webapp.dashboard.testing import DashboardProcess  # noqa: E402
from webapp.engine.testing import EngineProcess  # noqa: E402

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--enable-precise-memory-info"]
SQL = """
CREATE TABLE t (id INT NOT NULL PRIMARY KEY, name VARCHAR, n INT, amount DECIMAL(10, 2)) WITH ('materialized' = 'true');
CREATE MATERIALIZED VIEW v AS SELECT id, name, n, amount FROM t;
"""
PROBE = """() => new Promise((done) => {
  const gaps = []; let last = performance.now(); const end = last + %d;
  function f(now) { gaps.push(now - last); last = now; if (now < end) requestAnimationFrame(f); else done({
    frames: gaps.length, p50: gaps.sort((a, b) => a - b)[Math.floor(gaps.length / 2)],
    p95: gaps[Math.floor(gaps.length * 0.95)], max: gaps[gaps.length - 1],
    heapMB: performance.memory ? performance.memory.usedJSHeapSize / 1048576 : null,
    domRows: document.querySelectorAll("tr.row").length }); }
  requestAnimationFrame(f); })"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--rate", type=int, default=2000)
    ap.add_argument("--seconds", type=int, default=10)
    a = ap.parse_args()
    from playwright.sync_api import expect, sync_playwright
    with EngineProcess(None, "--keepalive", "3") as eng, \
            DashboardProcess(eng.url, settings={"DEMO_PIPELINE": ""}) as dash:
        http = httpx.Client(base_url=eng.url + "/v0", timeout=120)
        http.put("/pipelines/big", json={"name": "big", "program_code": SQL})
        http.post("/pipelines/big/start", params={"initial": "running"})
        while http.get("/pipelines/big", params={"selector": "status"}).json()["deployment_status"] != "Running":
            time.sleep(0.05)
        rnd = random.Random(1)

        def rec(i):
            return {"id": i, "name": f"name {i}", "n": rnd.randint(0, 1000), "amount": f"{rnd.random() * 500:.2f}"}
        for start in range(0, a.rows, 10_000):
            body = "\n".join(json.dumps(rec(i)) for i in range(start, min(a.rows, start + 10_000)))
            r = http.post("/pipelines/big/ingress/t", params={"format": "json", "update_format": "raw"}, content=body)
            assert r.status_code == 200, r.text
        results = []
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            page = browser.new_page(viewport={"width": 1360, "height": 900})
            t0 = time.perf_counter()
            page.goto(dash.url + "/pipelines/big/views/v?v.sort=-n")
            expect(page.locator('.panel[data-view="v"]')).to_have_attribute("data-rows", str(a.rows), timeout=120_000)
            load_s = time.perf_counter() - t0
            stop = threading.Event()
            pushed = [0]

            def feed():
                batch = max(1, a.rate // 10)
                while not stop.is_set():
                    t = time.perf_counter()
                    body = "\n".join(json.dumps(rec(rnd.randrange(a.rows))) for _ in range(batch))
                    http.post("/pipelines/big/ingress/t", params={"format": "json", "update_format": "raw"},
                              content=body)
                    pushed[0] += batch
                    time.sleep(max(0.0, 0.1 - (time.perf_counter() - t)))
            for label, busy in (("idle", False), ("busy", True)):
                th = None
                if busy:
                    pushed[0] = 0
                    th = threading.Thread(target=feed, daemon=True)
                    th.start()
                    time.sleep(1)
                m = page.evaluate(PROBE % (a.seconds * 1000))
                if th:
                    stop.set()
                    th.join()
                m["label"] = label
                m["changes/s pushed"] = round(pushed[0] * 2 / (a.seconds + 1)) if busy else 0  # upsert = 2 changes
                results.append(m)
            shown = page.evaluate("window.sluiceLive.panels[0].model.changes")
            browser.close()
    print(f"\n{a.rows} rows loaded and drawn in {load_s:.1f} s; {shown} changes applied in the browser\n")
    keys = ["changes/s pushed", "frames", "p50", "p95", "max", "heapMB", "domRows"]
    print(f"{'':<18}" + "".join(f"{r['label']:>10}" for r in results))
    for k in keys:
        print(f"{k:<18}" + "".join(f"{(round(r[k], 1) if isinstance(r[k], float) else r[k])!s:>10}" for r in results))


if __name__ == "__main__":
    main()
