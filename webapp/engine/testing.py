"""Running a real ``sluice engine`` process for tests and benchmarks.

    with EngineProcess(tmp_path) as eng:
        httpx.get(eng.url + "/v0/config")

The process listens on an ephemeral port (``--port 0``; the URL is read from its output), its log
is kept for failure messages, and it is stopped (SIGTERM, then SIGKILL) on exit. ``kill()`` is a
crash: SIGKILL to master and worker at once.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import httpx

from webapp._serving import ServedProcess


class EngineProcess(ServedProcess):
    url_pattern = re.compile(r"Sluice engine listening on (http://\S+)")
    ready_path = "/v0/config"
    what = "engine"

    def __init__(self, data_dir: str | os.PathLike | None = None, *args: str, command: str = "engine",
                 env: dict | None = None, ready_timeout: float = 30.0, split_output: bool = False):
        super().__init__(ready_timeout, split_output)
        self._tmp = None
        if data_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="sluice-test-")
            data_dir = self._tmp.name
        self.data_dir = Path(data_dir)
        self.args = list(args)
        self.command_name = command
        self.env = env
        self._clients: list[httpx.Client] = []

    def command(self) -> list[str]:
        port_flag = "--engine-port" if self.command_name == "up" else "--port"
        return [self.command_name, port_flag, "0", "--data-dir", str(self.data_dir), *self.args]

    def environment(self) -> dict:
        # A key or a fault plan in the test runner's environment must not leak into every engine.
        inherited = {k: v for k, v in os.environ.items() if k not in ("SLUICE_API_KEY", "SLUICE_FAULTS")}
        return dict(inherited, PYTHONUNBUFFERED="1", **(self.env or {}))

    def client(self, timeout: float = 30) -> httpx.Client:
        """An httpx client on ``url + "/v0"``, closed when this process is stopped or killed."""
        c = httpx.Client(base_url=self.url + "/v0", timeout=timeout)
        self._clients.append(c)
        return c

    def _close_clients(self) -> None:
        while self._clients:
            self._clients.pop().close()

    def stop(self, *args, **kw):
        self._close_clients()
        return super().stop(*args, **kw)

    def kill(self) -> None:
        self._close_clients()
        super().kill()

    def kill_master(self) -> None:
        self._close_clients()
        super().kill_master()

    def __exit__(self, *exc) -> None:
        self.stop()
        if self._tmp is not None:
            self._tmp.cleanup()


def wait_until(condition, timeout: float = 10.0, what: str = "the condition", interval: float = 0.02, *,
               ignore: tuple[type[BaseException], ...] = (), detail=None):
    """Call ``condition()`` until it returns something true and return that; fail naming ``what`` once
    ``timeout`` seconds have passed. Tests await a state with this instead of sleeping a fixed time.

    ``ignore``: exceptions that count as "not yet" (a server that is down while it restarts);
    ``detail()``: text added to the failure (a process's log)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = condition()
        except ignore:
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            more = f"\n{detail()}" if detail is not None else ""
            raise AssertionError(f"timed out after {timeout} s waiting for {what}{more}")
        time.sleep(interval)


def wait_status(http, pipeline: str, status: str, timeout: float = 20.0) -> dict:
    """Wait until ``pipeline``'s ``deployment_status`` is ``status`` (``http``: an httpx client on ``.../v0``);
    returns the status object."""
    def reached():
        st = http.get(f"/pipelines/{pipeline}", params={"selector": "status"}).json()
        return st if st.get("deployment_status") == status else None
    return wait_until(reached, timeout, f"pipeline {pipeline} to be {status}", interval=0.05)


def wait_processed(http, pipeline: str, token: str, timeout: float = 60.0) -> dict:
    """Wait until the input behind completion ``token`` is processed; returns the completion status."""
    def complete():
        r = http.get(f"/pipelines/{pipeline}/completion_status", params={"token": token})
        assert r.status_code == 200, r.text
        return r.json() if r.json()["status"] == "complete" else None
    return wait_until(complete, timeout, f"pipeline {pipeline} to process the input of token {token}",
                      interval=0.01)


def push_and_wait(http, pipeline: str, table: str, records: list[dict]) -> None:
    """POST ``records`` (insert/delete events) to a table's ingress through ``http`` (an httpx client
    on ``.../v0``) and wait until the pipeline has processed them."""
    r = http.post(f"/pipelines/{pipeline}/ingress/{table}", params={"format": "json", "update_format": "insert_delete"},
                  content="\n".join(json.dumps(x) for x in records))
    assert r.status_code == 200, r.text
    wait_processed(http, pipeline, r.json()["token"])


def query_rows(http, pipeline: str, sql: str) -> list[dict]:
    """The rows of an ad-hoc query (``format=json``) as dicts, read as Feldera's client reads them: a number
    with a fraction is a ``Decimal`` with every digit."""
    r = http.get(f"/pipelines/{pipeline}/query", params={"sql": sql, "format": "json"})
    assert r.status_code == 200, r.text
    return [json.loads(x, parse_float=Decimal) for x in r.text.splitlines()]


__all__ = ["EngineProcess", "push_and_wait", "query_rows", "wait_processed", "wait_status", "wait_until"]
