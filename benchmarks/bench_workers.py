"""Measure the dashboard's gunicorn worker models side by side: gevent vs gthread, N open WebSockets.

    python benchmarks/bench_workers.py [--sockets 200] [--changes 20]

For each worker class it starts a real engine and a real dashboard, opens N WebSockets all subscribed
to one view, and reports the worker's threads and resident memory (idle, then with the sockets open),
its CPU time over 5 idle seconds, how long each change takes to reach every socket, and how many egress
streams the engine saw. It prints one table; nothing is asserted (the numbers are in docs/dashboard.md).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from pathlib import Path

import httpx
import simple_websocket

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from webapp.dashboard.testing import DashboardProcess  # noqa: E402
from webapp.engine.testing import EngineProcess  # noqa: E402

SQL = """
CREATE TABLE t (id INT NOT NULL PRIMARY KEY, n INT) WITH ('materialized' = 'true');
CREATE MATERIALIZED VIEW v AS SELECT id, n FROM t;
"""


def proc_status(pid: int) -> dict:
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return {"threads": int(out["Threads"]), "rss_mb": int(out["VmRSS"].split()[0]) / 1024,
            "vm_mb": int(out["VmSize"].split()[0]) / 1024}


def cpu_secs(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        parts = f.read().rsplit(")", 1)[1].split()
    import os
    return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")


class Sock:
    def __init__(self, url: str):
        self.ws = simple_websocket.Client.connect(url.replace("http://", "ws://") + "/ws")
        self.seen: dict[int, float] = {}
        self.ready = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        try:
            while True:
                text = self.ws.receive()
                if not text:
                    continue
                f = json.loads(text)
                if f["op"] == "snapshot":
                    self.ready.set()
                elif f["op"] == "changes":
                    now = time.perf_counter()
                    for ch in f["changes"]:
                        if "insert" in ch:
                            self.seen.setdefault(ch["insert"]["id"], now)
        except Exception:
            pass


def run(worker: str, sockets: int, changes: int) -> dict:
    with EngineProcess(None, "--keepalive", "3") as eng:
        http = httpx.Client(base_url=eng.url + "/v0", timeout=30)
        http.put("/pipelines/bench", json={"name": "bench", "program_code": SQL})
        http.post("/pipelines/bench/start", params={"initial": "running"})
        while http.get("/pipelines/bench", params={"selector": "status"}).json()["deployment_status"] != "Running":
            time.sleep(0.05)
        args = ["--worker-class", worker] + (["--threads", str(sockets + 64)] if worker == "gthread" else [])
        # all sockets come from 127.0.0.1, one client as USER_MAX_SUBSCRIPTIONS counts
        settings = {"DEMO_PIPELINE": "", "USER_MAX_SUBSCRIPTIONS": 1_000_000}
        with DashboardProcess(eng.url, *args, settings=settings) as dash:
            (pid,) = dash.worker_pids
            httpx.get(dash.url + "/")
            idle = proc_status(pid)
            socks = [Sock(dash.url) for _ in range(sockets)]
            for s in socks:
                s.ws.send(json.dumps({"op": "subscribe", "pipeline": "bench", "view": "v"}))
            for s in socks:
                s.ready.wait(60)
            time.sleep(1.0)
            loaded = proc_status(pid)
            c0 = cpu_secs(pid)
            time.sleep(5.0)
            idle_cpu = cpu_secs(pid) - c0
            lat = []
            c0 = cpu_secs(pid)
            for i in range(changes):
                t0 = time.perf_counter()
                r = http.post("/pipelines/bench/ingress/t", params={"format": "json", "update_format": "raw"},
                              content=json.dumps({"id": i, "n": i}))
                assert r.status_code == 200, r.text
                deadline = time.monotonic() + 30
                while not all(i in s.seen for s in socks) and time.monotonic() < deadline:
                    time.sleep(0.002)
                lat.append(max(s.seen.get(i, t0 + 30) for s in socks) - t0)
            busy_cpu = cpu_secs(pid) - c0
            outputs = [o for o in http.get("/pipelines/bench/stats").json()["outputs"] if o["config"]["stream"] == "v"]
            for s in socks:
                s.ws.close()
    return {"worker": worker, "sockets": sockets, "threads idle": idle["threads"], "threads open": loaded["threads"],
            "RSS idle MB": round(idle["rss_mb"], 1), "RSS open MB": round(loaded["rss_mb"], 1),
            "KB/socket": round((loaded["rss_mb"] - idle["rss_mb"]) * 1024 / sockets, 1),
            "virtual MB open": round(loaded["vm_mb"]),
            "CPU s idle 5s": round(idle_cpu, 3), "CPU s/change": round(busy_cpu / changes, 4),
            "all sockets ms p50": round(statistics.median(lat) * 1000, 1),
            "all sockets ms max": round(max(lat) * 1000, 1), "egress streams": len(outputs)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sockets", type=int, default=200)
    ap.add_argument("--changes", type=int, default=20)
    a = ap.parse_args()
    rows = [run(w, a.sockets, a.changes) for w in ("gevent", "gthread")]
    keys = list(rows[0])
    width = max(len(k) for k in keys)
    print("\n" + " " * width + "  " + "  ".join(f"{r['worker']:>12}" for r in rows))
    for k in keys[1:]:
        print(f"{k:<{width}}  " + "  ".join(f"{r[k]!s:>12}" for r in rows))


if __name__ == "__main__":
    main()
