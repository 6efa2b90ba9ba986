"""Live fan-out, side by side: latency, 1,000 clients on one view, and a slow client's effect on the rest.

    python benchmarks/bench_live.py [--smoke] [--seconds 5] [--json out.json]

A real ``sluice engine`` and a real dashboard (gunicorn, one gevent worker) on ephemeral ports. The load
generators are processes of their own: ``loadgen_http.py produce`` POSTs new rows of ``t`` at a fixed rate
(1,000 changes/s) and records when each POST was acknowledged; ``loadgen_ws.py`` runs the WebSocket
clients (asyncio, up to 250 per process), each subscribed to the materialized view ``v`` (all of ``t``),
recording when each change arrives. The latency of a change is its arrival in a client minus its POST's
acknowledgement (CLOCK_MONOTONIC, shared by every process), over every change and every client.

Parts (each on a fresh pipeline and a fresh dashboard):

- ``latency``: 10 clients (target p99 <= 50 ms).
- ``fanout``: 1,000 clients: latency (target p99 <= 250 ms), upstream egress streams for the view (hub
  counter and engine ``/stats``; target exactly 1), clients that hold every change (or a snapshot with reason
  ``resync``/``behind``), dashboard RSS per client measured before/after connecting (target <= 50 KiB),
  and page requests (``/``, ``/pipelines/<p>``) every 20 ms while the changes flow (target p99 <= 100 ms).
- ``isolation``: 20 clients, then the same with one more client that reads one frame a second: the others'
  p99 (target: at most +20%), and the pipeline's side (POST acknowledgement p99, engine step latency).

CPU seconds of every process (engine worker, dashboard worker, each load generator) are reported.
``SLUICE_BENCH_PROFILE=DIR`` samples the dashboard worker with py-spy during each part's production window;
``SLUICE_BENCH_DEFLATE=0`` makes the clients stop offering permessage-deflate (browsers offer it).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import psutil

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from webapp.dashboard.testing import DashboardProcess  # noqa: E402
from webapp.engine.testing import EngineProcess  # noqa: E402

SQL = """
CREATE TABLE t (id BIGINT NOT NULL PRIMARY KEY, n INT, s VARCHAR) WITH ('materialized' = 'true');
CREATE MATERIALIZED VIEW v AS SELECT id, n, s FROM t;
"""
PER_PROCESS = 250  # WebSocket clients per load-generator process
# Every simulated browser connects from 127.0.0.1: one client to the dashboard, whose subscriptions
# USER_MAX_SUBSCRIPTIONS would otherwise bound to 300.
DASHBOARD_SETTINGS = {"DEMO_PIPELINE": "", "USER_MAX_SUBSCRIPTIONS": 1_000_000}
DEFLATE = os.environ.get("SLUICE_BENCH_DEFLATE", "1") != "0"  # browsers offer permessage-deflate


def raise_fd_limit() -> None:
    """1,000 sockets need file descriptors: raise the soft limit to the hard one (children inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def cpu_of(p: psutil.Process | None) -> float:
    try:
        t = p.cpu_times()
        return t.user + t.system
    except (psutil.Error, AttributeError):
        return 0.0


def engine_worker(eng: EngineProcess) -> psutil.Process:
    p = psutil.Process(eng.proc.pid)
    kids = p.children()
    return kids[0] if kids else p


def start_pipeline(eng_url: str, name: str, sql: str = SQL) -> httpx.Client:
    http = httpx.Client(base_url=eng_url + "/v0", timeout=120)
    http.put(f"/pipelines/{name}", json={"name": name, "program_code": sql}).raise_for_status()
    http.post(f"/pipelines/{name}/start", params={"initial": "running"}).raise_for_status()
    deadline = time.monotonic() + 60
    while http.get(f"/pipelines/{name}", params={"selector": "status"}).json()["deployment_status"] != "Running":
        if time.monotonic() > deadline:
            raise RuntimeError(f"pipeline {name} did not start")
        time.sleep(0.05)
    return http


def _profile(pid: int, tag: str, seconds: float) -> subprocess.Popen | None:
    """With ``SLUICE_BENCH_PROFILE=DIR``, sample the dashboard worker with py-spy while changes flow
    (``DIR/<part>-<pid>.txt``: collapsed stacks, for ``flamegraph.pl`` or reading)."""
    out = os.environ.get("SLUICE_BENCH_PROFILE")
    if not out:
        return None
    Path(out).mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(["py-spy", "record", "-p", str(pid), "-d", str(max(1, int(seconds))), "-r", "200",
                             "--format", "raw", "-o", str(Path(out) / f"{tag}-{pid}.txt")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def pct(a, q: float) -> float | None:
    return None if len(a) == 0 else float(np.percentile(a, q * 100))


def _readline(p: subprocess.Popen, timeout: float) -> str:
    box: list[str] = []
    th = threading.Thread(target=lambda: box.append(p.stdout.readline()), daemon=True)
    th.start()
    th.join(timeout)
    if not box or not box[0]:
        raise RuntimeError(f"load generator {p.args[:3]} said nothing within {timeout:.0f} s; stderr:\n"
                           + (p.stderr.read() if p.poll() is not None else "(still running)"))
    return box[0]


class ClientProcs:
    """``n`` WebSocket clients in processes of ``PER_PROCESS``; ``slow``: they read one frame a second."""

    def __init__(self, dash_url: str, pipeline: str, n: int, tmp: Path, tag: str, slow: bool = False):
        self.outs: list[Path] = []
        self.procs: list[subprocess.Popen] = []
        for k in range(0, n, PER_PROCESS):
            out = tmp / f"{tag}-{k}.npy"
            cmd = [sys.executable, str(HERE / "loadgen_ws.py"), dash_url, pipeline, "v", str(min(PER_PROCESS, n - k)),
                   str(out)] + (["--slow"] if slow else []) + ([] if DEFLATE else ["--no-deflate"])
            self.procs.append(subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                               stderr=subprocess.PIPE, text=True))
            self.outs.append(out)

    def ready(self, timeout: float = 120) -> None:
        for p in self.procs:
            line = _readline(p, timeout)
            if line.strip() != "READY":
                raise RuntimeError(f"WebSocket load generator: {line!r}")

    def finish(self, rows: int, seconds: float) -> tuple[list[dict], np.ndarray, float]:
        """Wait until every client holds ``rows`` rows (at most ``seconds``): (clients, arrivals, CPU s)."""
        for p in self.procs:
            p.stdin.write(f"WAIT {rows} {seconds}\n")
            p.stdin.flush()
        clients, logs, cpu = [], [], 0.0
        self.hub_to_client_ms = []
        for p, out in zip(self.procs, self.outs):
            d = json.loads(_readline(p, seconds + 60))
            p.wait(30)
            self.hub_to_client_ms.append(d["hub_to_client_ms"])
            clients += d["clients"]
            cpu += d["cpu"]
            logs.append(np.load(out))
        return clients, np.concatenate(logs) if logs else np.zeros((0, 4)), cpu

    def kill(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()


def run_http_gen(args: list[str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(HERE / "loadgen_http.py"), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def http_gen_result(p: subprocess.Popen, timeout: float) -> dict:
    out, err = p.communicate(timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError(f"load generator {p.args[2]} failed:\n{err}")
    return json.loads(out.strip().splitlines()[-1])


def latencies_ms(acks: np.ndarray, logs: np.ndarray) -> np.ndarray:
    """Arrival minus acknowledgement, in ms, for every (client, change) of the produced ids."""
    if len(acks) == 0 or len(logs) == 0:
        return np.zeros(0)
    base = int(acks[0, 0])
    ack_of = np.repeat(acks[:, 3], acks[:, 1].astype(np.int64))
    lo = np.maximum(logs[:, 2].astype(np.int64), base)
    hi = np.minimum(logs[:, 3].astype(np.int64), base + len(ack_of) - 1)
    keep = hi >= lo
    lo, hi, t = lo[keep], hi[keep], logs[keep, 1]
    n = hi - lo + 1
    starts = np.cumsum(n) - n
    ids = np.repeat(lo - starts, n) + np.arange(int(n.sum()))
    return (np.repeat(t, n) - ack_of[ids - base]) * 1000.0


class Setup:
    """One dashboard on one fresh pipeline of a shared engine."""

    def __init__(self, eng: EngineProcess, name: str, tmp: Path, dash: DashboardProcess | None = None):
        self.eng, self.name, self.tmp = eng, name, tmp
        self.http = start_pipeline(eng.url, name)
        self.own_dash = dash is None
        self.dash = DashboardProcess(eng.url, settings=DASHBOARD_SETTINGS).start() if dash is None else dash
        (pid,) = self.dash.worker_pids
        self.dash_worker = psutil.Process(pid)
        self.engine_worker = engine_worker(eng)
        self.next_id = 0
        httpx.get(self.dash.url + "/", timeout=30)

    def close(self) -> None:
        if self.own_dash:
            self.dash.stop()
        try:
            self.http.post(f"/pipelines/{self.name}/stop", params={"force": "true"})
        except httpx.HTTPError:
            pass

    def hub(self) -> dict:
        return httpx.get(self.dash.url + "/api/hub", timeout=30).json()

    def egress_streams(self) -> int:
        outs = self.http.get(f"/pipelines/{self.name}/stats").json().get("outputs", [])
        return sum(1 for o in outs if o.get("config", {}).get("stream") == "v")

    def step_latency(self) -> dict:
        return self.http.get(f"/pipelines/{self.name}/stats").json()["global_metrics"]["step_latency_msecs"]

    def run(self, groups: list[ClientProcs], *, rate: float, seconds: float, batch: int = 20,
            pages: bool = False, drain: float = 20.0, watch: ClientProcs | None = None) -> dict:
        """Produce for ``seconds`` while ``groups`` (already READY) watch; ``watch`` is left out of the
        completeness and latency figures (the slow client)."""
        first = self.next_id
        cpu0 = {"engine": cpu_of(self.engine_worker), "dashboard": cpu_of(self.dash_worker)}
        acks_path = self.tmp / f"acks-{self.name}-{first}.npy"
        prod = run_http_gen(["produce", f"{self.eng.url}/v0/pipelines/{self.name}/ingress/t", str(rate), str(batch),
                             str(seconds), str(first), str(acks_path)])
        pg = run_http_gen(["pages", self.dash.url, str(seconds), "/", f"/pipelines/{self.name}"]) if pages else None
        spy = _profile(self.dash_worker.pid, self.name, seconds)
        produced = http_gen_result(prod, seconds + 120)
        page_res = http_gen_result(pg, seconds + 120) if pg else None
        self.next_id = produced["last_id"] + 1
        rows = self.next_id
        t_drain = time.monotonic()
        clients, logs, ws_cpu = [], [], 0.0
        for g in groups:
            c, lg, cpu = g.finish(rows, drain)
            clients += c
            logs.append(lg)
            ws_cpu += cpu
        drain_s = time.monotonic() - t_drain
        if spy is not None:
            spy.wait(60)
        slow = None
        if watch is not None:
            sc, _, scpu = watch.finish(10**12, 0)
            slow = {"frames": sum(c["frames"] for c in sc), "rows": sum(c["rows"] for c in sc),
                    "snapshots": sum(c["snapshots"] for c in sc), "cpu": scpu}
        cpu = {"engine": cpu_of(self.engine_worker) - cpu0["engine"],
               "dashboard": cpu_of(self.dash_worker) - cpu0["dashboard"],
               "ws clients": ws_cpu, "producer": produced["cpu"]}
        if page_res:
            cpu["page loader"] = page_res["cpu"]
        lat = latencies_ms(np.load(acks_path), np.concatenate(logs))
        complete = sum(1 for c in clients if c["rows"] == rows and not c["error"]
                       and (c["gaps"] == 0 or c["snapshots"] > 1))
        res = {
            "clients": len(clients), "changes": produced["changes"], "changes_per_s": produced["changes_per_s"],
            "latency_ms_p50": pct(lat, 0.5), "latency_ms_p99": pct(lat, 0.99), "latency_ms_max": pct(lat, 1.0),
            "latency_samples": int(len(lat)), "expected_samples": produced["changes"] * len(clients),
            "clients_complete": complete, "gaps": sum(c["gaps"] for c in clients),
            "resync_snapshots": sum(c["snapshots"] - 1 for c in clients),
            "errors": [c["error"] for c in clients if c["error"]][:3],
            "frames": sum(c["frames"] for c in clients), "drain_s": drain_s,
            "hub_to_client_ms_p50_p99": [g.hub_to_client_ms for g in groups],
            "ack_ms_p50": produced["ack_ms_p50"], "ack_ms_p99": produced["ack_ms_p99"],
            "engine_step_ms": self.step_latency(), "cpu_s": cpu, "wall_s": seconds,
        }
        if page_res:
            res["pages"] = page_res
        if slow:
            res["slow_client"] = slow
        return res


def part_latency(eng, tmp: Path, smoke: bool, seconds: float, dash=None) -> dict:
    s = Setup(eng, "lat", tmp, dash)
    try:
        g = ClientProcs(s.dash.url, "lat", 3 if smoke else 10, tmp, "lat")
        g.ready()
        r = s.run([g], rate=200 if smoke else 1000, seconds=seconds)
        r["target"] = "p99 <= 50 ms with 10 clients at 1,000 changes/s"
        r["met"] = (r["latency_ms_p99"] or 1e9) <= 50 and r["clients_complete"] == r["clients"]
        return r
    finally:
        s.close()


def part_fanout(eng, tmp: Path, smoke: bool, seconds: float, dash=None) -> dict:
    n = 20 if smoke else 1000
    s = Setup(eng, "fan", tmp, dash)
    try:
        time.sleep(0.5)
        rss0 = s.dash_worker.memory_info().rss
        t0 = time.monotonic()
        g = ClientProcs(s.dash.url, "fan", n, tmp, "fan")
        g.ready()
        connect_s = time.monotonic() - t0
        time.sleep(1.0)
        rss1 = s.dash_worker.memory_info().rss
        hub = s.hub()
        r = s.run([g], rate=200 if smoke else 1000, seconds=seconds, pages=True)
        feed = next(f for f in s.hub()["feeds"] if f["pipeline"] == "fan")
        r.update({
            "connect_s": connect_s, "sessions": hub["sessions"],
            "dashboard_rss_mib_before": rss0 / 2**20, "dashboard_rss_mib_after": rss1 / 2**20,
            "rss_kib_per_client": (rss1 - rss0) / 1024 / n,
            "hub_upstream_opens": feed["upstream_opens"], "hub_resyncs": feed["resyncs"],
            "engine_egress_streams": s.egress_streams(),
            "page_ms_p99": r["pages"]["ms_p99"],
        })
        r["target"] = ("p99 <= 250 ms with 1,000 clients; 1 upstream egress; every client complete; "
                       "<= 50 KiB RSS per client; page p99 <= 100 ms")
        r["met"] = {"latency": (r["latency_ms_p99"] or 1e9) <= 250,
                    "one_egress": r["hub_upstream_opens"] == 1 and r["engine_egress_streams"] == 1,
                    "complete": r["clients_complete"] == r["clients"],
                    "rss": r["rss_kib_per_client"] <= 50, "pages": (r["page_ms_p99"] or 1e9) <= 100}
        return r
    finally:
        s.close()


def part_isolation(eng, tmp: Path, smoke: bool, seconds: float, dash=None) -> dict:
    n = 3 if smoke else 20
    rate = 200 if smoke else 1000
    s = Setup(eng, "iso", tmp, dash)
    try:
        g = ClientProcs(s.dash.url, "iso", n, tmp, "iso-a")
        g.ready()
        base = s.run([g], rate=rate, seconds=seconds)
        g2 = ClientProcs(s.dash.url, "iso", n, tmp, "iso-b")
        slow = ClientProcs(s.dash.url, "iso", 1, tmp, "iso-slow", slow=True)
        g2.ready()
        slow.ready()
        withslow = s.run([g2], rate=rate, seconds=seconds, watch=slow)
        feed = next(f for f in s.hub()["feeds"] if f["pipeline"] == "iso")
        p0, p1 = base["latency_ms_p99"] or 0, withslow["latency_ms_p99"] or 0
        a0, a1 = base["ack_ms_p99"] or 0, withslow["ack_ms_p99"] or 0
        r = {"baseline": base, "with_slow_client": withslow,
             "p99_increase": (p1 / p0 - 1) if p0 else None,
             "ack_p99_increase": (a1 / a0 - 1) if a0 else None,
             "hub_resyncs": feed["resyncs"], "hub_dropped_chunks": feed["dropped_chunks"],
             "target": "others' p99 +20% at most; the pipeline never waits (ack/step latency, no upstream drops)"}
        r["met"] = r["p99_increase"] is not None and r["p99_increase"] <= 0.2 and feed["dropped_chunks"] == 0
        return r
    finally:
        s.close()


PARTS = {"latency": part_latency, "fanout": part_fanout, "isolation": part_isolation}


def run(parts=tuple(PARTS), smoke: bool = False, seconds: float = 5.0, engine: EngineProcess | None = None,
        dashboard: DashboardProcess | None = None) -> dict:
    """Run ``parts``; each on a fresh pipeline of ``engine`` (else one of its own) and a fresh dashboard
    (``dashboard``: share that one instead, which only a smoke run should do)."""
    raise_fd_limit()
    seconds = 0.5 if smoke else seconds
    out = {}
    with tempfile.TemporaryDirectory(prefix="sluice-bench-live-") as tmp:
        own = engine is None
        eng = EngineProcess(None, "--keepalive", "3").start() if own else engine
        try:
            for p in parts:
                out[p] = PARTS[p](eng, Path(tmp), smoke, seconds, dashboard)
        finally:
            if own:
                eng.stop()
    return out


def print_table(res: dict) -> None:
    print(f"\n{'part':<22}{'clients':>8}{'chg/s':>8}{'p50 ms':>9}{'p99 ms':>9}{'complete':>10}{'ack p99':>9}"
          f"{'step p99':>9}  cpu s (engine/dash/ws/producer)")
    rows = []
    for name in ("latency", "fanout"):
        if name in res:
            rows.append((name, res[name]))
    if "isolation" in res:
        rows += [("isolation: baseline", res["isolation"]["baseline"]),
                 ("isolation: +slow", res["isolation"]["with_slow_client"])]
    for name, r in rows:
        c = r["cpu_s"]
        print(f"{name:<22}{r['clients']:>8}{r['changes_per_s']:>8.0f}{r['latency_ms_p50']:>9.1f}"
              f"{r['latency_ms_p99']:>9.1f}{r['clients_complete']:>6}/{r['clients']:<4}{r['ack_ms_p99']:>8.1f}"
              f"{r['engine_step_ms']['p99']:>9.1f}  {c['engine']:.1f}/{c['dashboard']:.1f}/{c['ws clients']:.1f}/"
              f"{c['producer']:.1f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--parts", default=",".join(PARTS))
    ap.add_argument("--json")
    a = ap.parse_args()
    res = run(a.parts.split(","), a.smoke, a.seconds)
    print_table(res)
    print(json.dumps(res, indent=1, default=str)[:6000])
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
