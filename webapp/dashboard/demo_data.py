"""The demo generator: moving data for the demo pipeline, so a newcomer sees rows change at once.

At ``DEMO_RATE`` changes per second it places an order (most of the time), changes the amount of a
recent one (an upsert by primary key: one updated row in the views), or deletes the oldest one once
more than ``KEEP`` are live, through the client's ``input_json`` like any other producer. It only
pushes while the pipeline is running, and is switched on and off from the pipeline page
(``POST /api/demo``) or by ``sluice up --no-demo-data``.

Its orders have ids above ``FIRST_ID`` and it changes and deletes only those: rows a user entered
(through the forms, an upload or HTTP ingress) with lower ids are never touched, also after a
restart, when it finds its own orders again by their ids.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import deque
from datetime import datetime

from webapp.client import SluiceError

from .upstream import Upstream

log = logging.getLogger("sluice.dashboard.demo")

KEEP = 60  # live orders of the generator's own; older ones are deleted
FIRST_ID = 1_000_000  # the generator's orders are numbered above this; lower ids are the user's


class DemoGenerator:
    def __init__(self, upstream: Upstream, pipeline: str, rate: float, enabled: bool):
        self.upstream = upstream
        self.pipeline = pipeline
        self.rate = max(0.1, float(rate))
        self._enabled = threading.Event()
        if enabled:
            self._enabled.set()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._live: deque[int] = deque()
        self._next_id: int | None = None
        self.pushed = 0
        self.parked = not enabled  # switched off and done: nothing more will be pushed until it is on again
        self.last_error: str | None = None
        self._rng = random.Random()

    @property
    def enabled(self) -> bool:
        return self._enabled.is_set()

    def set_enabled(self, on: bool) -> None:
        if on:
            self._enabled.set()
            self.ensure_started()
        else:
            self._enabled.clear()

    def ensure_started(self) -> None:
        """Start the thread (lazily, so it runs in the serving process, after any fork)."""
        with self._lock:
            if self._thread is None and self._enabled.is_set():
                self._thread = threading.Thread(target=self._run, daemon=True, name="demo-generator")
                self._thread.start()

    def state(self) -> dict:
        return {"enabled": self.enabled, "pipeline": self.pipeline, "rate": self.rate, "pushed": self.pushed,
                "parked": self.parked, "error": self.last_error}

    def _run(self) -> None:
        while True:
            if not self._enabled.is_set():
                self.parked = True  # every push so far was answered: the page may say it has stopped
                self._enabled.wait()
            self.parked = False
            try:
                p = self.upstream.pipeline(self.pipeline)
                if p.status() != "Running":
                    self.last_error = f"pipeline {self.pipeline!r} is not running"
                    time.sleep(1.0)
                    continue
                if self._next_id is None:
                    self._load(p)
                self._one(p)
                self.last_error = None
            except SluiceError as e:
                self.last_error = e.message
                time.sleep(1.0)
            except Exception as e:  # keep generating; say why it paused
                log.exception("demo generator")
                self.last_error = f"{type(e).__name__}: {e}"
                time.sleep(1.0)
            time.sleep(1.0 / self.rate)

    def _load(self, p) -> None:
        """The generator's own live orders (a restart finds them again by their ids)."""
        rows = list(p.query(f"SELECT order_id FROM orders WHERE order_id > {FIRST_ID} ORDER BY order_id"))
        self._live = deque(int(r["order_id"]) for r in rows)
        self._next_id = (self._live[-1] + 1) if self._live else FIRST_ID + 1

    def _one(self, p) -> None:
        r = self._rng.random()
        if len(self._live) > KEEP:
            oid = self._live.popleft()
            p.input_json("orders", {"delete": {"order_id": oid}}, update_format="insert_delete", wait=False)
        elif r < 0.25 and self._live:
            oid = self._rng.choice(list(self._live)[-20:])
            p.input_json("orders", self._order(oid), wait=False)  # same key: an upsert, shown as an update
        else:
            oid = self._next_id
            self._next_id += 1
            p.input_json("orders", self._order(oid), wait=False)
            self._live.append(oid)
        self.pushed += 1

    def _order(self, oid: int) -> dict:
        return {"order_id": oid, "customer_id": self._rng.randint(1, 5),
                "amount": f"{self._rng.choice([5, 12, 40, 75, 99, 120, 180, 250]) + self._rng.random():.2f}",
                "placed_at": datetime.now().strftime("%Y-%m-%d %H:%M:%S")}


__all__ = ["DemoGenerator"]
