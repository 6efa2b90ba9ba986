"""The sampler: every ``HISTORY_INTERVAL`` seconds, each pipeline's status and ``/stats`` into ``history.py``.

One sampler per dashboard, not per gunicorn worker: every worker starts one (``serve.py``, after the
fork), but only the one holding an exclusive ``flock`` on ``<STATE_DIR>/sampler.lock`` samples; the others
try again each interval, so another worker takes over when that one exits. Without a ``STATE_DIR`` each
worker keeps its own history in memory, and samples it itself.

Health events come from what changes between two looks: the deployment status (started, paused,
resumed, stopped), a new deployment error, a new incarnation of a running pipeline (restarted), a
pipeline that is no longer listed (deleted). The last event of each pipeline is read back from the store
after a dashboard restart, so a restart of the dashboard alone is not mistaken for one of the pipeline.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import time
from pathlib import Path

from webapp.client import SluiceError

from .history import History

log = logging.getLogger("sluice.dashboard.sampler")

STABLE = ("Running", "Paused", "Stopped")
_CHANGE = {("Paused", "Running"): "resumed", ("Running", "Paused"): "paused"}


def _now() -> int:
    return int(time.time() * 1000)


class Sampler:
    def __init__(self, upstream, history: History, interval: float, state_dir: str | None = None):
        self.upstream, self.history, self.interval = upstream, history, float(interval)
        self.lock_path = Path(state_dir) / "sampler.lock" if state_dir else None
        self._lock_fd: int | None = None
        self._seen: dict[str, dict] = {}
        self._started = False
        self._start_lock = threading.Lock()
        self._stop = threading.Event()
        self._problem: str | None = None

    # -- running ---------------------------------------------------------------------------------
    def ensure_started(self) -> None:
        """Start the sampling thread once per process (a greenlet under gevent)."""
        if self._started or self.interval <= 0:
            return
        with self._start_lock:
            if not self._started:
                self._started = True
                threading.Thread(target=self._run, name="sluice-sampler", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the lock: another worker may take over
            self._lock_fd = None

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if self.leads():
                    self.tick()
                self._problem = None
            except SluiceError as e:  # the server is down or refused: the next tick tries again
                if e.message != self._problem:  # said once, not every interval while it lasts
                    log.info("statistics not sampled: %s", e.message)
                self._problem = e.message
            except Exception:  # a sampling bug must not end sampling for good
                log.exception("statistics sampling failed")
            self._stop.wait(self.interval)

    def leads(self) -> bool:
        """Whether this process is the one that samples (holds the lock, taking it if free)."""
        if self.lock_path is None or self._lock_fd is not None:
            return True
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._lock_fd = fd
        return True

    # -- one look --------------------------------------------------------------------------------
    def tick(self, now: int | None = None) -> None:
        now = _now() if now is None else now
        listed = self.upstream.pipelines()
        names = set()
        for st in listed:
            name = st.get("name")
            if not name:
                continue
            names.add(name)
            incarnation = None
            if st.get("deployment_status") in ("Running", "Paused"):
                try:
                    stats = self.upstream.stats(name)
                except SluiceError:
                    stats = None  # stopping or stopped meanwhile
                if stats:
                    values, rels = measures(stats)
                    incarnation = values.get("incarnation")
                    self.history.add_sample(name, now, values, rels)
            self._observe(name, st, incarnation, now)
        for name in list(self._seen):
            if name not in names:
                if self._seen.pop(name).get("status") is not None:
                    self.history.add_event(name, now, "deleted")

    def _observe(self, name: str, st: dict, incarnation: str | None, now: int) -> None:
        prev = self._seen.get(name)
        if prev is None:
            last = self.history.last_event(name) or {}
            prev = {"status": last.get("status"), "error": last.get("detail") if last.get("kind") == "error" else None,
                    "incarnation": self.history.last_incarnation(name)}
        status = st.get("deployment_status")
        error = (st.get("deployment_error") or {}).get("message")
        cur = {"status": prev["status"], "error": prev["error"], "incarnation": prev["incarnation"]}
        if error and error != prev["error"]:
            self.history.add_event(name, now, "error", status, error)
        cur["error"] = error
        if status in STABLE and status != prev["status"]:
            kind = _CHANGE.get((prev["status"], status)) or ("stopped" if status == "Stopped" else "started")
            if prev["status"] is None and status == "Stopped":
                kind = "seen"  # first look at a pipeline that is not running: nothing happened yet
            self.history.add_event(name, now, kind, status)
            cur["status"] = status
        elif (status in ("Running", "Paused") and incarnation and prev["incarnation"]
              and incarnation != prev["incarnation"]):
            self.history.add_event(name, now, "restarted", status, "statistics and step numbers start again")
        if incarnation:
            cur["incarnation"] = incarnation
        self._seen[name] = cur


def measures(stats: dict) -> tuple[dict, dict]:
    """The columns of one sample and its per-table and per-view map, from a ``/stats`` answer."""
    gm = stats.get("global_metrics") or {}
    values = {"processed": gm.get("total_processed_records"), "input": gm.get("total_input_records"),
              "steps": gm.get("total_completed_steps"), "buffered": gm.get("buffered_input_records"),
              "latency_p99": (gm.get("step_latency_msecs") or {}).get("p99"), "memory": gm.get("rss_bytes"),
              "storage": gm.get("storage_bytes"), "incarnation": gm.get("incarnation_uuid")}
    tables: dict[str, list] = {}
    for inp in stats.get("inputs") or []:
        name = (inp.get("config") or {}).get("stream") or inp.get("endpoint_name")
        m = inp.get("metrics") or {}
        t = tables.setdefault(name, [0, 0])
        t[0] += m.get("total_records") or 0
        t[1] += m.get("buffered_records") or 0
    compute = gm.get("view_time_msecs") or {}
    views: dict[str, list] = {name: [0, ms] for name, ms in compute.items()}
    for out in stats.get("outputs") or []:
        if out.get("closed"):
            continue  # its count leaves the sum when it goes, which would read as a restart
        name = (out.get("config") or {}).get("stream") or out.get("endpoint_name")
        if name in tables:
            continue  # a materialized table watched as it changes: not a view
        v = views.setdefault(name, [0, None])
        v[0] += (out.get("metrics") or {}).get("transmitted_records") or 0
    return values, {"tables": tables, "views": views}


__all__ = ["Sampler", "measures"]
