"""WebSocket clients of the dashboard, many per process (asyncio + ``websockets``): a load generator for
``bench_live.py``, run as a process of its own.

    python benchmarks/loadgen_ws.py URL PIPELINE VIEW CLIENTS OUT.npy [--slow] [--no-deflate]

Each client opens ``/ws``, subscribes to the view and follows the frames the way a browser does: a
``snapshot`` replaces its rows, ``changes`` must continue the cursor (``steps[0].seq == cursor + 1``,
else it counts a gap), a snapshot with reason ``resync``/``behind`` is the proof of a resynchronisation.
The view must only ever gain rows, each with an ascending integer ``id`` (``bench_live.py``'s workload):
a client counts rows from the step marks and takes the ids of each step from the first client of its
process that got it, so that the generator's CPU goes to receiving rather than parsing.
The process prints ``READY`` once every client holds its first snapshot, then reads commands on stdin:
``WAIT rows seconds`` waits until every client holds ``rows`` rows (or the time is up), writes the
arrival of each change (time, lowest and highest new id; rows carry ascending ids) to OUT.npy, prints
one JSON line of per-client results and its own CPU time, and exits.
``--slow``: the clients read one frame a second (the isolation test's slow browser). The clients offer
permessage-deflate, as browsers do (``--no-deflate``: they do not).
"""

from __future__ import annotations

import asyncio
import resource
import sys
import time

import numpy as np
import orjson
from websockets.asyncio.client import connect



class Client:
    __slots__ = ("i", "rows", "epoch", "seq", "gaps", "snapshots", "reasons", "frames", "bytes", "log",
                 "ready", "error", "hub_ms")

    def __init__(self, i: int):
        self.i = i
        self.rows = 0
        self.epoch = None
        self.seq = 0
        self.gaps = 0
        self.snapshots = 0
        self.reasons: dict[str, int] = {}
        self.frames = 0
        self.bytes = 0
        self.log: list[tuple] = []
        self.ready = asyncio.Event()
        self.error = None
        self.hub_ms: list[float] = []

    def take(self, msg, t: float) -> None:
        self.frames += 1
        self.bytes += len(msg)
        # No bound on the search: a frame that carries hundreds of steps (a client far behind) has a head
        # longer than any fixed prefix, and such a frame must not be taken for another kind and dropped.
        cut = msg.find(',"changes":[') if msg.startswith('{"op":"changes"') else -1
        if cut > 0:
            # The generator shares two cores with what it measures, so a client reads only the frame's head
            # (cursor and step marks); the first client in this process to get a step reads its ids.
            f = orjson.loads(msg[:cut] + "}")
            steps = f["steps"]
            epoch = f["cursor"]["epoch"]
            if epoch != self.epoch or steps[0]["seq"] != self.seq + 1:
                self.gaps += 1
            self.seq = f["cursor"]["seq"]
            self.hub_ms.append(time.time() * 1000 - steps[0]["t"])  # the hub's receipt of a step -> here
            self.rows += sum(st["n"] for st in steps)  # inserts only (see the module docstring)
            if (epoch, steps[-1]["seq"]) not in STEP_IDS or (epoch, steps[0]["seq"]) not in STEP_IDS:
                _learn(epoch, steps, orjson.loads(msg)["changes"])
            self.log.append((t, epoch, steps[0]["seq"], steps[-1]["seq"]))
            return
        f = orjson.loads(msg)
        if f["op"] == "snapshot":
            self.snapshots += 1
            self.reasons[f["reason"]] = self.reasons.get(f["reason"], 0) + 1
            self.epoch, self.seq = f["cursor"]["epoch"], f["cursor"]["seq"]
            self.rows = len(f["rows"])
            ids = [r["id"] for r in f["rows"]]
            if ids:
                self.log.append((t, min(ids), max(ids)))
            self.ready.set()

    def arrivals(self) -> list[tuple]:
        """(client, time, lowest id, highest id) of each change's first arrival (a resync resends rows)."""
        out = []
        seen = -1
        for e in self.log:
            if len(e) == 3:
                t, lo, hi = e
            else:
                t, epoch, s0, s1 = e
                spans = [STEP_IDS.get((epoch, q)) for q in range(s0, s1 + 1)]
                spans = [x for x in spans if x]
                if not spans:
                    continue
                lo, hi = min(x[0] for x in spans), max(x[1] for x in spans)
            if hi > seen:
                out.append((self.i, t, max(lo, seen + 1), hi))
                seen = hi
        return out


