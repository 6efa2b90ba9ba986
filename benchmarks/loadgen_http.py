"""HTTP load generators for ``bench_live.py`` and ``bench_render.py``, each run as a process of its own.

    python benchmarks/loadgen_http.py produce INGRESS_URL RATE BATCH SECONDS FIRST_ID OUT.npy
        POSTs BATCH new rows (ids FIRST_ID, FIRST_ID+1, ...) every BATCH/RATE seconds on one connection,
        on a fixed schedule (a late POST does not push the next ones back), and saves for each POST
        (first id, count, time sent, time acknowledged) in CLOCK_MONOTONIC seconds, which every process
        on the machine shares. Prints a JSON summary (acknowledgement latency, rate reached, CPU).
    python benchmarks/loadgen_http.py upsert INGRESS_URL RATE BATCH SECONDS KEYS
        Upserts random keys of 0..KEYS-1 (a delete and an insert each: 2 changes) at RATE changes/s.
    python benchmarks/loadgen_http.py pages BASE_URL SECONDS PATH [PATH ...]
        GETs the paths in turn, one at a time, every 20 ms; prints the latency percentiles.
"""

from __future__ import annotations

import random
import resource
import sys
import time

import httpx
import numpy as np
import orjson


def _cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def _pct(xs: list[float], q: float) -> float | None:
    if not xs:
        return None
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def _ticks(interval: float, seconds: float):
    """Yields every ``interval`` seconds (on a fixed schedule, not drifting) for ``seconds``."""
    t0 = time.monotonic()
    k = 0
    while True:
        due = t0 + k * interval
        if due >= t0 + seconds:
            return
        now = time.monotonic()
        if due > now:
            time.sleep(due - now)
        yield k
        k += 1


def produce(url: str, rate: float, batch: int, seconds: float, first: int, out: str) -> dict:
    params = {"format": "json", "update_format": "raw"}
    interval = batch / rate
    log = []
    nid = first
    with httpx.Client(timeout=60) as c:
        t0 = time.monotonic()
        for _ in _ticks(interval, seconds):
            body = b"\n".join(orjson.dumps({"id": i, "n": i % 100, "s": "row %d" % i}) for i in range(nid, nid + batch))
            sent = time.monotonic()
            r = c.post(url, params=params, content=body)
            r.raise_for_status()
            log.append((nid, batch, sent, time.monotonic()))
            nid += batch
        el = time.monotonic() - t0
    a = np.array(log, dtype=np.float64).reshape(-1, 4)
    np.save(out, a)
    acks = ((a[:, 3] - a[:, 2]) * 1000).tolist()
    return {"posts": len(log), "changes": nid - first, "last_id": nid - 1, "seconds": el,
            "changes_per_s": (nid - first) / el, "ack_ms_p50": _pct(acks, 0.5), "ack_ms_p99": _pct(acks, 0.99),
            "cpu": _cpu()}


def upsert(url: str, rate: float, batch: int, seconds: float, keys: int) -> dict:
    """Each record is an upsert of a primary key: the view sees a delete and an insert (2 changes)."""
    params = {"format": "json", "update_format": "raw"}
    rnd = random.Random(2)
    per_post = max(1, batch // 2)
    interval = per_post * 2 / rate
    posted = 0
    with httpx.Client(timeout=60) as c:
        t0 = time.monotonic()
        for _ in _ticks(interval, seconds):
            body = b"\n".join(orjson.dumps({"id": (i := rnd.randrange(keys)), "name": f"name {i}",
                                            "n": rnd.randint(0, 1000), "amount": f"{rnd.random() * 500:.2f}"})
                              for _ in range(per_post))
            c.post(url, params=params, content=body).raise_for_status()
            posted += per_post
        el = time.monotonic() - t0
    return {"upserts": posted, "changes_per_s": posted * 2 / el, "seconds": el, "cpu": _cpu()}


def pages(base: str, seconds: float, paths: list[str]) -> dict:
    lat = []
    errors = 0
    with httpx.Client(base_url=base, timeout=30) as c:
        stop = time.monotonic() + seconds
        k = 0
        while time.monotonic() < stop:
            t = time.monotonic()
            r = c.get(paths[k % len(paths)])
            lat.append((time.monotonic() - t) * 1000)
            errors += r.status_code != 200
            k += 1
            time.sleep(max(0.0, 0.02 - (time.monotonic() - t)))
    return {"requests": len(lat), "errors": errors, "ms_p50": _pct(lat, 0.5), "ms_p99": _pct(lat, 0.99),
            "ms_max": max(lat) if lat else None, "cpu": _cpu()}


def main() -> None:
    mode, a = sys.argv[1], sys.argv[2:]
    if mode == "produce":
        out = produce(a[0], float(a[1]), int(a[2]), float(a[3]), int(a[4]), a[5])
    elif mode == "upsert":
        out = upsert(a[0], float(a[1]), int(a[2]), float(a[3]), int(a[4]))
    elif mode == "pages":
        out = pages(a[0], float(a[1]), a[2:])
    else:
        raise SystemExit(f"unknown mode {mode!r}")
    print(orjson.dumps(out).decode(), flush=True)


if __name__ == "__main__":
    main()
