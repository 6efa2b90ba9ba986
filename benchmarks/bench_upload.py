"""File upload throughput: straight to the engine's ingress against through the dashboard, in one run.

    python benchmarks/bench_upload.py                 # a 200 MB CSV
    python benchmarks/bench_upload.py --gb 1          # the 1 GB case
    python benchmarks/bench_upload.py --smoke         # a 4 MB file, a few seconds
    python benchmarks/bench_upload.py --mb 500 --format ndjson --part-mb 16 --rounds 2 --json out.json

One file is generated on disk and cut into parts at record boundaries (``--part-mb``, 8 by default, the
upload page's part size). Each path posts the same parts one after another, as the browser does, each
body streamed from the file in 1 MiB reads with its Content-Length:

- direct: ``POST /v0/pipelines/<p>/ingress/t`` on the engine;
- dashboard: ``POST /api/pipelines/<p>/tables/t/upload`` on a real dashboard under gunicorn (one gevent
  worker), which streams each part on to the same ingress.

Each path fills a pipeline of its own, and the two go part by part in turn (the first alternates), so a
change in the machine's load during the run (other processes share its cores) falls on both alike. A
path's time is the sum of its requests plus the wait from its last answer to its last token reported
complete, so records are counted once processed (write-ahead log on, as by default); both tables'
``COUNT(*)`` are checked. The resident memory of the dashboard's processes (master and worker) is
sampled every 20 ms over the round: start, peak and end. CPU seconds of engine and dashboard are printed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from webapp.dashboard.testing import DashboardProcess  # noqa: E402
from webapp.engine.testing import EngineProcess  # noqa: E402

SQL = ("CREATE TABLE t (id BIGINT NOT NULL, user_id INT, kind VARCHAR, amount DOUBLE, note VARCHAR) "
       "WITH ('materialized' = 'true');\n")
READ = 1 << 20


def make_file(path: Path, size: int, fmt: str) -> int:
    """Writes about ``size`` bytes of records; returns the record count."""
    n = 0
    with path.open("wb") as f:
        written = 0
        while written < size:
            block = []
            for i in range(n, n + 10_000):
                if fmt == "csv":
                    block.append(b"%d,%d,k%d,%d.25,some text for row %d\n" % (i, i % 1000, i % 10, i % 500, i))
                else:
                    block.append(b'{"id":%d,"user_id":%d,"kind":"k%d","amount":%d.25,"note":"some text for row %d"}\n'
                                 % (i, i % 1000, i % 10, i % 500, i))
            data = b"".join(block)
            f.write(data)
            written += len(data)
            n += 10_000
    return n


def cut(path: Path, part_bytes: int) -> list[tuple[int, int, int, int]]:
    """(start, end, first_row, records) of parts cut after a newline (these records have no quotes)."""
    parts, start, row = [], 0, 1
    size = path.stat().st_size
    with path.open("rb") as f:
        while start < size:
            end = min(size, start + part_bytes)
            if end < size:
                f.seek(end)
                tail = f.read(1 << 16)
                end += tail.index(b"\n") + 1
            f.seek(start)
            records = sum(f.read(min(READ, end - p)).count(b"\n") for p in range(start, end, READ))
            parts.append((start, end, row, records))
            start, row = end, row + records
    return parts


def body(path: Path, start: int, end: int):
    with path.open("rb") as f:
        f.seek(start)
        left = end - start
        while left:
            chunk = f.read(min(READ, left))
            left -= len(chunk)
            yield chunk


class RssSampler(threading.Thread):
    def __init__(self, pids: list[int]):
        super().__init__(daemon=True)
        self.procs = [psutil.Process(p) for p in pids]
        self.start_rss = self.rss()
        self.peak = self.start_rss
        self.running = True

    def rss(self) -> int:
        return sum(p.memory_info().rss for p in self.procs)

    def run(self):
        while self.running:
            self.peak = max(self.peak, self.rss())
            time.sleep(0.02)


def tree(pid: int) -> list[int]:
    """A process and its children (gunicorn's master and its worker)."""
    p = psutil.Process(pid)
    return [pid, *(c.pid for c in p.children(recursive=True))]


def cpu(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        t = psutil.Process(pid).cpu_times()
        total += t.user + t.system
    return total


def new_pipeline(engine: httpx.Client) -> str:
    name = f"up{uuid.uuid4().hex[:8]}"
    r = engine.put(f"/pipelines/{name}", json={"name": name, "program_code": SQL})
    r.raise_for_status()
    engine.post(f"/pipelines/{name}/start").raise_for_status()
    while engine.get(f"/pipelines/{name}", params={"selector": "status"}).json()["deployment_status"] != "Running":
        time.sleep(0.05)
    return name


def drop_pipeline(engine: httpx.Client, name: str) -> None:
    engine.post(f"/pipelines/{name}/stop", params={"force": "true"})
    while engine.get(f"/pipelines/{name}", params={"selector": "status"}).json()["deployment_status"] != "Stopped":
        time.sleep(0.1)
    engine.post(f"/pipelines/{name}/clear")  # Feldera deletes only a pipeline whose storage is cleared
    engine.delete(f"/pipelines/{name}")


def post(kind: str, engine: httpx.Client, dash: httpx.Client, name: str, path: Path, part, k: int,
         params: dict) -> str:
    start, end, row, _ = part
    headers = {"Content-Length": str(end - start)}
    if kind == "direct":
        r = engine.post(f"/pipelines/{name}/ingress/t", params=params, content=body(path, start, end), headers=headers)
    else:
        r = dash.post(f"/api/pipelines/{name}/tables/t/upload", content=body(path, start, end), headers=headers,
                      params=params | {"part": k, "first_row": row, "first_line": row})
    if r.status_code != 200 or (kind == "dashboard" and r.json()["num_errors"]):
        raise SystemExit(f"{kind} part {k}: {r.status_code} {r.text[:500]}")
    return r.json()["token"]


def run_round(engine: httpx.Client, dash: httpx.Client, path: Path, parts, fmt: str) -> dict[str, dict]:
    """Both paths, part by part in turn (which goes first alternates), each into a pipeline of its own.
    A path's time is the sum of its requests plus the wait from its last answer to its token complete."""
    params = {"format": "csv"} if fmt == "csv" else {"format": "json", "update_format": "raw"}
    kinds = ("direct", "dashboard")
    names = {k: new_pipeline(engine) for k in kinds}
    secs, lat, token = dict.fromkeys(kinds, 0.0), {k: [] for k in kinds}, {}
    for k, part in enumerate(parts):
        for kind in (kinds if k % 2 == 0 else kinds[::-1]):
            t = time.perf_counter()
            token[kind] = post(kind, engine, dash, names[kind], path, part, k, params)
            lat[kind].append(time.perf_counter() - t)
            secs[kind] += lat[kind][-1]
    t0, waiting = time.perf_counter(), set(kinds)
    while waiting:
        for kind in list(waiting):
            st = engine.get(f"/pipelines/{names[kind]}/completion_status", params={"token": token[kind]}).json()
            if st["status"] == "complete":
                secs[kind] += time.perf_counter() - t0
                waiting.discard(kind)
        time.sleep(0.005)
    out = {}
    for kind in kinds:
        q = engine.get(f"/pipelines/{names[kind]}/query", params={"sql": "SELECT COUNT(*) AS c FROM t", "format": "json"})
        out[kind] = {"path": kind, "seconds": secs[kind], "part_median_ms": 1000 * statistics.median(lat[kind]),
                     "count": json.loads(q.text.splitlines()[0])["c"]}
        drop_pipeline(engine, names[kind])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mb", type=float, default=200, help="file size in MB (default 200)")
    ap.add_argument("--gb", type=float, help="file size in GB (overrides --mb)")
    ap.add_argument("--smoke", action="store_true", help="a 4 MB file: checks the benchmark runs")
    ap.add_argument("--format", choices=("csv", "ndjson"), default="csv")
    ap.add_argument("--part-mb", type=float, default=8, help="part size in MiB (default 8, as the upload page)")
    ap.add_argument("--rounds", type=int, default=1, help="the whole file through both paths this many times")
    ap.add_argument("--json", help="also write the results to this file")
    args = ap.parse_args()
    size = int(4e6 if args.smoke else (args.gb * 1e9 if args.gb else args.mb * 1e6))
    part_bytes = int(args.part_mb * (1 << 20)) if not args.smoke else 1 << 20

    with tempfile.TemporaryDirectory(prefix="sluice-bench-upload-") as tmp:
        path = Path(tmp) / f"data.{args.format}"
        t = time.perf_counter()
        records = make_file(path, size, args.format)
        parts = cut(path, part_bytes)
        nbytes = path.stat().st_size
        print(f"file: {nbytes / 1e6:,.1f} MB, {records:,} records, {len(parts)} parts of about "
              f"{part_bytes / (1 << 20):.0f} MiB (made in {time.perf_counter() - t:.1f} s)", flush=True)
        with EngineProcess(Path(tmp) / "engine") as eng, \
                DashboardProcess(eng.url, settings={"DEMO_PIPELINE": ""}) as dproc, \
                httpx.Client(base_url=eng.url + "/v0", timeout=600) as engine, \
                httpx.Client(base_url=dproc.url, timeout=600) as dash:
            dash.get("/")
            dash.headers["X-CSRF-Token"] = dash.cookies["sluice_csrf"]
            dash_pids, eng_pids = tree(dproc.proc.pid), tree(eng.proc.pid)
            warm = new_pipeline(engine)  # the dashboard's first upload (imports, connections) is not timed
            dash.post(f"/api/pipelines/{warm}/tables/t/upload", params={"format": "csv", "first_row": 1},
                      content=b"1,1,k,1.5,x\n").raise_for_status()
            drop_pipeline(engine, warm)
            rounds = []
            for n in range(args.rounds):
                sampler = RssSampler(dash_pids)
                sampler.start()
                c0 = (cpu(eng_pids), cpu(dash_pids))
                res = run_round(engine, dash, path, parts, args.format)
                sampler.running = False
                sampler.join()
                for r in res.values():
                    if r["count"] != records:
                        raise SystemExit(f"{r['path']}: the table holds {r['count']:,} rows, not {records:,}")
                rounds.append({"results": res, "engine_cpu": cpu(eng_pids) - c0[0],
                               "dashboard_cpu": cpu(dash_pids) - c0[1], "rss_start": sampler.start_rss,
                               "rss_peak": sampler.peak, "rss_end": sampler.rss()})
                print(f"  round {n + 1}: direct {res['direct']['seconds']:.2f} s, dashboard "
                      f"{res['dashboard']['seconds']:.2f} s", flush=True)

    print()
    print("| round | path | MB | records | seconds | MB/s | records/s | part median ms |")
    print("|---|---|---|---|---|---|---|---|")
    for n, rd in enumerate(rounds, 1):
        for r in rd["results"].values():
            print(f"| {n} | {r['path']} | {nbytes / 1e6:,.0f} | {records:,} | {r['seconds']:.2f} | "
                  f"{nbytes / 1e6 / r['seconds']:.1f} | {records / r['seconds']:,.0f} | {r['part_median_ms']:.0f} |")
    print()
    for n, rd in enumerate(rounds, 1):
        ratio = rd["results"]["direct"]["seconds"] / rd["results"]["dashboard"]["seconds"]
        rd["ratio"] = ratio
        print(f"round {n}: throughput dashboard / direct {ratio:.3f} (target ≥ 0.9); CPU s engine "
              f"{rd['engine_cpu']:.1f}, dashboard {rd['dashboard_cpu']:.1f}; dashboard RSS start / peak / end "
              f"{rd['rss_start'] / 1e6:.1f} / {rd['rss_peak'] / 1e6:.1f} / {rd['rss_end'] / 1e6:.1f} MB")
    if args.json:
        flat = [r | {"round": n} for n, rd in enumerate(rounds, 1) for r in rd["results"].values()]
        Path(args.json).write_text(json.dumps({"bytes": nbytes, "records": records, "parts": len(parts),
                                               "results": flat, "rounds": rounds}, indent=2))


if __name__ == "__main__":
    main()
