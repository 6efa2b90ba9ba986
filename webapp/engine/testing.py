"""Running a real ``sluice engine`` process for tests and benchmarks.

    with EngineProcess(tmp_path) as eng:
        httpx.get(eng.url + "/v0/config")

The process listens on an ephemeral port (``--port 0``; the URL is read from its output), its log
is kept for failure messages, and it is stopped (SIGTERM, then SIGKILL) on exit.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

_URL_RE = re.compile(r"Sluice engine listening on (http://\S+)")


class EngineProcess:
    def __init__(self, data_dir: str | os.PathLike | None = None, *args: str, command: str = "engine",
                 env: dict | None = None, ready_timeout: float = 30.0):
        self._tmp = None
        if data_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="sluice-test-")
            data_dir = self._tmp.name
        self.data_dir = Path(data_dir)
        self.args = list(args)
        self.command = command
        self.env = env
        self.ready_timeout = ready_timeout
        self.proc: subprocess.Popen | None = None
        self.url: str | None = None
        self._log: list[str] = []
        self._ready = threading.Event()

    @property
    def log(self) -> str:
        return "".join(self._log[-400:])

    def start(self) -> "EngineProcess":
        port_flag = "--engine-port" if self.command == "up" else "--port"
        cmd = [sys.executable, "-m", "webapp.cli", self.command, port_flag, "0", "--data-dir", str(self.data_dir),
               *self.args]
        inherited = {k: v for k, v in os.environ.items() if k not in ("SLUICE_API_KEY", "SLUICE_FAULTS")}
        env = dict(inherited, PYTHONUNBUFFERED="1", **(self.env or {}))
        # A session of its own, so kill() can take the master and its worker down at once.
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                                     start_new_session=True)
        threading.Thread(target=self._pump, daemon=True).start()
        if not self._ready.wait(self.ready_timeout):
            self.stop()
            raise RuntimeError(f"engine did not start within {self.ready_timeout}s; log:\n{self.log}")
        if self.url is None:
            raise RuntimeError(f"engine exited before it was ready; log:\n{self.log}")
        # The worker imports the app after the master listens: wait until it answers.
        import httpx
        deadline = time.monotonic() + self.ready_timeout
        while True:
            try:
                if httpx.get(self.url + "/v0/config", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.stop()
                raise RuntimeError(f"engine never answered /v0/config; log:\n{self.log}")
            time.sleep(0.05)

    def _pump(self) -> None:
        assert self.proc and self.proc.stdout
        for line in self.proc.stdout:
            self._log.append(line)
            m = _URL_RE.search(line)
            if m and self.url is None:
                self.url = m.group(1)
                self._ready.set()
        self._ready.set()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def kill(self) -> None:
        """SIGKILL the whole process group (master and worker) at once, as a crash would."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # until the worker is gone too (it holds the data-dir lock)
            try:
                os.killpg(self.proc.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.02)

    def __enter__(self) -> "EngineProcess":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
        if self._tmp is not None:
            self._tmp.cleanup()


__all__ = ["EngineProcess"]
