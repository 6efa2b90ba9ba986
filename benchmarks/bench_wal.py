"""Write-ahead log cost and recovery time, side by side in one run.

    python benchmarks/bench_wal.py [--seconds 8] [--recovery-records 1000000] [--json out.json]

1. Ingest records/s for 8 concurrent writers posting 1,000 records per request, to two pipelines of one
   engine that differ only in ``fault_tolerance.model`` (``exactly_once`` = logged, ``none``), counted to
   completion; plus the fsync p50 of this disk. The writers run in a process of their own.
2. Recovery: log N records, SIGKILL the engine, restart it, and time until the pipeline answers queries
   with every record (checkpoint never written, so the whole log is replayed), views included.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from webapp.engine.testing import EngineProcess  # noqa: E402

SQL = """
CREATE TABLE t (id BIGINT NOT NULL, k INT, v DOUBLE, s VARCHAR);
CREATE MATERIALIZED VIEW agg AS SELECT k, COUNT(*) AS n, SUM(v) AS total FROM t GROUP BY k;
"""

WRITER = r"""
import sys, threading, time, httpx, orjson
url, pipeline, seconds, writers, per_req = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
stop = time.monotonic() + seconds
counts = [0] * writers
last = [None] * writers
def run(w):
    with httpx.Client(timeout=60) as c:
        n = 0
        while time.monotonic() < stop:
            body = b"\n".join(orjson.dumps({"id": w * 10**9 + n + i, "k": (n + i) % 100, "v": 1.5, "s": "payload-%d" % i}) for i in range(per_req))
            r = c.post(f"{url}/v0/pipelines/{pipeline}/ingress/t", params={"format": "json", "update_format": "raw"}, content=body)
            r.raise_for_status()
            last[w] = r.json()["token"]
            n += per_req
        counts[w] = n
ts = [threading.Thread(target=run, args=(w,)) for w in range(writers)]
t0 = time.monotonic()
[t.start() for t in ts]; [t.join() for t in ts]
with httpx.Client(timeout=60) as c:
    for tok in last:
        while tok and c.get(f"{url}/v0/pipelines/{pipeline}/completion_status", params={"token": tok}).json()["status"] != "complete":
            time.sleep(0.005)
el = time.monotonic() - t0
print(orjson.dumps({"records": sum(counts), "seconds": el}).decode())
"""


def make(url: str, name: str, model: str) -> None:
    c = httpx.Client(base_url=url + "/v0", timeout=60)
    r = c.put(f"/pipelines/{name}", json={"program_code": SQL, "runtime_config": {"fault_tolerance": {"model": model}}})
    r.raise_for_status()
    c.post(f"/pipelines/{name}/start").raise_for_status()
    while c.get(f"/pipelines/{name}?selector=status").json()["deployment_status"] != "Running":
        time.sleep(0.05)


def fsync_p50(dirpath: Path, n: int = 200) -> float:
    path = dirpath / "fsync.probe"
    times = []
    with open(path, "ab") as f:
        for i in range(n):
            f.write(b"x" * 512)
            f.flush()
            t0 = time.perf_counter()
            os.fsync(f.fileno())
            times.append(time.perf_counter() - t0)
    path.unlink()
    times.sort()
    return times[len(times) // 2]


def ingest_rate(url: str, pipeline: str, seconds: float, writers: int, per_req: int) -> dict:
    out = subprocess.run([sys.executable, "-c", WRITER, url, pipeline, str(seconds), str(writers), str(per_req)],
                         capture_output=True, text=True, check=True)
    d = json.loads(out.stdout.strip().splitlines()[-1])
    d["records_per_s"] = d["records"] / d["seconds"]
    return d


def recovery(tmp: Path, records: int) -> dict:
    data = tmp / "recovery"
    eng = EngineProcess(data).start()
    make(eng.url, "r", "exactly_once")
    per_req = 10_000
    body_tpl = [None]
    t0 = time.monotonic()
    with httpx.Client(timeout=120) as c:
        for start in range(0, records, per_req):
            import orjson
            body = b"\n".join(orjson.dumps({"id": start + i, "k": i % 100, "v": 0.5, "s": "x"}) for i in range(per_req))
            c.post(f"{eng.url}/v0/pipelines/r/ingress/t", params={"format": "json", "update_format": "raw"},
                   content=body).raise_for_status()
    load_s = time.monotonic() - t0
    eng.kill()
    log_bytes = sum(p.stat().st_size for p in (data / "wal").glob("*.wal"))
    t0 = time.monotonic()
    eng = EngineProcess(data, ready_timeout=300).start()
    give_up = time.monotonic() + 600
    while time.monotonic() < give_up:
        try:
            r = httpx.get(f"{eng.url}/v0/pipelines/r/query", params={"sql": "SELECT SUM(n) AS n FROM agg", "format": "json"})
            if r.status_code == 200 and int(json.loads(r.text)["n"]) == records:
                break
        except Exception:
            pass
        time.sleep(0.02)
    rec_s = time.monotonic() - t0
    line = next((l for l in eng.log.splitlines() if "recovered" in l), "")
    eng.stop()
    del body_tpl
    return {"records": records, "load_seconds": load_s, "log_mib": log_bytes / 2**20, "recovery_seconds": rec_s,
            "engine_says": line.split("sluice.engine: ")[-1]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=8)
    ap.add_argument("--writers", type=int, default=8)
    ap.add_argument("--per-request", type=int, default=1000)
    ap.add_argument("--recovery-records", type=int, default=1_000_000)
    ap.add_argument("--json", help="also write the results here")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="sluice-bench-", dir=os.environ.get("SLUICE_BENCH_DIR")) as tmp:
        tmp = Path(tmp)
        res: dict = {"fsync_p50_ms": fsync_p50(tmp) * 1000}
        with EngineProcess(tmp / "ingest") as eng:
            make(eng.url, "logged", "exactly_once")
            make(eng.url, "unlogged", "none")
            # alternate to spread machine noise over both
            runs = {"logged": [], "unlogged": []}
            for name in ["unlogged", "logged", "unlogged", "logged"]:
                runs[name].append(ingest_rate(eng.url, name, a.seconds / 2, a.writers, a.per_request)["records_per_s"])
            res["ingest_logged_rps"] = sum(runs["logged"]) / 2
            res["ingest_unlogged_rps"] = sum(runs["unlogged"]) / 2
            res["log_cost"] = 1 - res["ingest_logged_rps"] / res["ingest_unlogged_rps"]
        if a.recovery_records:
            res["recovery"] = recovery(tmp, a.recovery_records)
    print()
    print(f"{'measure':<44}{'value':>14}")
    print("-" * 58)
    print(f"{'fsync p50 of this disk (ms)':<44}{res['fsync_p50_ms']:>14.3f}")
    print(f"{'ingest, log off (records/s)':<44}{res['ingest_unlogged_rps']:>14,.0f}")
    print(f"{'ingest, log on  (records/s)':<44}{res['ingest_logged_rps']:>14,.0f}")
    print(f"{'cost of the log (target <= 20%)':<44}{res['log_cost'] * 100:>13.1f}%")
    if "recovery" in res:
        r = res["recovery"]
        print(f"{'recovery of %d records (s, target < 5)' % r['records']:<44}{r['recovery_seconds']:>14.2f}")
        print(f"{'  log size (MiB)':<44}{r['log_mib']:>14.1f}")
        print(f"  {r['engine_says']}")
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
