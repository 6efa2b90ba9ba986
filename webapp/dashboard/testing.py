"""Running a real ``sluice dashboard`` (gunicorn) for tests, screenshots and measurements.

    with EngineProcess() as eng, DashboardProcess(eng.url) as dash:
        httpx.get(dash.url + "/healthz")

It listens on an ephemeral port (read from its output), keeps its log for failure messages, and is
stopped (SIGTERM, then SIGKILL) on exit. ``settings`` become ``SLUICE_*`` environment variables.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time

_URL_RE = re.compile(r"Sluice dashboard listening on (http://\S+?)/?\s")


class DashboardProcess:
    def __init__(self, upstream: str, *args: str, settings: dict | None = None, ready_timeout: float = 30.0):
        self.upstream = upstream
        self.args = list(args)
        self.settings = settings or {}
        self.ready_timeout = ready_timeout
        self.proc: subprocess.Popen | None = None
        self.url: str | None = None
        self._log: list[str] = []
        self._ready = threading.Event()

    @property
    def log(self) -> str:
        return "".join(self._log[-300:])

    @property
    def worker_pids(self) -> list[int]:
        """The gunicorn workers (children of the master)."""
        if self.proc is None:
            return []
        try:
            with open(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children") as f:
                return [int(p) for p in f.read().split()]
        except OSError:
            return []

    def start(self) -> "DashboardProcess":
        cmd = [sys.executable, "-m", "webapp.cli", "dashboard", "--port", "0", "--upstream", self.upstream, *self.args]
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        env.update({f"SLUICE_{k}": str(v) for k, v in self.settings.items()})
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                                     start_new_session=True)
        threading.Thread(target=self._pump, daemon=True).start()
        if not self._ready.wait(self.ready_timeout) or self.url is None:
            self.stop()
            raise RuntimeError(f"dashboard did not start; log:\n{self.log}")
        import httpx
        deadline = time.monotonic() + self.ready_timeout
        while True:
            try:
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.stop()
                raise RuntimeError(f"dashboard never answered /healthz; log:\n{self.log}")
            time.sleep(0.05)

    def _pump(self) -> None:
        assert self.proc and self.proc.stdout
        for line in self.proc.stdout:
            self._log.append(line)
            m = _URL_RE.search(line + " ")
            if m and self.url is None:
                self.url = m.group(1)
                self._ready.set()
        self._ready.set()

    def stop(self, timeout: float = 15.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        return self.proc.returncode

    def __enter__(self) -> "DashboardProcess":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


__all__ = ["DashboardProcess"]
