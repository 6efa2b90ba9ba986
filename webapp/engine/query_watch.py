"""Stopping ad-hoc queries that run past their time limit or whose client has gone away.

One daemon thread looks at every running query a few times a second and calls DuckDB's
``interrupt()`` on its cursor when the deadline has passed or ``gone()`` says the client left; the
query then fails with ``duckdb.InterruptException`` in the thread that runs it, and ``Watch.reason``
says why.
"""

from __future__ import annotations

import threading
import time
from typing import Callable

POLL_SECS = 0.1


class Watch:
    """One query under watch; ``reason`` is None, ``"timeout"`` or ``"gone"`` once it was interrupted."""

    def __init__(self, cur, timeout: float, gone: Callable[[], bool] | None, owner=None):
        self.cur = cur
        self.owner = owner
        self.timeout = timeout
        self.deadline = time.monotonic() + timeout if timeout > 0 else None
        self.gone = gone
        self.reason: str | None = None

    def check(self, now: float) -> bool:
        """Interrupt the query if it must stop; True the first time it is interrupted.

        The interruption is repeated at every look until the query ends: one that arrives before
        DuckDB has started executing is lost."""
        first = False
        if self.reason is None:
            if self.deadline is not None and now >= self.deadline:
                self.reason = "timeout"
            elif self.gone is not None and self.gone():
                self.reason = "gone"
            else:
                return False
            first = True
        self.cur.interrupt()
        return first


class Watchdog:
    """The thread that watches every running ad-hoc query; started with the first one."""

    def __init__(self):
        self._lock = threading.Lock()
        self._watches: set[Watch] = set()
        self._wake = threading.Condition(self._lock)
        self._thread: threading.Thread | None = None
        self.interrupted = 0  # queries stopped so far, for /metrics-style counting and tests

    def watch(self, cur, timeout: float, gone: Callable[[], bool] | None = None, owner=None) -> Watch:
        w = Watch(cur, timeout, gone, owner)
        with self._lock:
            self._watches.add(w)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="sluice-query-watchdog", daemon=True)
                self._thread.start()
            self._wake.notify()
        return w

    def running(self, owner) -> int:
        """How many queries of ``owner`` (a pipeline's database) are running now: the stats report it, so
        one can see that a cancelled or abandoned query let go."""
        with self._lock:
            return sum(1 for w in self._watches if w.owner is owner)

    def done(self, w: Watch) -> None:
        with self._lock:
            self._watches.discard(w)

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._watches:
                    self._wake.wait()
                watches = list(self._watches)
            now = time.monotonic()
            for w in watches:
                try:
                    stopped = w.check(now)
                except Exception:  # a cursor closed meanwhile: the query is over anyway
                    stopped = False
                if stopped:
                    with self._lock:
                        self.interrupted += 1
            time.sleep(POLL_SECS)


WATCHDOG = Watchdog()

__all__ = ["Watch", "Watchdog", "WATCHDOG"]