STEP_IDS: dict[tuple, tuple[int, int]] = {}  # (epoch, seq) -> (lowest, highest) inserted id of that step


def _learn(epoch: str, steps: list, changes: list) -> None:
    k = 0
    for st in steps:
        ids = [ch["insert"]["id"] for ch in changes[k:k + st["n"]] if "insert" in ch]
        k += st["n"]
        if ids:
            STEP_IDS[(epoch, st["seq"])] = (min(ids), max(ids))


async def follow(c: Client, url: str, sub: bytes, slow: bool, gate: asyncio.Semaphore, deflate: bool) -> None:
    try:
        async with gate:
            ws = await connect(url, max_size=None, max_queue=1 if slow else 64,
                               compression="deflate" if deflate else None, open_timeout=120, ping_interval=None,
                               close_timeout=1)
            await ws.send(sub.decode())
        async with ws:
            async for msg in ws:
                c.take(msg, time.monotonic())
                if slow:
                    await asyncio.sleep(1.0)
    except Exception as e:  # a lost client is a result, not a crash of the generator
        c.error = f"{type(e).__name__}: {e}"
        c.ready.set()


async def main_async(url: str, pipeline: str, view: str, n: int, out: str, slow: bool, deflate: bool) -> None:
    ws_url = url.replace("http://", "ws://") + "/ws"
    sub = orjson.dumps({"op": "subscribe", "id": f"{pipeline}/{view}", "pipeline": pipeline, "view": view})
    clients = [Client(i) for i in range(n)]
    gate = asyncio.Semaphore(64)  # connect a few dozen at a time: the listen backlog is finite
    tasks = [asyncio.create_task(follow(c, ws_url, sub, slow, gate, deflate)) for c in clients]
    await asyncio.gather(*(c.ready.wait() for c in clients))
    ru = resource.getrusage(resource.RUSAGE_SELF)
    cpu_ready = ru.ru_utime + ru.ru_stime
    print("READY", flush=True)
    loop = asyncio.get_running_loop()
    line = await loop.run_in_executor(None, sys.stdin.readline)
    _, rows, secs = line.split()
    rows, deadline = int(rows), time.monotonic() + float(secs)
    while time.monotonic() < deadline and not all(c.rows >= rows or c.error for c in clients):
        await asyncio.sleep(0.02)
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    log = [a for c in clients for a in c.arrivals()]
    np.save(out, np.array(log, dtype=np.float64).reshape(-1, 4))
    ru = resource.getrusage(resource.RUSAGE_SELF)
    hub_ms = np.array([x for c in clients for x in c.hub_ms])
    print(orjson.dumps({
        "hub_to_client_ms": [float(np.percentile(hub_ms, q)) if len(hub_ms) else None for q in (50, 99)],
        "cpu": ru.ru_utime + ru.ru_stime - cpu_ready, "cpu_connect": cpu_ready, "max_rss_kib": ru.ru_maxrss,
        "clients": [{"rows": c.rows, "seq": c.seq, "epoch": c.epoch, "gaps": c.gaps, "snapshots": c.snapshots,
                     "reasons": c.reasons, "frames": c.frames, "bytes": c.bytes, "error": c.error} for c in clients],
    }).decode(), flush=True)


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    url, pipeline, view, n, out = args[0], args[1], args[2], int(args[3]), args[4]
    asyncio.run(main_async(url, pipeline, view, n, out, "--slow" in sys.argv, "--no-deflate" not in sys.argv))


if __name__ == "__main__":
    main()
